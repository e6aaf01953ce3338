"""Non-negative random times given by their survival functions: maxima and order
statistics of independent times, shifted mixtures, and their moments and quantiles by
adaptive Gauss-Legendre integration (the machinery of :mod:`.forkjoin`).

A time is a :class:`~qmodel.distributions.Distribution` (closed-form cdf through
``scipy.stats``, the empirical cdf for :class:`~qmodel.distributions.Empirical`) or a
plain callable ``cdf(t)``. Integrals run to where the survival function falls below
1e-10 and then on a logarithmic scale, so heavy tails (Pareto, lognormal) keep their
contribution to the mean.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import betainc

from qmodel.distributions import (
    Deterministic,
    Distribution,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Mixture,
    Pareto,
    Uniform,
)
from qmodel.errors import UnsupportedError

Cdf = Callable[[np.ndarray], np.ndarray]
TimeLike = Distribution | Cdf
"""A non-negative random time: a distribution or a vectorized ``cdf(t)``."""

RTOL = 1e-9
_TAIL = 1e-10
_GRID_PROBS = (1e-6, 1e-3, 0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98, 0.999, 1 - 1e-6, 1 - _TAIL)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(10)
_MAX_ROUNDS = 60
_MAX_INTERVALS = 1 << 13
_MAX_STEPS = 2200
_HUGE = 1e300
_EPS = 1e-16


# -- survival functions ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TimeLaw:
    """A non-negative time given by its survival function on ``t >= 0``.

    ``points`` lists where the survival function may jump or kink; ``scale`` is a
    typical magnitude, where bracketing of quantiles starts.
    """

    raw: Callable[[np.ndarray], np.ndarray]
    points: np.ndarray
    scale: float

    def sf(self, t: np.ndarray) -> np.ndarray:
        """``P(X > t)`` for an array ``t``; 1 for negative ``t``."""
        t = np.asarray(t, dtype=float)
        inside = np.clip(np.asarray(self.raw(np.maximum(t, 0.0)), dtype=float), 0.0, 1.0)
        return np.where(t < 0, 1.0, np.broadcast_to(inside, t.shape))


def time_law(x: TimeLike | TimeLaw) -> TimeLaw:
    if isinstance(x, TimeLaw):
        return x
    if isinstance(x, Distribution):
        return _distribution_part(x)
    if callable(x):
        cdf = _vectorized(x)
        return TimeLaw(lambda t: 1.0 - np.asarray(cdf(t), dtype=float), np.empty(0), 1.0)
    raise TypeError(f"expected a Distribution or a cdf callable, got {type(x).__name__}")


def _vectorized(cdf: Cdf) -> Cdf:
    """``cdf`` itself when it maps arrays elementwise, else its ``np.vectorize``."""
    probe = np.array([0.5, 1.0])
    try:
        elementwise = np.shape(cdf(probe)) == probe.shape
    except (TypeError, ValueError):
        elementwise = False
    return cdf if elementwise else np.vectorize(cdf, otypes=[float])


def _distribution_part(d: Distribution) -> TimeLaw:
    scale = d.mean if 0 < d.mean < math.inf else 1.0
    if isinstance(d, Deterministic):
        return TimeLaw(lambda t: (t < d.value).astype(float), np.array([d.value]), scale)
    if isinstance(d, Empirical):
        xs = np.sort(np.asarray(d.samples, dtype=float))
        return TimeLaw(lambda t: 1.0 - np.searchsorted(xs, t, side="right") / xs.size,
                     np.unique(xs), scale)
    if isinstance(d, Mixture):
        parts = [_distribution_part(x) for x in d.parts]
        return TimeLaw(lambda t: sum(p * x.sf(t) for p, x in zip(d.probs, parts)),
                       np.unique(np.concatenate([x.points for x in parts])), scale)
    if isinstance(d, HyperExponential):
        probs, means = np.asarray(d.probs), np.asarray(d.means)
        return TimeLaw(lambda t: np.exp(-t[..., None] / means) @ probs, np.empty(0), scale)
    frozen, points = _scipy(d)
    return TimeLaw(frozen.sf, np.asarray(points, dtype=float), scale)


def _scipy(d: Distribution) -> tuple[stats.rv_continuous, tuple[float, ...]]:
    """The ``scipy.stats`` frozen distribution of ``d`` and its kinks."""
    if isinstance(d, Exponential):
        return stats.expon(scale=d.mean_), ()
    if isinstance(d, Erlang):
        return stats.gamma(d.k, scale=d.mean_ / d.k), ()
    if isinstance(d, Gamma):
        return stats.gamma(d.cv**-2, scale=d.mean_ * d.cv**2), ()
    if isinstance(d, Lognormal):
        sigma2 = math.log1p(d.cv**2)
        return stats.lognorm(math.sqrt(sigma2), scale=d.mean_ * math.exp(-sigma2 / 2)), ()
    if isinstance(d, Uniform):
        return stats.uniform(d.low, d.high - d.low), (d.low, d.high)
    if isinstance(d, Pareto):
        return stats.pareto(d.alpha, scale=d.scale), (d.scale,)
    raise UnsupportedError("forkjoin", f"no distribution function for {type(d).__name__}")


def max_of(parts: Sequence[tuple[TimeLaw, int]]) -> TimeLaw:
    """The maximum of independent times; each part comes with its multiplicity."""

    def sf(t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_cdf = sum(count * np.log1p(-part.sf(t)) for part, count in parts)
        return -np.expm1(log_cdf)

    points = np.unique(np.concatenate([part.points for part, _ in parts]))
    return TimeLaw(sf, points, max(part.scale for part, _ in parts))


def max_of_times(times: Sequence[TimeLike]) -> TimeLaw:
    if not times:
        raise ValueError("need at least one time")
    return max_of([(time_law(x), count) for x, count in Counter(times).items()])


def order_statistic_law(part: TimeLaw, n: int, r: int) -> TimeLaw:
    """The r-th smallest of n iid copies: ``P(X(r) > t) = I_S(t)(n - r + 1, r)``."""
    if not 1 <= r <= n:
        raise ValueError(f"need 1 <= r <= n, got r={r}, n={n}")
    return TimeLaw(lambda t: betainc(n - r + 1, r, part.sf(t)), part.points, part.scale)


def rth_of_times(times: Sequence[TimeLike], r: int) -> TimeLaw:
    """The ``r``-th smallest of independent times; the maximum when ``r`` is their number.

    ``P(X(r) > t)`` is the probability that fewer than ``r`` times are ``<= t``: the
    Poisson-binomial probabilities of the counts ``0 .. r-1``, built up one time at a
    time from the cdfs; iid times take the Beta transform of :func:`order_statistic_law`.
    """
    if r == len(times):
        return max_of_times(times)
    if not 1 <= r <= len(times):
        raise ValueError(f"need 1 <= r <= n, got r={r}, n={len(times)}")
    if len(set(times)) == 1:
        return order_statistic_law(time_law(times[0]), len(times), r)
    parts = [time_law(x) for x in times]

    def sf(t: np.ndarray) -> np.ndarray:
        fewer = np.zeros((*t.shape, r))  # P(exactly k of the times so far are <= t), k < r
        fewer[..., 0] = 1.0
        for part in parts:
            above = part.sf(t)[..., None]
            fewer[..., 1:] = fewer[..., 1:] * above + fewer[..., :-1] * (1.0 - above)
            fewer[..., 0] *= above[..., 0]
        return fewer.sum(axis=-1)

    points = np.unique(np.concatenate([part.points for part in parts]))
    return TimeLaw(sf, points, max(part.scale for part in parts))


def mixture_of_shifts(final: TimeLaw, shifts: np.ndarray, weights: np.ndarray) -> TimeLaw:
    """``final + D`` for an independent ``D`` taking ``shifts`` with ``weights``."""
    return TimeLaw(lambda t: final.sf(t[..., None] - shifts) @ weights, np.empty(0),
                 final.scale + float(shifts @ weights))


# -- integration and quantiles -----------------------------------------------------------


def _gauss(f: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Gauss-Legendre integrals of the vector-valued ``f`` over each ``[a_i, b_i]``."""
    half = (b - a) / 2
    t = ((a + b) / 2)[:, None] + half[:, None] * _GL_NODES
    values = f(t.ravel()).reshape(*t.shape, -1)
    return half[:, None] * np.einsum("inm,n->im", values, _GL_WEIGHTS)


