"""Hedged requests by order statistics ("The Tail at Scale", Dean & Barroso 2013): if
no answer has come ``d`` after a request was sent, a second copy is sent (and, with ``k``
copies, another every ``d`` while none has answered) and the first answer is taken, so
the response is ``T = min(R0, d + R1, ..., k d + Rk)``.

With the ``Rj`` independent with survival function ``S``, EXACTLY

    P(T > t) = S(t) S(t - d) ... S(t - k d)          (S = 1 below 0),

and its mean and quantiles come from that survival function (adaptive Gauss-Legendre
and bisection, :mod:`.time_laws`). Independence is the assumption: copies go to
different replicas, or the station's state changes fast compared to ``d``.

The extra load (work of the copies, as a fraction of one request's work):
- copies NOT cancelled: each copy sent does a full request's work; copy ``j`` is sent
  when none of the first ``j`` has answered by ``j d``, with probability ``S(d) S(2d)
  ... S(j d)``; exact;
- copies CANCELLED when the first answer comes (the original too if a copy wins),
  counting time in system as work (exact when the response is all service, e.g. a
  replica with no queue): ``(E[T] + sum_j E[(T - j d)^+]) / E[R] - 1``; negative when
  cancelling slow originals saves more work than the copies cost.

:func:`hedge_mmc` closes the loop on an M/M/c station: the copies raise its arrival rate
to ``lam (1 + extra load)`` and the response law ``R`` is that of the loaded station (the
smallest fixed point, copies not cancelled); when ``lam (1 + k)`` reaches the capacity a
saturated state, where every request sends all its copies, exists too (metastable).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq

from qmodel.distributions import Distribution, Empirical
from qmodel.errors import FieldError, UnstableError

from .retry_fixed_point import MMcTimeouts
from .time_laws import TimeLaw, TimeLike, moments, quantiles, time_law

PROBS = (0.5, 0.95, 0.99, 0.999)
METHOD = "exact: order statistics of independent copies, min(R1, d + R2)"
_QUANTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


def _law(response: TimeLike | TimeLaw | ArrayLike) -> TimeLaw:
    if isinstance(response, (Distribution, TimeLaw)) or callable(response):
        return time_law(response)
    sample = np.asarray(response, dtype=float).reshape(-1)
    if sample.size == 0 or np.any(~np.isfinite(sample) | (sample < 0)):
        raise FieldError("response", "a sample must hold finite times >= 0, at least one")
    return time_law(Empirical(tuple(sample)))


def _mean(law: TimeLaw) -> float:
    return float(moments(law, (1,))[0])


def delay_of(law: TimeLaw, after: float | str) -> float:
    """The hedging delay: ``after`` in seconds, or a quantile of ``R`` written ``"p95"``,
    ``"p99.9"``.

    >>> from qmodel.distributions import Exponential
    >>> round(delay_of(time_law(Exponential(1.0)), "p95"), 6)    # -ln(0.05)
    2.995732
    """
    if isinstance(after, str):
        m = _QUANTILE.match(after.strip())
        if not m or not 0 < float(m.group(1)) < 100:
            raise FieldError("after", f"must be a delay or a quantile like 'p95', got {after!r}")
        return float(quantiles(law, [float(m.group(1)) / 100])[0])
    d = float(after)
    if not (math.isfinite(d) and d >= 0):
        raise FieldError("after", f"must be a finite delay >= 0, got {d}")
    return d


@dataclass(frozen=True, eq=False)
class Hedge:
    """A hedged response: ``T = min(R0, d + R1, ..., k d + Rk)`` and what the copies
    cost."""

    law: TimeLaw  # of one copy's response R
    delay: float
    cancel: bool
    copies: int = 1
    method: str = METHOD

    @cached_property
    def _starts(self) -> NDArray:
        return self.delay * np.arange(self.copies + 1)

    @cached_property
    def hedged(self) -> TimeLaw:
        """The law of ``T``: survival ``S(t) S(t - d) ... S(t - k d)``."""
        base, starts = self.law, self._starts

        def sf(t: NDArray) -> NDArray:
            t = np.asarray(t, dtype=float)
            return np.prod([base.sf(t - s) for s in starts], axis=0)

        points = np.concatenate([base.points + s for s in starts] + [starts[1:]])
        return TimeLaw(sf, np.unique(points), base.scale)

    @cached_property
    def p_copies(self) -> NDArray:
        """``P(copy j is sent) = S(d) S(2d) ... S(j d)``, ``j = 1..k``."""
        return np.cumprod(self.law.sf(self._starts[1:]))

    @property
    def p_hedge(self) -> float:
        """Fraction of requests that send a copy, ``P(R > d)``."""
        return float(self.p_copies[0])

    @cached_property
    def mean(self) -> float:
        return _mean(self.hedged)

    @cached_property
    def mean_unhedged(self) -> float:
        return _mean(self.law)

    @cached_property
    def extra_load(self) -> float:
        """Work of the copies over one request's work (see the module's note)."""
        if not self.cancel:
            return float(self.p_copies.sum())
        work = self.mean
        for start in self._starts[1:]:  # copy j runs from j d to T: E[(T - j d)^+]
            head = _mean(TimeLaw(lambda t, a=start: self.hedged.sf(t) * (t < a),
                                 np.append(self.hedged.points, start), self.law.scale))
            work += self.mean - head
        return work / self.mean_unhedged - 1.0

    def sf(self, t: ArrayLike) -> NDArray:
        return self.hedged.sf(np.asarray(t, dtype=float))

    def quantiles(self, probs: tuple[float, ...] = PROBS) -> dict[float, float]:
        return dict(zip(probs, (float(x) for x in quantiles(self.hedged, probs))))

    def unhedged_quantiles(self, probs: tuple[float, ...] = PROBS) -> dict[float, float]:
        return dict(zip(probs, (float(x) for x in quantiles(self.law, probs))))


def hedge(response: TimeLike | ArrayLike, after: float | str, cancel: bool = False,
          copies: int = 1) -> Hedge:
    """Hedge a response-time law (a :class:`~qmodel.distributions.Distribution`, a
    ``cdf(t)`` callable or a sample of times) after ``after`` (seconds or ``"p95"``),
    with up to ``copies`` copies, one every ``after``.

    >>> from qmodel.distributions import Exponential
    >>> h = hedge(Exponential(1.0), after=1.0)   # mean (1 - e^-d) + e^-d / 2
    >>> round(h.mean, 9), round(1 - math.exp(-1) / 2, 9), round(h.extra_load, 6)
    (0.816060279, 0.816060279, 0.367879)
    """
    if isinstance(copies, bool) or not float(copies).is_integer() or copies < 1:
        raise FieldError("copies", f"must be an integer >= 1, got {copies}")
    law = _law(response)
    return Hedge(law, delay_of(law, after), bool(cancel), int(copies))


@dataclass(frozen=True, eq=False)
class LoadedHedge:
    """Hedging on an M/M/c station whose copies add to its load."""

    hedge: Hedge
    lam: float
    lam_total: float
    capacity: float

    @property
    def utilization(self) -> float:
        return self.lam_total / self.capacity

    @property
    def metastable(self) -> bool:
        """A second, saturated state exists too: once the queue is longer than the delay
        every request sends all its copies, and ``lam (1 + copies)`` reaches the capacity
        (the same storm as retries make, :mod:`.retry_fixed_point`)."""
        return self.lam * (1 + self.hedge.copies) >= self.capacity


def hedge_mmc(lam: float, c: int, mean_service: float, after: float | str,
              copies: int = 1, grid: int = 64) -> LoadedHedge:
    """Hedged requests on one M/M/c FCFS station, copies not cancelled: the smallest
    solution of ``x = lam (1 + extra load at x)`` (the station loaded at ``x``), with
    ``d`` fixed or a quantile of ``R`` without hedging (as the model format defines it).

    Raises :class:`~qmodel.errors.UnstableError` when the copies push the load to 1.

    >>> h = hedge_mmc(lam=5.0, c=10, mean_service=1.0, after="p95")   # about 5% copies
    >>> round(h.lam_total, 4), round(h.hedge.p_hedge, 4), h.metastable  # 5 x 2 >= 10
    (5.2509, 0.0502, True)
    """
    for name, x in (("lam", lam), ("mean_service", mean_service)):
        if not (math.isfinite(float(x)) and float(x) > 0):
            raise FieldError(name, f"must be a finite number > 0, got {x}")
    if isinstance(c, bool) or not float(c).is_integer() or c < 1:
        raise FieldError("c", f"must be an integer >= 1, got {c}")
    lam, mu = float(lam), 1.0 / float(mean_service)
    capacity = c * mu

    station = MMcTimeouts(c, 1.0 / mu)

    def response(x: float) -> TimeLaw:  # the closed-form M/M/c response-time tail
        return TimeLaw(lambda t: station.sf(np.full(np.shape(t), x), t), np.empty(0), 1.0 / mu)

    if lam >= capacity:
        raise UnstableError(lam / capacity)
    d = delay_of(response(lam), after)  # a quantile of R without the copies' load

    def gap(x: float) -> float:
        return lam * (1.0 + hedge(response(x), d, copies=copies).extra_load) - x

    top = min((1.0 + copies) * lam, capacity * (1.0 - 1e-9))
    xs = np.linspace(lam, top, grid)
    gs = np.array([gap(x) for x in xs])
    cross = np.flatnonzero(gs[:-1] * gs[1:] <= 0)
    if not cross.size:  # lam (1 + extra load) stays above every load short of capacity
        raise UnstableError(top / capacity, detail="the hedged copies saturate the station")
    i = int(cross[0])
    x = xs[i] if gs[i] == 0 else brentq(gap, xs[i], xs[i + 1], xtol=1e-12 * top)
    return LoadedHedge(hedge(response(x), d, copies=copies), lam, float(x), capacity)
