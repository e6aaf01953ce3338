"""What clients and held threads do, in the model file: synchronous calls, pools,
timeouts, retries with back-off and budgets, hedged requests, patience and balking.

A component with ``calls:`` keeps its server (a thread) while its calls to other
components run; ``pools:`` are named finite resources held for a call or for a whole
visit. An open class (a client) or a call (a hop) may give up after a ``timeout``,
``retries`` with back-off, and ``hedge`` (send a second copy after a delay). A queue's
``patience`` makes waiting jobs leave (reneging); ``balk`` makes arrivals not join.

>>> from qmodel import Model
>>> m = Model.from_dict({
...     "nodes": {"app": {"kind": "queue", "servers": 8, "service": "2ms",
...                       "calls": [{"to": "db", "count": 2, "pool": "conn"}]},
...               "db": {"kind": "queue", "servers": 4, "service": "3ms"}},
...     "pools": {"conn": {"size": 6}},
...     "arrivals": {"web": {"to": "app", "rate": "100/s", "timeout": "50ms",
...                          "retries": {"max": 2, "backoff": {"base": "10ms"}}}}})
>>> sorted(m.network.behaviours)
['calls', 'pools', 'retries', 'timeouts']
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo

from ..errors import shown
from .field_types import (
    MAX_SERVERS,
    NAME_PATTERN,
    Dist,
    Duration,
    NonNegDuration,
    PositiveInt,
    Probability,
    Rate,
    Strict,
    _duration,
    _schema,
)

MAX_RETRIES = 100
"""The most retries of one request."""
MAX_CALLS = 1_000
"""The most calls one visit makes to one component."""
MAX_CALLS_PER_VISIT = 100_000
"""The most calls one visit may set off, its calls' own calls included (each at its
``count``): a hundred calls entries of the most calls each, or a chain of fan-outs that
multiplies to as many. A simulation runs every one."""
QUANTILE = re.compile(r"^\s*p(\d{1,2}(?:\.\d+)?)\s*$")
"""A quantile written as a person says it: ``p95``, ``p99.9``."""


class Pool(Strict):
    """A named finite resource (connections, locks, licences): ``size`` units, and a FIFO
    wait queue for the jobs that find them all taken (they keep what they already hold)."""

    size: PositiveInt = Field(le=MAX_SERVERS)
    label: str | None = Field(default=None, description="Display name.")


class Backoff(Strict):
    """Wait before retry k (k = 1, 2, …): ``min(cap, base × factor^(k-1))``, then jitter:
    ``none`` (exactly that), ``full`` (uniform on [0, that]) or ``equal`` (half of it plus
    uniform on [0, half])."""

    base: NonNegDuration = Field(default=0.0, description="Wait before the first retry.")
    factor: float = Field(default=2.0, ge=1, le=100, allow_inf_nan=False,
                          description="Growth of the wait per retry.")
    cap: Duration | None = Field(default=None, description="The longest wait.")
    jitter: Literal["none", "full", "equal"] = "none"


class RetryBudget(Strict):
    """Retries allowed only while they are at most ``ratio`` of first attempts (over the
    last ``window``), plus ``min`` per second (Finagle's and gRPC's retry budget)."""

    ratio: Probability = Field(description="Retries per first attempt, e.g. 0.1.")
    min: Rate | None = Field(default=None, description="Retries per second always allowed.")
    window: Duration = Field(default=10.0, description="How far back attempts are counted.")


class Retries(Strict):
    """Send a request again when an attempt times out or is rejected, up to ``max`` times."""

    max: int = Field(ge=0, le=MAX_RETRIES, description="Retries after the first attempt.")
    backoff: Backoff | None = Field(default=None, description="Wait before each retry "
                                                               "(default: none).")
    budget: RetryBudget | None = None
    when: list[Literal["timeout", "reject"]] = Field(
        default=["timeout", "reject"], min_length=1, max_length=2,
        description="What a retry follows: a timeout, a rejection (a full capacity).")


def _hedge_after(value: Any, info: ValidationInfo) -> float | str:
    """A delay (``10ms``) or a quantile of the response time without hedging (``p95``)."""
    if isinstance(value, str) and value.strip().startswith("p"):
        match = QUANTILE.match(value)
        if match is None or not 0 < float(match.group(1)) < 100:
            raise ValueError("must be a delay (10ms) or a quantile between p0 and p100 "
                             f"(p95, p99.9), got {shown(value)}")
        return value.strip()
    return _duration(value, info)


HedgeAfter = Annotated[float | str, BeforeValidator(_hedge_after), _schema({
    "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}],
    "description": "A delay (10ms) or a quantile of the unhedged response time (p95)."})]


class Hedge(Strict):
    """Send another copy of a request still unanswered ``after`` a delay (or at a quantile
    of the response time); the first answer wins. ``cancel``: the other copies are
    withdrawn then (otherwise they run to the end: wasted work)."""

    after: HedgeAfter
    copies: PositiveInt = Field(default=1, le=10, description="Extra copies at most.")
    cancel: bool = True


class ClientFields(Strict):
    """How a caller waits: ``timeout`` (gives up; ``on_timeout: continue`` leaves the
    server working on the abandoned attempt — wasted work — ``cancel`` withdraws it),
    ``retries`` and ``hedge``."""

    timeout: Duration | None = Field(default=None, description="The caller gives up on an "
                                                                "attempt after this long.")
    on_timeout: Literal["continue", "cancel"] = Field(
        default="continue", description="What the server does with an abandoned attempt: "
                                        "finish it (wasted work) or cancel it.")
    retries: Retries | None = None
    hedge: Hedge | None = None

    @property
    def is_client(self) -> bool:
        """True when the caller gives up, retries or hedges at all."""
        return self.timeout is not None or self.retries is not None or self.hedge is not None

    @property
    def most_attempts(self) -> int:
        """The most copies of one request the caller can send: (1 + retries) attempts of
        (1 + hedged copies) each.

        >>> ClientFields(retries={"max": 3}, hedge={"after": 0.1, "copies": 2}).most_attempts
        12
        """
        retries = self.retries.max if self.retries is not None else 0
        copies = self.hedge.copies if self.hedge is not None else 0
        return (1 + retries) * (1 + copies)


class Call(ClientFields):
    """A synchronous call made during a visit: the caller keeps its server until the call
    returns (or times out). ``count`` calls, each visit with ``probability``."""

    to: Annotated[str, Field(pattern=NAME_PATTERN)]
    count: PositiveInt = Field(default=1, le=MAX_CALLS, description="Calls per visit.")
    probability: Probability = Field(default=1.0, description="Share of visits that make "
                                                              "the calls.")
    pool: str | None = Field(default=None, description="A pool held during each call.")

    @property
    def mean_count(self) -> float:
        return self.count * self.probability


class Balk(Strict):
    """Arrivals that do not join: every one finding ``above`` or more jobs waiting, or,
    with ``probabilities``, a share p[n] of those finding n waiting join (the last value
    holds beyond the list)."""

    above: PositiveInt | None = Field(default=None, le=1_000_000,
                                      description="Waiting jobs at which arrivals balk.")
    probabilities: list[Probability] | None = Field(
        default=None, min_length=1, max_length=10_000,
        description="Probability of joining when n jobs wait (n = 0, 1, …).")

    def joins(self, waiting: int) -> float:
        """The probability that an arrival finding ``waiting`` jobs in queue joins.

        >>> Balk(above=2).joins(1), Balk(above=2).joins(2)
        (1.0, 0.0)
        >>> Balk(probabilities=[1, 0.5]).joins(7)
        0.5
        """
        if self.above is not None and waiting >= self.above:
            return 0.0
        if self.probabilities is not None:
            return float(self.probabilities[min(waiting, len(self.probabilities) - 1)])
        return 1.0


class HeldFields(Strict):
    """The fields of a queue that holds its server through calls, uses pools, and whose
    waiting jobs may renege or balk."""

    calls: list[Call] = Field(default_factory=list, max_length=100, description=(
        "Synchronous calls made after `service` (the server is held until they return), "
        "then `service_after`."))
    call_order: Literal["sequence", "parallel"] = Field(
        default="sequence", description="Calls one after another, or all at once (the "
                                        "visit waits for the last).")
    service_after: Dist | None = Field(default=None, description=(
        "Own work after the calls return (the server is still held)."))
    pool: str | None = Field(default=None, description="A pool held for the whole visit "
                                                      "(acquired before service starts).")
    patience: Dist | None = Field(default=None, description=(
        "How long a job waits in queue before it leaves (reneging)."))
    balk: Balk | None = None