def _integrate(f: Callable[[np.ndarray], np.ndarray], edges: np.ndarray,
               rtol: float, atol: np.ndarray | float = 0.0) -> np.ndarray:
    """Adaptive vectorized integral of ``f`` (values of shape ``(len(t), m)``) over edges.

    Intervals are halved until the two-halves estimate agrees with the whole-interval
    one within ``max(rtol * |integral|, atol)``; jumps and kinks of ``f`` belong at the
    edges.
    """
    edges = np.unique(edges)
    a, b = edges[:-1], edges[1:]
    if a.size == 0:
        return np.zeros(f(edges[:1]).reshape(1, -1).shape[1])
    whole = _gauss(f, a, b)
    done = np.zeros(whole.shape[1])
    for _ in range(_MAX_ROUNDS):
        mid = (a + b) / 2
        left, right = _gauss(f, a, mid), _gauss(f, mid, b)
        halves = left + right
        tol = np.maximum(rtol * np.abs(done + halves.sum(axis=0)), atol) / a.size
        ok = np.all(np.abs(halves - whole) <= tol + _EPS * np.abs(halves), axis=1)
        done = done + halves[ok].sum(axis=0)
        if ok.all() or a.size > _MAX_INTERVALS:
            return done + halves[~ok].sum(axis=0)
        a, b = np.concatenate([a[~ok], mid[~ok]]), np.concatenate([mid[~ok], b[~ok]])
        whole = np.concatenate([left[~ok], right[~ok]])
    return done + whole.sum(axis=0)


