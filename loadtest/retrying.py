"""Back-off and retry budgets as the model file defines them (``retries:`` of an open
class or of a call), shared by the load generator's clients and the reference system's
calls. Plain Python and no event loop: locust (gevent) and the system (asyncio) both use
it. Durations are in seconds.

>>> backoff_delay({"base": 0.01, "factor": 2, "cap": 0.03, "jitter": "none"}, 3)
0.03
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any


def backoff_delay(backoff: dict[str, Any] | None, retry: int,
                  rng: random.Random | None = None) -> float:
    """The wait before retry ``retry`` (1, 2, …): ``min(cap, base × factor^(retry-1))``,
    then jitter ``none`` (that), ``full`` (uniform on [0, that]) or ``equal`` (half of it
    plus uniform on [0, half]); no back-off (None) waits nothing.

    >>> backoff_delay({"base": 0.01, "factor": 2, "cap": None, "jitter": "none"}, 2)
    0.02
    >>> 0.01 <= backoff_delay({"base": 0.02, "jitter": "equal"}, 1, random.Random(1)) <= 0.02
    True
    """
    if not backoff:
        return 0.0
    wait = backoff.get("base", 0.0) * backoff.get("factor", 2.0) ** (retry - 1)
    if backoff.get("cap") is not None:
        wait = min(wait, backoff["cap"])
    jitter = backoff.get("jitter", "none")
    rng = rng or random
    if jitter == "full":
        return rng.uniform(0.0, wait)
    if jitter == "equal":
        return wait / 2 + rng.uniform(0.0, wait / 2)
    return wait


class RetryBudget:
    """Retries allowed while those of the last ``window`` seconds stay under ``ratio``
    of the first attempts of that window plus ``min_rate`` per second (Finagle's and
    gRPC's retry budget). ``None`` as the spec: every retry is allowed.

    >>> b = RetryBudget({"ratio": 0.5, "min": None, "window": 10.0})
    >>> for t in range(4):
    ...     b.first(t)
    >>> [b.allow(4.0), b.allow(4.1), b.allow(4.2)]
    [True, True, False]
    """

    def __init__(self, spec: dict[str, Any] | None):
        self.spec = spec
        self._firsts: deque[float] = deque()
        self._retries: deque[float] = deque()

    def first(self, now: float) -> None:
        """Count a first attempt at ``now`` (seconds, any clock)."""
        if self.spec is not None:
            self._firsts.append(now)

    def allow(self, now: float) -> bool:
        """Whether a retry may be sent at ``now``; if so it is counted."""
        if self.spec is None:
            return True
        window = self.spec.get("window") or 10.0
        for times in (self._firsts, self._retries):
            while times and times[0] < now - window:
                times.popleft()
        allowed = self.spec["ratio"] * len(self._firsts) + (self.spec.get("min") or 0.0) * window
        if len(self._retries) + 1 > allowed:
            return False
        self._retries.append(now)
        return True


def client_spec(client: Any) -> dict[str, Any] | None:
    """A class's or a call's client fields (``ClientFields``) as plain data in seconds
    (``hedge.after`` stays a quantile such as ``"p95"`` until it is resolved); None when
    the caller waits for ever.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"a": {"kind": "delay", "service": "5ms"}},
    ...     "arrivals": {"web": {"to": "a", "rate": "10/s", "timeout": "20ms"}}})
    >>> client_spec(m.network.classes[0].client)["timeout"]
    0.02
    """
    if client is None:
        return None
    return client.model_dump(include={"timeout", "on_timeout", "retries", "hedge"})
