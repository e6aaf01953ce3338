"""Client timeouts and retries as a fixed point on the effective arrival rate, with
EVERY solution reported: two stable ones at the same offered load is the metastable
region of a retry storm (Bronson et al., HotOS 2021; Huang et al., OSDI 2022).

Requests arrive at ``lam0``; an attempt that gets no answer within ``timeout`` is
retried at once, up to ``max_retries`` times; a retry budget caps retries at a fraction
``budget`` of first attempts (Finagle/gRPC retry budgets, here as a cap on the mean).
If each attempt times out with probability ``p`` and attempts are independent, one
request makes ``A(p) = 1 + p + ... + p^m`` attempts on average (``min(A, 1 + budget)``
with a budget), so the station sees ``lam = lam0 A(p(lam))``. The fixed points of this
map on ``[lam0, lam0 A_max]`` are found by a grid and ``brentq`` on each sign change; a
fixed point is STABLE when the map's slope there is below 1. When servers keep working
on timed-out attempts (wasted work), the offered load ``lam S / c`` reaches 1, every
attempt times out (``p = 1``), and ``lam0 A_max`` is itself a fixed point when it is
overloaded: the saturated state.

Method: a mean-value fixed point (attempts independent, arrivals Poisson at the
effective rate) on the station's EXACT (M/M/c) or approximate (M/G/c, cancellation)
timeout probability. Back-off and jitter change how fast the system moves between the
states, not the states: they do not enter here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Protocol, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import brentq

from qmodel.errors import FieldError

from .erlang_a import erlang_a
from .mmc import erlang_c_values
from .phase_type import PhaseType, fit_two_moments

_GRID = 400
_GL_X, _GL_W = np.polynomial.legendre.leggauss(48)


class TimeoutStation(Protocol):
    """What the fixed point needs of a station: the probability that an attempt gets no
    answer within ``timeout`` at attempt rate ``lam``, and the mean time of the
    attempts answered in time."""

    capacity: float  # the largest attempt rate the servers can complete
    method: str

    def p_timeout(self, lam: NDArray, timeout: float) -> NDArray: ...

    def mean_in_time(self, lam: NDArray, timeout: float) -> NDArray: ...

    def with_servers(self, c: int) -> TimeoutStation: ...


def _check(name: str, x: float, *, zero: bool = False) -> float:
    x = float(x)
    if not (math.isfinite(x) and (x >= 0 if zero else x > 0)):
        raise FieldError(name, f"must be a finite number {'>=' if zero else '>'} 0, got {x}")
    return x


def _count(name: str, n: int, least: int) -> int:
    if isinstance(n, bool) or not float(n).is_integer() or n < least:
        raise FieldError(name, f"must be an integer >= {least}, got {n}")
    return int(n)


def _in_time_mean(sf, lam: NDArray, timeout: float, p: NDArray) -> NDArray:
    """``E[R | R <= timeout] = (int_0^tau P(R > t) dt - tau p) / (1 - p)`` by 48-point
    Gauss-Legendre."""
    t = 0.5 * timeout * (_GL_X + 1.0)
    area = 0.5 * timeout * (sf(lam[:, None], t[None, :]) @ _GL_W)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p < 1.0, (area - timeout * p) / (1.0 - p), np.nan)


@dataclass(frozen=True)
class _Servers:
    """``c`` servers of mean service ``mean_service``: what every station law shares."""

    c: int
    mean_service: float

    def __post_init__(self):
        _count("c", self.c, 1)
        _check("mean_service", self.mean_service)

    @property
    def capacity(self) -> float:
        return self.c / self.mean_service

    def with_servers(self, c: int) -> Self:
        return replace(self, c=c)


@dataclass(frozen=True)
class MMcTimeouts(_Servers):
    """M/M/c FCFS whose servers finish every attempt, timed out or not: EXACT
    ``P(R > timeout)`` (Erlang-C wait convolved with the exponential service).

    >>> s = MMcTimeouts(c=1, mean_service=1.0)      # M/M/1: R ~ Exp(mu - lam)
    >>> round(float(s.p_timeout(np.array([0.5]), 2.0)[0]), 9) == round(math.exp(-1.0), 9)
    True
    """

    method: str = "exact: M/M/c FCFS response-time tail"

    def sf(self, lam: NDArray, t: NDArray) -> NDArray:
        """``P(R > t)`` at attempt rate ``lam`` (1 where the station is overloaded)."""
        mu = 1.0 / self.mean_service
        lam, t = np.broadcast_arrays(np.asarray(lam, dtype=float), np.asarray(t, dtype=float))
        stable = lam < self.capacity
        p_wait = np.nan_to_num(erlang_c_values(self.c, np.where(stable, lam, 0.0) / mu))
        theta = np.where(stable, self.capacity - lam, 1.0)
        # (e^(-theta t) - e^(-mu t)) / (mu - theta), written with the smaller rate first so
        # that no exponential overflows (10,000 servers, or a timeout of many services)
        low, gap = np.minimum(theta, mu), np.abs(mu - theta)
        safe = np.where(gap == 0.0, 1.0, gap)
        both = np.where(gap == 0.0, t * np.exp(-low * t),
                        -np.exp(-low * t) * np.expm1(-gap * t) / safe)
        out = np.exp(-mu * t) + p_wait * mu * both
        return np.where(stable, np.clip(out, 0.0, 1.0), 1.0)

    def p_timeout(self, lam: NDArray, timeout: float) -> NDArray:
        return self.sf(lam, np.full(np.shape(lam), timeout))

    def mean_in_time(self, lam: NDArray, timeout: float) -> NDArray:
        lam = np.asarray(lam, dtype=float)
        return _in_time_mean(self.sf, lam, timeout, self.p_timeout(lam, timeout))


@dataclass(frozen=True)
class MGcTimeouts(_Servers):
    """M/G/c FCFS, servers finish every attempt: APPROXIMATE ``P(R > timeout)``, the
    wait ``Exp`` with the Erlang-C probability and the Allen-Cunneen mean ``C / (c mu -
    lam) (1 + scv) / 2``, convolved with a two-moment phase-type fit of the service.

    >>> s = MGcTimeouts(c=2, mean_service=1.0, scv=1.0)   # scv = 1: the M/M/c tail
    >>> m = MMcTimeouts(c=2, mean_service=1.0)
    >>> lam = np.array([1.2])
    >>> abs(float(s.p_timeout(lam, 3.0)[0] - m.p_timeout(lam, 3.0)[0])) < 1e-9
    True
    """

    scv: float
    method: str = "approximation: Allen-Cunneen wait (exponential) * two-moment service"

    def __post_init__(self):
        super().__post_init__()
        _check("scv", self.scv, zero=True)

    def _law(self, lam: float) -> PhaseType | None:
        if lam >= self.capacity:
            return None
        service = fit_two_moments(self.mean_service, self.scv)
        p_wait = float(erlang_c_values(self.c, lam * self.mean_service))
        rate = (self.capacity - lam) * 2.0 / (1.0 + self.scv)
        n = service.n_phases
        alpha = np.concatenate([[p_wait], (1.0 - p_wait) * service.alpha])
        t = np.zeros((n + 1, n + 1))
        t[0, 0], t[0, 1:] = -rate, rate * service.alpha
        t[1:, 1:] = service.T
        return PhaseType(alpha, t)

    def sf(self, lam: NDArray, t: NDArray) -> NDArray:
        lam = np.asarray(lam, dtype=float).reshape(-1)
        t = np.asarray(t, dtype=float)
        rows = []
        for x in lam:
            law = self._law(float(x))
            row = np.ones(t.shape[-1]) if law is None else \
                np.asarray(law.sf(np.broadcast_to(t, (1, t.shape[-1]))[0]), dtype=float)
            rows.append(row)
        return np.array(rows)

    def p_timeout(self, lam: NDArray, timeout: float) -> NDArray:
        return self.sf(lam, np.array([timeout]))[:, 0]

    def mean_in_time(self, lam: NDArray, timeout: float) -> NDArray:
        lam = np.asarray(lam, dtype=float).reshape(-1)
        return _in_time_mean(self.sf, lam, timeout, self.p_timeout(lam, timeout))


@dataclass(frozen=True)
class CancelledTimeouts(_Servers):
    """M/M/c whose timed-out attempts are CANCELLED while they wait: APPROXIMATE, an
    Erlang-A queue with exponential patience of mean ``timeout`` in place of the fixed
    timeout, and service assumed to end in time (the timeout is much longer than a
    service). The queue stays stable at every load; the timeout probability is the
    abandonment probability.

    >>> s = CancelledTimeouts(c=10, mean_service=1.0)
    >>> round(float(s.p_timeout(np.array([10.0]), 2.0)[0]), 4)  # Erlang-A, theta = 1/2
    0.1039
    """

    method: str = "approximation: Erlang-A with exponential patience of the timeout's mean"

    def p_timeout(self, lam: NDArray, timeout: float) -> NDArray:
        mu = 1.0 / self.mean_service
        return np.array([erlang_a(x, mu, self.c, 1.0 / timeout).p_abandon
                         for x in np.asarray(lam, dtype=float).reshape(-1)])

    def mean_in_time(self, lam: NDArray, timeout: float) -> NDArray:
        mu = 1.0 / self.mean_service
        return np.array([erlang_a(x, mu, self.c, 1.0 / timeout).mean_response_served
                         for x in np.asarray(lam, dtype=float).reshape(-1)])


@dataclass(frozen=True)
class RetryPolicy:
    """The client: ``timeout`` (s), at most ``max_retries`` retries, optionally a retry
    budget (retries at most ``budget`` times the first attempts) and the mean back-off
    wait before each retry (``backoff[k-1]`` before retry ``k``; latency only).

    >>> RetryPolicy(timeout=1.0, max_retries=3).amplification(np.array([0.5]))
    array([1.875])
    >>> RetryPolicy(timeout=1.0, max_retries=3, budget=0.2).amplification(np.array([0.5]))
    array([1.2])
    """

    timeout: float
    max_retries: int
    budget: float | None = None
    backoff: tuple[float, ...] = ()

    def __post_init__(self):
        _check("timeout", self.timeout)
        _count("max_retries", self.max_retries, 0)
        if self.budget is not None:
            _check("budget", self.budget, zero=True)
        if self.backoff and len(self.backoff) != self.max_retries:
            raise FieldError("backoff", f"needs one mean wait per retry ({self.max_retries}), "
                             f"got {len(self.backoff)}")
        for k, b in enumerate(self.backoff):
            _check(f"backoff[{k}]", b, zero=True)

    @property
    def max_amplification(self) -> float:
        top = self.max_retries + 1.0
        return top if self.budget is None else min(top, 1.0 + self.budget)

    def amplification(self, p: NDArray) -> NDArray:
        """Mean attempts per request ``sum_{i<=m} p^i``, capped by the budget."""
        p = np.asarray(p, dtype=float)
        powers = p[..., None] ** np.arange(self.max_retries + 1)
        return np.minimum(powers.sum(axis=-1), self.max_amplification)


@dataclass(frozen=True)
class FixedPoint:
    """One solution of ``lam = lam0 A(p(lam))``."""

    lam0: float
    lam_eff: float
    p_timeout: float
    slope: float
    rho: float
    mean_in_time: float
    timeout: float

    @property
    def stable(self) -> bool:
        return self.slope < 1.0

    @property
    def amplification(self) -> float:
        return self.lam_eff / self.lam0

    @property
    def state(self) -> str:
        """``unstable`` (a threshold between two stable states), ``saturated`` when the
        attempts offered reach the capacity, else ``healthy``."""
        if not self.stable:
            return "unstable"
        return "saturated" if self.rho >= 1.0 else "healthy"

    @property
    def goodput(self) -> float:
        """Requests answered in time per second, ``lam (1 - p)`` (= ``lam0 (1 -
        p^(m+1))`` without a budget)."""
        return self.lam_eff * (1.0 - self.p_timeout)

    @property
    def retry_rate(self) -> float:
        return self.lam_eff - self.lam0


def request_latency(point: FixedPoint, policy: RetryPolicy) -> float:
    """Mean time from a request's first attempt to its answer, over the requests answered:
    ``i`` timeouts and back-off waits, then an attempt answered in time, with probability
    ``p^i (1 - p)`` (attempts independent; a budget's cap on retries left out).

    >>> s, pol = MMcTimeouts(c=1, mean_service=0.1), RetryPolicy(0.5, 1, backoff=(0.2,))
    >>> x = fixed_points(2.0, s, pol)[0]
    >>> p, ok = x.p_timeout, x.mean_in_time
    >>> abs(request_latency(x, pol) - ((1 - p) * ok + p * (1 - p) * (0.5 + 0.2 + ok))
    ...     / (1 - p * p)) < 1e-12
    True
    """
    p, m = point.p_timeout, policy.max_retries
    if p >= 1.0:
        return math.nan
    waits = np.concatenate([[0.0], np.cumsum(policy.backoff or np.zeros(m))])
    i = np.arange(m + 1)
    weights = p**i * (1.0 - p)
    return float(weights @ (i * policy.timeout + waits + point.mean_in_time) / weights.sum())


def fixed_points(lam0: float, station: TimeoutStation, policy: RetryPolicy,
                 grid: int = _GRID) -> list[FixedPoint]:
    """Every solution of ``lam = lam0 A(p(lam))`` in ``[lam0, lam0 A_max]``, by effective
    rate; each with its slope (stable when below 1).

    >>> s, pol = MMcTimeouts(c=10, mean_service=0.1), RetryPolicy(timeout=0.5, max_retries=3)
    >>> [(round(x.lam_eff, 1), x.state) for x in fixed_points(20.0, s, pol)]
    [(20.1, 'healthy')]
    >>> [(round(x.lam_eff, 1), x.stable, x.state) for x in fixed_points(50.0, s, pol)]
    [(50.3, True, 'healthy'), (98.5, False, 'unstable'), (200.0, True, 'saturated')]
    """
    lam0 = _check("lam0", lam0)
    top = lam0 * policy.max_amplification
    tau = policy.timeout

    def mapped(lam: NDArray) -> NDArray:
        return lam0 * policy.amplification(station.p_timeout(np.atleast_1d(lam), tau))

    if top == lam0:
        roots = [lam0]
    else:
        xs = np.unique(np.concatenate([np.linspace(lam0, top, grid),
                                       [min(max(station.capacity, lam0), top)]]))
        gs = mapped(xs) - xs
        roots = [float(x) for x, g in zip(xs, gs) if g == 0.0]
        for i in np.flatnonzero(gs[:-1] * gs[1:] < 0):
            roots.append(brentq(lambda x: float(mapped(x)[0]) - x, xs[i], xs[i + 1],
                                xtol=1e-12 * top, rtol=1e-12))
        roots = sorted(set(roots))
    out = []
    for lam in roots:
        h = 1e-6 * top
        lo, hi = max(lam - h, lam0), min(lam + h, top)
        values = mapped(np.array([lo, hi]))
        slope = float(values[1] - values[0]) / (hi - lo) if hi > lo else 0.0
        p = float(station.p_timeout(np.array([lam]), tau)[0])
        ok = float(station.mean_in_time(np.array([lam]), tau)[0]) if p < 1.0 else math.nan
        out.append(FixedPoint(lam0, lam, p, slope, lam / station.capacity, ok, tau))
    return out


def stable_points(lam0: float, station: TimeoutStation, policy: RetryPolicy) -> list[FixedPoint]:
    """The stable solutions only (two or more: the metastable region)."""
    return [x for x in fixed_points(lam0, station, policy) if x.stable]


@dataclass(frozen=True)
class Hysteresis:
    """A load sweep up then down; ``metastable`` is the interval of offered loads with
    two stable states (``None`` if there is none), its ends refined by bisection (an end
    of the sweep where the interval reaches it)."""

    table: pd.DataFrame
    metastable: tuple[float, float] | None


def hysteresis(lam0s: NDArray, station: TimeoutStation, policy: RetryPolicy) -> Hysteresis:
    """Sweep the offered load up then down, each step following the stable state nearest
    (in amplification) to the previous one; the state is ``metastable`` where a second
    stable state exists, ``healthy`` or ``saturated`` where the one followed is alone.

    >>> s, pol = MMcTimeouts(c=10, mean_service=0.1), RetryPolicy(timeout=0.5, max_retries=3)
    >>> h = hysteresis(np.linspace(10.0, 100.0, 10), s, pol)
    >>> [round(x, 1) for x in h.metastable]      # from lam0 (m + 1) = capacity
    [25.0, 87.6]
    >>> h.table[h.table.lam0 == 50.0][["direction", "branch", "goodput"]].round(1)
       direction     branch  goodput
    4         up    healthy     50.0
    15      down  saturated      0.0
    """
    lam0s = np.sort(np.asarray(lam0s, dtype=float).reshape(-1))
    if lam0s.size == 0:
        raise FieldError("lam0s", "needs at least one offered load")
    solved = {float(x): stable_points(float(x), station, policy) for x in lam0s}
    rows = []
    for direction, order in (("up", lam0s), ("down", lam0s[::-1])):
        previous = None
        for x in order:
            points = solved[float(x)]
            if previous is None:
                here = points[0] if direction == "up" else points[-1]
            else:
                here = min(points, key=lambda q: abs(q.amplification - previous))
            previous = here.amplification
            state = "metastable" if len(points) > 1 else here.state
            rows.append({"lam0": float(x), "direction": direction, "lam_eff": here.lam_eff,
                         "goodput": here.goodput, "p_timeout": here.p_timeout,
                         "branch": here.state, "state": state, "n_stable": len(points)})
    table = pd.DataFrame(rows)
    two = lam0s[[len(solved[float(x)]) > 1 for x in lam0s]]
    if two.size == 0:
        return Hysteresis(table, None)
    low = _edge(lam0s, float(two[0]), -1, station, policy)
    high = _edge(lam0s, float(two[-1]), +1, station, policy)
    return Hysteresis(table, (low, high))


def _edge(lam0s: NDArray, inside: float, side: int, station: TimeoutStation,
          policy: RetryPolicy, steps: int = 30) -> float:
    """The end of the bistable interval between ``inside`` and its neighbour on the grid
    (``side`` -1: below, +1: above), by bisection; the grid's end if there is none."""
    i = int(np.searchsorted(lam0s, inside))
    j = i + side
    if not 0 <= j < lam0s.size:
        return inside
    a, b = inside, float(lam0s[j])
    for _ in range(steps):
        mid = 0.5 * (a + b)
        a, b = (mid, b) if len(stable_points(mid, station, policy)) > 1 else (a, mid)
    return 0.5 * (a + b)


def what_removes_it(lam0s: NDArray, station: TimeoutStation, policy: RetryPolicy,
                    changes: list[tuple[str, TimeoutStation, RetryPolicy]] | None = None
                    ) -> pd.DataFrame:
    """For each change (default: fewer retries, a 10% and a 20% budget, half the timeout,
    one and two more servers), the metastable interval over the offered loads
    ``lam0s`` and whether the change leaves a single stable state at every one of them.
    Jitter and back-off are not among them: they do not move the fixed points.

    >>> s, pol = MMcTimeouts(c=10, mean_service=0.1), RetryPolicy(timeout=0.5, max_retries=3)
    >>> t = what_removes_it(np.linspace(10.0, 100.0, 10), s, pol)
    >>> t[t.removes].change.tolist()
    ['max_retries=0', 'budget=10%']
    """
    lam0s = np.asarray(lam0s, dtype=float).reshape(-1)
    if changes is None:
        changes = _default_changes(station, policy)
    rows = []
    for name, st, pol in [("as is", station, policy), *changes]:
        bistable = [float(x) for x in lam0s if len(stable_points(float(x), st, pol)) > 1]
        rows.append({"change": name,
                     "metastable_low": min(bistable) if bistable else math.nan,
                     "metastable_high": max(bistable) if bistable else math.nan,
                     "removes": not bistable})
    return pd.DataFrame(rows)


def _default_changes(station: TimeoutStation,
                     policy: RetryPolicy) -> list[tuple[str, TimeoutStation, RetryPolicy]]:
    out = [(f"max_retries={m}", station, replace(policy, max_retries=m))
           for m in sorted({policy.max_retries // 2, 0}) if m < policy.max_retries]
    out += [(f"budget={b:.0%}", station, replace(policy, budget=b)) for b in (0.1, 0.2)]
    out.append((f"timeout={policy.timeout / 2:.6g}s", station,
                replace(policy, timeout=policy.timeout / 2)))
    c = getattr(station, "c", None)
    if c is not None:
        out += [(f"servers={c + k}", station.with_servers(c + k), policy) for k in (1, 2)]
    return out