def quantiles(part: TimeLaw, probs: Sequence[float], rtol: float = 4 * np.finfo(float).eps
               ) -> np.ndarray:
    """Smallest ``t >= 0`` with ``P(X <= t) >= p`` for each ``p``, by bisection to ``rtol``."""
    target = 1.0 - np.asarray(probs, dtype=float)
    hi = np.full(target.shape, part.scale)
    for _ in range(_MAX_STEPS):
        short = part.sf(hi) > target
        if not short.any():
            break
        hi = np.where(short, 2 * hi, hi)
        if hi.max() > _HUGE:
            raise ValueError("the distribution function never reaches the probability asked")
    lo = np.zeros_like(hi)
    hi = np.where(part.sf(lo) <= target, 0.0, hi)
    for _ in range(_MAX_STEPS):
        if np.all(hi - lo <= rtol * hi):
            break
        mid = (lo + hi) / 2
        above = part.sf(mid) <= target
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    return hi


def moments(part: TimeLaw, orders: Sequence[int] = (1,), rtol: float = RTOL) -> np.ndarray:
    """Raw moments ``E[X^j] = int j t^(j-1) P(X > t) dt`` for each order ``j``."""
    powers = np.asarray(orders)

    def integrand(t: np.ndarray) -> np.ndarray:
        return powers * t[:, None] ** (powers - 1) * part.sf(t)[:, None]

    grid = quantiles(part, _GRID_PROBS, 1e-6)
    end = grid[-1]
    edges = np.concatenate([[0.0], grid, part.points[part.points < end]])
    head = _integrate(integrand, edges, rtol)
    return head + _tail(integrand, end, rtol * np.abs(head))


def _tail(f: Callable[[np.ndarray], np.ndarray], start: float, atol: np.ndarray) -> np.ndarray:
    """``int_start^inf f`` within ``atol``, on the scale ``t = start * exp(s)`` that tames
    heavy tails."""

    def g(s: np.ndarray) -> np.ndarray:
        t = start * np.exp(s)
        return f(t) * t[:, None]

    reach = math.log(_HUGE / start) if start > 0 else 0.0
    end, first = min(1.0, reach), np.abs(g(np.zeros(1)))
    while end < reach and np.any(g(np.array([end])) > _EPS * first):
        end = min(2 * end, reach)
    return _integrate(g, np.linspace(0.0, end, 9), 0.0, atol)


def mean_variance(part: TimeLaw, rtol: float = RTOL) -> tuple[float, float]:
    first, second = moments(part, (1, 2), rtol)
    return float(first), max(0.0, float(second - first**2))


def check_probability(p: float) -> None:
    if not 0 < p < 1:
        raise ValueError(f"probability must lie in (0, 1), got {p}")
