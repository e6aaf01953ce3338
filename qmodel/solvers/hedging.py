"""Hedged requests by order statistics ("The Tail at Scale", Dean & Barroso 2013): if
no answer has come ``d`` after a request was sent, a second copy is sent and the first
answer is taken, so the response is ``T = min(R1, d + R2)``.

With ``R1``, ``R2`` independent with survival function ``S``, EXACTLY

    P(T > t) = S(t) S(t - d)          (S = 1 below 0),

and its mean and quantiles come from that survival function (adaptive Gauss-Legendre
and bisection, :mod:`.time_laws`). Independence is the assumption: copies go to
different replicas, or the station's state changes fast compared to ``d``.

The extra load (work of the copies, as a fraction of one request's work):
- copies NOT cancelled: each copy does a full request's work, ``P(R > d)``; exact;
- copies CANCELLED when the first answer comes (and the original cancelled if the copy
  wins), counting time in system as work (exact when the response is all service, e.g.
  a replica with no queue): ``(E[T] + E[(T - d)^+]) / E[R] - 1``; negative when
  cancelling slow originals saves more work than the copies cost.

:func:`hedge_mmc` closes the loop on an M/M/c station: the copies raise its arrival rate
to ``lam (1 + P(R > d))`` and the response law ``R`` is that of the loaded station (the
smallest fixed point, copies not cancelled).
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
    """A hedged response: ``T = min(R1, delay + R2)`` and what the copies cost."""

    law: TimeLaw  # of one copy's response R
    delay: float
    cancel: bool
    method: str = METHOD

    @cached_property
    def hedged(self) -> TimeLaw:
        """The law of ``T``: survival ``S(t) S(t - d)``."""
        base, d = self.law, self.delay
        return TimeLaw(lambda t: base.sf(t) * base.sf(t - d),
                       np.unique(np.concatenate([base.points, base.points + d, [d]])),
                       base.scale)

    @cached_property
    def p_hedge(self) -> float:
        """Fraction of requests that send a copy, ``P(R > d)``."""
        return float(self.law.sf(np.array([self.delay]))[0])

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
            return self.p_hedge
        head = _mean(TimeLaw(lambda t: self.law.sf(t) * (t < self.delay),
                             np.append(self.law.points, self.delay), self.law.scale))
        after_copy = self.mean - head  # E[(T - d)^+]: the copy runs from d to T
        return (self.mean + after_copy) / self.mean_unhedged - 1.0

    def sf(self, t: ArrayLike) -> NDArray:
        return self.hedged.sf(np.asarray(t, dtype=float))

    def quantiles(self, probs: tuple[float, ...] = PROBS) -> dict[float, float]:
        return dict(zip(probs, (float(x) for x in quantiles(self.hedged, probs))))

    def unhedged_quantiles(self, probs: tuple[float, ...] = PROBS) -> dict[float, float]:
        return dict(zip(probs, (float(x) for x in quantiles(self.law, probs))))


def hedge(response: TimeLike | ArrayLike, after: float | str,
          cancel: bool = False) -> Hedge:
    """Hedge a response-time law (a :class:`~qmodel.distributions.Distribution`, a
    ``cdf(t)`` callable or a sample of times) after ``after`` (seconds or ``"p95"``).

    >>> from qmodel.distributions import Exponential
    >>> h = hedge(Exponential(1.0), after=1.0)   # mean (1 - e^-d) + e^-d / 2
    >>> round(h.mean, 9), round(1 - math.exp(-1) / 2, 9), round(h.extra_load, 6)
    (0.816060279, 0.816060279, 0.367879)
    """
    law = _law(response)
    return Hedge(law, delay_of(law, after), bool(cancel))


@dataclass(frozen=True, eq=False)
class LoadedHedge:
    """Hedging on an M/M/c station whose copies add to its load."""

    hedge: Hedge
    lam: float
    lam_total: float
    utilization: float


def hedge_mmc(lam: float, c: int, mean_service: float, after: float | str,
              grid: int = 64) -> LoadedHedge:
    """Hedged requests on one M/M/c FCFS station, copies not cancelled: the smallest
    solution of ``x = lam (1 + P_x(R > d))`` (the station loaded at ``x``), with ``d``
    fixed or a quantile of the loaded ``R``.

    Raises :class:`~qmodel.errors.UnstableError` when the copies push the load to 1.

    >>> h = hedge_mmc(lam=5.0, c=10, mean_service=1.0, after="p95")   # 5% copies
    >>> round(h.lam_total, 6), round(h.utilization, 6)
    (5.25, 0.525)
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
    if isinstance(after, str):  # d is the q-quantile of the loaded R: P(R > d) = 1 - q
        delay_of(response(lam), after)  # checks the spelling
        x = lam * (2.0 - float(after.strip()[1:]) / 100)
        if x >= capacity:
            raise UnstableError(x / capacity, detail="the hedged copies saturate the station")
    else:
        d = delay_of(response(lam), after)

        def gap(x: float) -> float:
            return lam * (1.0 + float(response(x).sf(np.array([d]))[0])) - x

        top = min(2.0 * lam, capacity * (1.0 - 1e-9))
        xs = np.linspace(lam, top, grid)
        gs = np.array([gap(x) for x in xs])
        cross = np.flatnonzero(gs[:-1] * gs[1:] <= 0)
        if not cross.size:  # lam (1 + P(R > d)) stays above every load short of capacity
            raise UnstableError(top / capacity, detail="the hedged copies saturate the station")
        i = int(cross[0])
        x = xs[i] if gs[i] == 0 else brentq(gap, xs[i], xs[i + 1], xtol=1e-12 * top)
    return LoadedHedge(hedge(response(x), after), lam, float(x), float(x) / capacity)
