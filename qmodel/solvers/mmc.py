"""The M/M/c kernel: Erlang B and C, the empty probability, the response-time law and
its quantiles, for one station or whole arrays of them.

Every function here is vectorised (any broadcastable ``c``, ``a``, ...); the scalar
functions :func:`erlang_b` and :func:`erlang_c` check their arguments and evaluate the
same arrays on one element, so the single-station solver, the open-network solver and
the experiments fast path compute the same numbers.

Erlang B is evaluated in log space through the regularized upper incomplete gamma
function ``Q``, ``sum_{k<=c} a^k/k! = e^a Q(c+1, a)`` (Abramowitz & Stegun 6.5.13), so
it needs no loop over ``c`` and stays finite for any number of servers::

    log B(c, a) = c log a - a - log c! - log Q(c+1, a),
    C(c, a) = B / ((c - a)/c + rho B),   rho = a / c.

In overload (``a > c``, Erlang B only) ``Q`` underflows, so there the Poisson sum is
added term by term in log space. At ``c`` of 10^5 and more the log-space terms are
large (about ``c log a``), which bounds the relative accuracy of B to about
``c log(a) * 1e-16`` (2e-8 at ``c = 10^7``); C and the response times inherit it.

Sources: Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory* (4th ed.,
2008), M/M/c; Kleinrock, *Queueing Systems* Vol. 1 (1975), M/M/m.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaincc, gammaln, logsumexp, xlogy

from .checks import check_stable, non_negative, servers
from .phase_type import PhaseType, exponential

_EPS = float(np.finfo(float).eps)
_NEWTON_STEPS = 100


# -- Erlang formulas ---------------------------------------------------------------------


def log_erlang_b(c: ArrayLike, a: ArrayLike) -> NDArray:
    """Natural log of the Erlang B blocking probability of ``c`` servers offered ``a``
    erlangs, element-wise (``-inf`` where ``a = 0``).

    >>> round(float(np.exp(log_erlang_b(10, 5.0))), 6)      # Erlang-B tables: 0.018385
    0.018385
    """
    c, a = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(a, dtype=float))
    with np.errstate(divide="ignore"):
        out = xlogy(c, a) - a - gammaln(c + 1.0) - np.log(gammaincc(c + 1.0, a))
    over = np.flatnonzero(a > c)
    if over.size:
        out = np.array(out, dtype=float)
        flat = out.reshape(-1)
        for i in over:
            terms = log_poisson_terms(int(c.flat[i]), float(a.flat[i]))
            flat[i] = terms[-1] - logsumexp(terms)
    return out


def log_poisson_terms(n_max: int, a: float) -> NDArray:
    """``log(a^k / k!)`` for ``k = 0..n_max``."""
    k = np.arange(n_max + 1)
    return xlogy(k, a) - gammaln(k + 1)


def erlang_c_values(c: ArrayLike, a: ArrayLike) -> NDArray:
    """Erlang C probability of waiting in M/M/c, element-wise; NaN where ``a >= c``
    (unstable).

    >>> erlang_c_values([3, 1, 2], [2.0, 0.5, 2.0]).round(12)  # 4/9, rho, unstable
    array([0.44444444, 0.5       ,        nan])
    """
    c, a = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(a, dtype=float))
    stable = a < c
    safe_c = np.where(stable, c, 1.0)
    safe_a = np.where(stable, a, 0.0)
    rho = safe_a / safe_c
    b = np.exp(log_erlang_b(safe_c, safe_a))
    return np.where(stable, np.minimum(1.0, b / ((safe_c - safe_a) / safe_c + rho * b)),
                    np.nan)


def p_idle_values(c: ArrayLike, a: ArrayLike) -> NDArray:
    """M/M/c empty probability ``1 / (sum_{k<c} a^k/k! + a^c / (c! (1 - rho)))``,
    element-wise (``a < c``): the sum written as ``e^a Q(c + 1, a) + a^c/c! rho / (1 -
    rho)`` and added in log space.

    >>> round(float(p_idle_values(3, 2.0)), 12)               # 1/9 (Gross & Harris)
    0.111111111111
    """
    c, a = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(a, dtype=float))
    rho = a / c
    with np.errstate(divide="ignore"):
        log_poisson_sum = a + np.log(gammaincc(c + 1.0, a))
        log_rest = xlogy(c, a) - gammaln(c + 1.0) + np.log(rho) - np.log1p(-rho)
        return np.where(a == 0.0, 1.0, np.exp(-np.logaddexp(log_poisson_sum, log_rest)))


def erlang_b(c: int, a: float) -> float:
    """Erlang-B blocking probability of ``c`` servers offered ``a = lam/mu`` erlangs.

    Source: Gross & Harris (Erlang's loss formula).

    >>> round(erlang_b(10, 5.0), 6)               # published Erlang-B tables: 0.018385
    0.018385
    """
    c = servers(c)
    a = non_negative("offered load a", a)
    return float(np.exp(log_erlang_b(c, a)))


def erlang_c(c: int, a: float) -> float:
    """Erlang-C probability of waiting in M/M/c, ``C = B / (1 - rho (1 - B))``.

    Raises :class:`~qmodel.errors.UnstableError` when ``rho = a/c >= 1``. Source: Gross &
    Harris (M/M/c); Harchol-Balter (server farms, M/M/k).

    >>> round(erlang_c(3, 2.0), 12)               # 4/9 (Gross & Harris, M/M/3, rho=2/3)
    0.444444444444
    """
    c = servers(c)
    a = non_negative("offered load a", a)
    check_stable(a / c)
    return float(erlang_c_values(c, a))


def p_idle(c: int, a: float) -> float:
    """M/M/c empty probability of a stable station (:func:`p_idle_values`)."""
    return float(p_idle_values(c, a))


# -- the response time ------------------------------------------------------------------


def wait_then_serve(p_wait: float, wait_rate: float, mu: float) -> PhaseType:
    """Wait ``Exp(wait_rate)`` with probability ``p_wait``, then ``Exp(mu)``: the M/M/c
    FCFS response time as a phase-type distribution."""
    if p_wait == 0.0:
        return exponential(mu)
    return PhaseType([p_wait, 1.0 - p_wait], [[-wait_rate, wait_rate], [0.0, -mu]])


class MMcResponse:
    """Response time of an M/M/c FCFS station: ``Exp(mu)`` service after an
    ``Exp(theta)`` wait with probability ``p_wait`` (``theta = c mu - lam``).

    It is the two-phase PH of :func:`wait_then_serve`, with moments and quantiles in
    closed form; the :class:`PhaseType` is built only when asked for
    (:meth:`phase_type`), so a network of hundreds of stations does not build one per
    station.

    >>> r = MMcResponse(0.5, 1.0, 2.0)  # waits Exp(1) with probability 0.5, serves Exp(2)
    >>> r.mean(), r.n_phases
    (1.0, 2)
    >>> abs(r.quantile(0.95) - r.phase_type().quantile(0.95)) < 1e-9
    True
    """

    __slots__ = ("p_wait", "theta", "mu", "_ph")

    def __init__(self, p_wait: float, theta: float, mu: float):
        self.p_wait, self.theta, self.mu = p_wait, theta, mu
        self._ph: PhaseType | None = None

    def __repr__(self) -> str:
        return f"MMcResponse(p_wait={self.p_wait:.6g}, theta={self.theta:.6g}, mu={self.mu:.6g})"

    @property
    def n_phases(self) -> int:
        return 1 if self.p_wait == 0.0 else 2

    def mean(self) -> float:
        return self.p_wait / self.theta + 1.0 / self.mu

    def moment(self, k: int) -> float:
        """Raw moment ``E[R^k]``: closed form for ``k <= 2``."""
        if k == 1:
            return self.mean()
        if k == 2:
            p, theta, mu = self.p_wait, self.theta, self.mu
            return 2.0 * p / theta**2 + 2.0 * p / (theta * mu) + 2.0 / mu**2
        return self.phase_type().moment(k)

    def scv(self) -> float:
        mean = self.mean()
        return max(0.0, self.moment(2) - mean**2) / mean**2

    def phase_type(self) -> PhaseType:
        if self._ph is None:
            self._ph = wait_then_serve(self.p_wait, self.theta, self.mu)
        return self._ph

    def quantile(self, p: float) -> float:
        """Smallest ``t`` with ``P(R <= t) >= p`` (:func:`response_quantile`)."""
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"quantile probabilities must lie in [0, 1], got {p}")
        return scalar_response_quantile(p, self.p_wait, self.mu, self.theta)


def response_quantile(p: float, p_wait: ArrayLike, mu: ArrayLike,
                      theta: ArrayLike) -> NDArray:
    """The ``p`` quantile of the M/M/c FCFS response time (:class:`MMcResponse`) for
    every element; NaN where the station is unstable (``theta <= 0``) or an input is NaN.

    Newton's method on ``log P(R > t)``, kept inside a bracket (``[service quantile,
    doubling]``), to about 1e-13, with ``P(R > t) = e^{-mu t} + p_wait mu t e^{-min(mu,
    theta) t} g(|theta - mu| t)`` and ``g(y) = (1 - e^{-y}) / y``: no cancellation when
    ``theta`` is close to ``mu`` or far below it (near saturation), no overflow far in
    the tail.

    >>> round(float(response_quantile(0.95, 0.5, 2.0, 1.0)), 9)  # M/M/1 lam=1 mu=2
    2.995732274
    """
    p_wait, mu, theta = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                              for v in (p_wait, mu, theta)))
    shape = p_wait.shape
    p_wait, mu, theta = (np.ravel(v) for v in (p_wait, mu, theta))
    bad = ~((theta > 0) & (mu > 0) & (p_wait >= 0))
    if p == 0.0 or p == 1.0:
        return np.where(bad, np.nan, 0.0 if p == 0.0 else np.inf).reshape(shape)
    p_wait, mu, theta = (np.where(bad, x, v) for x, v in ((0.0, p_wait), (1.0, mu),
                                                          (1.0, theta)))
    target = math.log1p(-p)
    lo = -target / mu  # the service time alone: R is at least this long
    hi = 2.0 * lo
    grow = p_wait > 0.0
    while grow.any():
        grow &= _log_sf_hazard(hi, p_wait, mu, theta)[0] > target
        lo, hi = np.where(grow, hi, lo), np.where(grow, 2.0 * hi, hi)
    t = np.sqrt(lo * hi)
    out = np.where(p_wait > 0.0, np.nan, lo)
    todo = np.flatnonzero(p_wait > 0.0)
    for _ in range(_NEWTON_STEPS):
        if not todo.size:
            break
        tt, lo_t, hi_t = t[todo], lo[todo], hi[todo]
        log_sf, hazard = _log_sf_hazard(tt, p_wait[todo], mu[todo], theta[todo])
        gap = log_sf - target  # > 0: t is left of the quantile
        lo_t, hi_t = np.where(gap > 0, tt, lo_t), np.where(gap > 0, hi_t, tt)
        step = gap / hazard
        done = (np.abs(gap) <= 8 * _EPS * np.maximum(1.0, -log_sf)) | \
            (np.abs(step) <= 1e-13 * tt)
        out[todo[done]] = np.minimum(np.maximum(tt + step, lo_t), hi_t)[done]
        nxt = tt + step
        t[todo] = np.where((lo_t < nxt) & (nxt < hi_t), nxt, 0.5 * (lo_t + hi_t))
        lo[todo], hi[todo] = lo_t, hi_t
        todo = todo[~done]
    out[todo] = t[todo]
    return np.where(bad, np.nan, out).reshape(shape)


def scalar_response_quantile(p: float, p_wait: float, mu: float, theta: float) -> float:
    """:func:`response_quantile` for one station, with ``math`` instead of arrays: the
    same bracket, Newton steps and stopping rule, some thirty times faster for one
    value (a solve asks every station for its p50, p95 and p99).

    >>> round(scalar_response_quantile(0.95, 0.5, 2.0, 1.0), 9)  # M/M/1 lam=1 mu=2
    2.995732274
    """
    if not (theta > 0 and mu > 0 and p_wait >= 0):
        return math.nan
    if p == 0.0 or p == 1.0:
        return 0.0 if p == 0.0 else math.inf
    target = math.log1p(-p)
    lo = -target / mu  # the service time alone: R is at least this long
    if p_wait == 0.0:
        return lo
    hi = 2.0 * lo
    while _scalar_log_sf_hazard(hi, p_wait, mu, theta)[0] > target:
        lo, hi = hi, 2.0 * hi
    t = math.sqrt(lo * hi)
    for _ in range(_NEWTON_STEPS):
        log_sf, hazard = _scalar_log_sf_hazard(t, p_wait, mu, theta)
        gap = log_sf - target  # > 0: t is left of the quantile
        lo, hi = (t, hi) if gap > 0 else (lo, t)
        step = gap / hazard
        if abs(gap) <= 8 * _EPS * max(1.0, -log_sf) or abs(step) <= 1e-13 * t:
            return min(max(t + step, lo), hi)
        t = t + step if lo < t + step < hi else 0.5 * (lo + hi)
    return t


def _scalar_log_sf_hazard(t: float, p_wait: float, mu: float,
                          theta: float) -> tuple[float, float]:
    """:func:`_log_sf_hazard` of one value (``p_wait > 0``, ``t > 0``)."""
    y = abs(theta - mu) * t
    log_g = -0.5 * y if y < 1e-8 else math.log(-math.expm1(-y)) - math.log(y)
    log_wait_term = math.log(p_wait * mu * t) - min(mu, theta) * t + log_g
    a, b = -mu * t, log_wait_term
    log_sf = max(a, b) + math.log1p(math.exp(-abs(a - b)))
    u = math.exp(log_wait_term - log_sf)  # the waiting term's share of P(R > t)
    return log_sf, mu * (1.0 - p_wait) * (1.0 - u) + theta * u


def wait_quantile(p: float, p_wait: ArrayLike, theta: ArrayLike) -> NDArray:
    """The ``p`` quantile of the M/M/c FCFS waiting time: 0 with probability ``1 -
    p_wait``, else ``Exp(theta)``; element-wise.

    >>> float(wait_quantile(0.5, 0.25, 1.0))                   # no wait for half the jobs
    0.0
    """
    p_wait, theta = np.asarray(p_wait, dtype=float), np.asarray(theta, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p_wait > 1.0 - p, np.log(p_wait / (1.0 - p)) / theta, 0.0)


def _log_sf_hazard(t: NDArray, p_wait: NDArray, mu: NDArray,
                   theta: NDArray) -> tuple[NDArray, NDArray]:
    """``log P(R > t)`` and the hazard rate ``f(t) / P(R > t)``, for ``t > 0``: with
    ``w = p_wait mu t e^{-min(mu, theta) t} g(|theta - mu| t)`` the waiting term,
    ``P(R > t) = e^{-mu t} + w`` and ``f(t) = (1 - p_wait) mu e^{-mu t} + theta w``."""
    with np.errstate(divide="ignore"):
        log_wait_term = np.log(p_wait * mu * t) - np.minimum(mu, theta) * t + \
            _log_g(np.abs(theta - mu) * t)
    log_sf = np.logaddexp(-mu * t, log_wait_term)
    u = np.exp(log_wait_term - log_sf)  # the waiting term's share of P(R > t)
    return log_sf, mu * (1.0 - p_wait) * (1.0 - u) + theta * u


def _log_g(y: NDArray) -> NDArray:
    """``log((1 - e^-y) / y)`` for ``y >= 0``, continuous at 0."""
    small = y < 1e-8
    safe = np.where(small, 1.0, y)
    return np.where(small, -0.5 * y, np.log(-np.expm1(-safe)) - np.log(safe))
