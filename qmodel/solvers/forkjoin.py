"""Maxima, order statistics and makespans of independent times: fork-join and task waves.

A fork-join job ends when its slowest branch ends, a MapReduce/Spark stage when its last
task ends, a quorum read when the R-th of N replicas answers. All of these are maxima or
order statistics of independent times, computed here by numerical integration of the
distribution function, plus the classical closed forms where they exist.

Every time may be a :class:`~qmodel.distributions.Distribution` (closed-form cdf through
``scipy.stats``, the empirical cdf for :class:`~qmodel.distributions.Empirical`) or a
plain callable ``cdf(t)`` of a non-negative time. Integrals run to where the survival
function falls below 1e-10 and then on a logarithmic scale, so heavy tails (Pareto,
lognormal) keep their contribution to the mean.

Sources: R. Nelson, A. N. Tantawi, "Approximate analysis of fork/join synchronization
in parallel queues", IEEE Trans. Computers 37(6), 1988; L. Flatto, S. Hahn, "Two
parallel queues created by arrivals with two demands", SIAM J. Appl. Math. 44, 1984;
F. Baccelli, A. M. Makowski, A. Shwartz, "The fork-join queue and related systems with
synchronization constraints", Adv. Appl. Prob. 21, 1989; A. Verma, L. Cherkasova,
R. H. Campbell, "ARIA: automatic resource inference and allocation for MapReduce
environments", ICAC 2011; P. Bailis et al., "Probabilistically bounded staleness for
practical partial quorums", VLDB 2012; H. A. David, H. N. Nagaraja, *Order Statistics*,
3rd ed. (2003); W. Feller, *An Introduction to Probability Theory*, vol. II, ch. XI
(renewal counts).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from scipy.special import betainc, gammainc, gammaincc

from qmodel.distributions import (
    Deterministic,
    Distribution,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Pareto,
    Uniform,
)
from qmodel.errors import UnstableError, UnsupportedError

Cdf = Callable[[np.ndarray], np.ndarray]
TimeLike = Distribution | Cdf
"""A non-negative random time: a distribution or a vectorized ``cdf(t)``."""

RENEWAL_METHOD = "approximation(renewal slots)"
INDEPENDENT_METHOD = "approximation(independent branches)"

_RTOL = 1e-9
_TAIL = 1e-10
_GRID_PROBS = (1e-6, 1e-3, 0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.98, 0.999, 1 - 1e-6, 1 - _TAIL)
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(10)
_MAX_ROUNDS = 60
_MAX_INTERVALS = 1 << 13
_MAX_STEPS = 2200
_HUGE = 1e300
_EPS = 1e-16
_FFT_CELLS = 1 << 21
_EXACT_SUM_CELLS = 1 << 13
_ROW_CHUNK = 64
_CONVOLUTION_NODES = 64
_MAKESPAN_RTOL = 1e-6


# -- survival functions ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Part:
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


def _part(x: TimeLike) -> _Part:
    if isinstance(x, Distribution):
        return _distribution_part(x)
    if callable(x):
        cdf = _vectorized(x)
        return _Part(lambda t: 1.0 - np.asarray(cdf(t), dtype=float), np.empty(0), 1.0)
    raise TypeError(f"expected a Distribution or a cdf callable, got {type(x).__name__}")


def _vectorized(cdf: Cdf) -> Cdf:
    """``cdf`` itself when it maps arrays elementwise, else its ``np.vectorize``."""
    probe = np.array([0.5, 1.0])
    try:
        elementwise = np.shape(cdf(probe)) == probe.shape
    except (TypeError, ValueError):
        elementwise = False
    return cdf if elementwise else np.vectorize(cdf, otypes=[float])


def _distribution_part(d: Distribution) -> _Part:
    scale = d.mean if 0 < d.mean < math.inf else 1.0
    if isinstance(d, Deterministic):
        return _Part(lambda t: (t < d.value).astype(float), np.array([d.value]), scale)
    if isinstance(d, Empirical):
        xs = np.sort(np.asarray(d.samples, dtype=float))
        return _Part(lambda t: 1.0 - np.searchsorted(xs, t, side="right") / xs.size,
                     np.unique(xs), scale)
    if isinstance(d, HyperExponential):
        probs, means = np.asarray(d.probs), np.asarray(d.means)
        return _Part(lambda t: np.exp(-t[..., None] / means) @ probs, np.empty(0), scale)
    frozen, points = _scipy(d)
    return _Part(frozen.sf, np.asarray(points, dtype=float), scale)


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


def _max_of(parts: Sequence[tuple[_Part, int]]) -> _Part:
    """The maximum of independent times; each part comes with its multiplicity."""

    def sf(t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_cdf = sum(count * np.log1p(-part.sf(t)) for part, count in parts)
        return -np.expm1(log_cdf)

    points = np.unique(np.concatenate([part.points for part, _ in parts]))
    return _Part(sf, points, max(part.scale for part, _ in parts))


def _max_of_times(times: Sequence[TimeLike]) -> _Part:
    if not times:
        raise ValueError("need at least one time")
    return _max_of([(_part(x), count) for x, count in Counter(times).items()])


def _order_statistic(part: _Part, n: int, r: int) -> _Part:
    """The r-th smallest of n iid copies: ``P(X(r) > t) = I_S(t)(n - r + 1, r)``."""
    if not 1 <= r <= n:
        raise ValueError(f"need 1 <= r <= n, got r={r}, n={n}")
    return _Part(lambda t: betainc(n - r + 1, r, part.sf(t)), part.points, part.scale)


def _rth_of_times(times: Sequence[TimeLike], r: int) -> _Part:
    """The ``r``-th smallest of independent times; the maximum when ``r`` is their number.

    ``P(X(r) > t)`` is the probability that fewer than ``r`` times are ``<= t``: the
    Poisson-binomial probabilities of the counts ``0 .. r-1``, built up one time at a
    time from the cdfs; iid times take the Beta transform of :func:`_order_statistic`.
    """
    if r == len(times):
        return _max_of_times(times)
    if not 1 <= r <= len(times):
        raise ValueError(f"need 1 <= r <= n, got r={r}, n={len(times)}")
    if len(set(times)) == 1:
        return _order_statistic(_part(times[0]), len(times), r)
    parts = [_part(x) for x in times]

    def sf(t: np.ndarray) -> np.ndarray:
        fewer = np.zeros((*t.shape, r))  # P(exactly k of the times so far are <= t), k < r
        fewer[..., 0] = 1.0
        for part in parts:
            above = part.sf(t)[..., None]
            fewer[..., 1:] = fewer[..., 1:] * above + fewer[..., :-1] * (1.0 - above)
            fewer[..., 0] *= above[..., 0]
        return fewer.sum(axis=-1)

    points = np.unique(np.concatenate([part.points for part in parts]))
    return _Part(sf, points, max(part.scale for part in parts))


def _mixture_of_shifts(final: _Part, shifts: np.ndarray, weights: np.ndarray) -> _Part:
    """``final + D`` for an independent ``D`` taking ``shifts`` with ``weights``."""
    return _Part(lambda t: final.sf(t[..., None] - shifts) @ weights, np.empty(0),
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


def _quantiles(part: _Part, probs: Sequence[float], rtol: float = 4 * np.finfo(float).eps
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


def _moments(part: _Part, orders: Sequence[int] = (1,), rtol: float = _RTOL) -> np.ndarray:
    """Raw moments ``E[X^j] = int j t^(j-1) P(X > t) dt`` for each order ``j``."""
    powers = np.asarray(orders)

    def integrand(t: np.ndarray) -> np.ndarray:
        return powers * t[:, None] ** (powers - 1) * part.sf(t)[:, None]

    grid = _quantiles(part, _GRID_PROBS, 1e-6)
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


def _mean_variance(part: _Part, rtol: float = _RTOL) -> tuple[float, float]:
    first, second = _moments(part, (1, 2), rtol)
    return float(first), max(0.0, float(second - first**2))


def _check_probability(p: float) -> None:
    if not 0 < p < 1:
        raise ValueError(f"probability must lie in (0, 1), got {p}")


# -- maxima and order statistics ---------------------------------------------------------


def expected_max_exponential(n: int, mu: float) -> float:
    """``E[max]`` of ``n`` iid exponentials of rate ``mu``: ``H_n / mu``.

    >>> expected_max_exponential(2, 1.0)
    1.5
    """
    return _harmonic(n) / mu


def max_exponential_variance(n: int, mu: float) -> float:
    """Variance of the maximum of ``n`` iid exponentials: ``sum_{i<=n} 1/(i mu)^2``.

    >>> max_exponential_variance(2, 1.0)
    1.25
    """
    return sum(1.0 / (i * mu) ** 2 for i in range(1, n + 1))


def expected_max(dists: Sequence[TimeLike], *, rtol: float = _RTOL) -> float:
    """``E[max]`` of independent non-negative times: ``int (1 - prod F_i(t)) dt``.

    Exact up to the integration tolerance ``rtol``; callables must be cdfs of
    non-negative times (applied to numpy arrays when they allow it).

    >>> from qmodel.distributions import Exponential, Deterministic
    >>> round(expected_max([Exponential(1.0)] * 3), 9)      # H_3 = 11/6
    1.833333333
    >>> round(expected_max([Deterministic(1.0), Exponential(1.0)]), 6)   # 1 + e^-1
    1.367879
    """
    return float(_moments(_max_of_times(dists), (1,), rtol)[0])


def quantile_of_max(dists: Sequence[TimeLike], p: float) -> float:
    """The ``p``-quantile of the maximum of independent times: ``prod F_i(t) = p``.

    >>> round(quantile_of_max([Exponential(1.0)] * 2, 0.25), 6)   # (1 - e^-t)^2 = 1/4
    0.693147
    """
    _check_probability(p)
    return float(_quantiles(_max_of_times(dists), [p])[0])


def order_statistic_mean(dist: TimeLike, n: int, r: int) -> float:
    """Mean of the ``r``-th smallest of ``n`` iid copies of ``dist``.

    A quorum read waiting for ``R`` of ``N`` replicas takes the ``R``-th order statistic
    of the replica response times (Bailis et al., PBS, 2012). Numerical, through the
    Beta transform of the cdf (David & Nagaraja, eq. 2.1.3).

    >>> round(order_statistic_mean(Exponential(1.0), 3, 2), 9)   # 1/3 + 1/2
    0.833333333
    """
    return float(_moments(_order_statistic(_part(dist), n, r))[0])


def order_statistic_quantile(dist: TimeLike, n: int, r: int, p: float) -> float:
    """The ``p``-quantile of the ``r``-th smallest of ``n`` iid copies of ``dist``.

    >>> round(order_statistic_quantile(Exponential(1.0), 2, 1, 0.5), 6)   # Exp(2) median
    0.346574
    """
    _check_probability(p)
    return float(_quantiles(_order_statistic(_part(dist), n, r), [p])[0])


# -- fork-join ---------------------------------------------------------------------------


def nelson_tantawi(k: int, lam: float, mu: float) -> float:
    """Mean response time of a ``k``-way fork-join of homogeneous M/M/1 branches.

    ``R_k = [H_k/H_2 + (4 rho / 11)(1 - H_k/H_2)] (12 - rho) / 8 / (mu - lam)`` (Nelson &
    Tantawi 1988, within 5% of simulation for ``k <= 32``); exact for ``k = 2``
    (Flatto & Hahn 1984; Nelson & Tantawi 1985) and ``k = 1`` (M/M/1).
    Raises :class:`~qmodel.errors.UnstableError` when ``rho = lam/mu >= 1``.

    >>> nelson_tantawi(2, 0.5, 1.0)                         # (12 - 0.5) / 8 / 0.5
    2.875
    """
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    rho = lam / mu
    if rho >= 1:
        raise UnstableError(rho, f"{k}-way fork-join branch")
    base = 1.0 / (mu - lam)
    if k == 1:
        return base
    ratio = _harmonic(k) / _harmonic(2)
    return (ratio + 4 * rho / 11 * (1 - ratio)) * (12 - rho) / 8 * base


@dataclass(frozen=True)
class ForkJoinResponse:
    """Response time of a fork-join job, the maximum of its branch sojourn times (the
    R-th smallest for a quorum of R): the mean, the method and ``quantile(p)``, the
    ``p``-quantile."""

    mean: float
    method: str
    quantile: Callable[[float], float] = field(repr=False, compare=False)


def fork_join_response(branch_times: Sequence[TimeLike],
                       quorum: int | None = None) -> ForkJoinResponse:
    """Mean and quantiles of a fork-join response, treating branch times as independent.

    The job goes on when all branches are done, or with a ``quorum`` R when R are: the
    R-th order statistic of the branch times (a quorum read of R of N replicas).
    Branches fed by the same arrivals have associated sojourn times, and for associated
    times the independent maximum is stochastically larger: without a quorum the result
    is an upper bound on the true response (Nelson & Tantawi 1988; Baccelli, Makowski &
    Shwartz 1989); with one it is not a bound (the independent minimum is smaller).

    >>> r = fork_join_response([Exponential(1.0), Exponential(1.0)])
    >>> round(r.mean, 9), r.method
    (1.5, 'approximation(independent branches)')
    >>> round(r.quantile(0.25), 6)
    0.693147
    >>> round(fork_join_response([Exponential(1.0), Exponential(0.5)], quorum=1).mean, 9)
    0.333333333
    """
    part = _rth_of_times(branch_times, quorum or len(branch_times))

    def quantile(p: float) -> float:
        _check_probability(p)
        return float(_quantiles(part, [p])[0])

    return ForkJoinResponse(float(_moments(part)[0]), INDEPENDENT_METHOD, quantile)


def fork_join_moments(branch_times: Sequence[TimeLike],
                      quorum: int | None = None) -> tuple[float, float]:
    """Mean and variance of :func:`fork_join_response` (independent branch times).

    >>> [round(x, 9) for x in fork_join_moments([Exponential(1.0)] * 2)]  # 1/2 + 1, 1/4 + 1
    [1.5, 1.25]
    """
    return _mean_variance(_rth_of_times(branch_times, quorum or len(branch_times)))


# -- makespan of task waves --------------------------------------------------------------


def makespan_moments(n: int, k: int, task: Distribution) -> tuple[float, float, str]:
    """Mean, variance and method of the makespan of ``n`` iid tasks on ``k`` slots.

    Greedy list scheduling: a free slot takes the next task. Exact for exponential tasks
    (``n >= k``: ``n - k`` completions at rate ``k mu``, then the maximum of ``k``
    exponentials), tasks of zero variance (``ceil(n/k) d``), ``n <= k`` (the maximum of
    ``n`` tasks) and ``k = 1`` (a sum). Otherwise ``approximation(renewal slots)``:
    until the last task starts the slots are independent renewal processes started
    together, which keeps the waves of near-deterministic tasks. The last task starts
    at ``T``, the ``(n-k)``-th task end over all slots, whose distribution follows from
    the task-end counts per slot (summed by FFT, or as a normal when ``k`` times their
    range exceeds 8192); with ``t0 = E[T]`` the makespan is ``T + max(X, Y_1 - t0, ...,
    Y_{k-1} - t0)``, ``X`` the last task and ``Y_j`` the first task end after ``t0`` on
    another slot (a renewal integral; Feller vol. II, XI), the two terms taken as
    independent. Sums of two or more tasks are gamma with their exact mean and variance
    above the least task time. Against simulation (lognormal tasks with cv 0.1 to 2,
    gamma, uniform, hyperexponential, Pareto alpha >= 2.2 and empirical tasks, ``n/k``
    from 1.1 to 12; see the tests) the mean is within 4.5%; the variance is rougher,
    within 25% in most cases and up to 70% high in a few (whole waves of
    near-deterministic tasks, one task past a wave of uniform tasks). Tasks of infinite
    variance raise :class:`~qmodel.errors.UnsupportedError` when ``n > k > 1``.

    >>> makespan_moments(20, 10, Deterministic(2.0))
    (4.0, 0.0, 'exact')
    >>> mean, var, method = makespan_moments(11, 10, Exponential(1.0))
    >>> round(mean, 6), method                              # 1/10 + H_10
    (3.028968, 'exact')
    """
    _check_sizes(n, k)
    if task.variance == 0:
        return math.ceil(n / k) * task.mean, 0.0, "exact"
    if n <= k:
        return (*_mean_variance(_max_of([(_part(task), n)])), "exact")
    if isinstance(task, Exponential):
        mu = 1.0 / task.mean
        return ((n - k) / (k * mu) + _harmonic(k) / mu,
                (n - k) / (k * mu) ** 2 + max_exponential_variance(k, mu), "exact")
    if k == 1:
        return n * task.mean, n * task.variance, "exact"
    waves = _waves(n, k, task)
    final_mean, final_var = _mean_variance(waves.final, _MAKESPAN_RTOL)
    return waves.start_mean + final_mean, waves.start_variance + final_var, waves.method


def makespan_quantile(n: int, k: int, task: Distribution, p: float) -> float:
    """The ``p``-quantile of the makespan of ``n`` iid tasks on ``k`` slots.

    Same model and method as :func:`makespan_moments`; beyond the cases with a single
    phase (deterministic tasks, ``n <= k``), the start of the last task and the final
    maximum are convolved as independent (exact for exponential tasks).

    >>> round(makespan_quantile(2, 2, Exponential(1.0), 0.25), 6)
    0.693147
    """
    _check_sizes(n, k)
    _check_probability(p)
    if task.variance == 0:
        return math.ceil(n / k) * task.mean
    if n <= k:
        return float(_quantiles(_max_of([(_part(task), n)]), [p])[0])
    waves = _waves(n, k, task)
    nodes, weights = np.polynomial.legendre.leggauss(_CONVOLUTION_NODES)
    shifts = _quantiles(waves.start, (nodes + 1) / 2, 1e-9)
    return float(_quantiles(_mixture_of_shifts(waves.final, shifts, weights / 2), [p])[0])


def quorum_moments(n: int, k: int, task: Distribution, r: int) -> tuple[float, float, str]:
    """Mean, variance and method of the time until ``r`` of ``n`` iid tasks on ``k`` slots
    have ended (greedy list scheduling; ``r = n`` is :func:`makespan_moments`).

    Exact when every task starts at once (``n <= k``: the r-th order statistic), for
    exponential tasks (the j-th end comes after an exponential time of rate
    ``min(k, n - j + 1) mu``) and for tasks of zero variance (``ceil(r/k) d``); other
    tasks raise :class:`~qmodel.errors.UnsupportedError` when ``r < n`` and ``n > k``.

    >>> quorum_moments(4, 2, Exponential(1.0), 2)           # two ends at rate 2
    (1.0, 0.5, 'exact')
    """
    _check_sizes(n, k)
    if not 1 <= r <= n:
        raise ValueError(f"need 1 <= r <= n, got r={r}, n={n}")
    if r == n:
        return makespan_moments(n, k, task)
    if task.variance == 0:
        return math.ceil(r / k) * task.mean, 0.0, "exact"
    if n <= k:
        return (*_mean_variance(_order_statistic(_part(task), n, r)), "exact")
    if isinstance(task, Exponential):
        means = [task.mean / min(k, n - j) for j in range(r)]
        return sum(means), sum(m * m for m in means), "exact"
    raise UnsupportedError("forkjoin", "a quorum of tasks on fewer slots than tasks needs "
                           "exponential or fixed task times; use simulation")


def aria_bounds(n: int, k: int, mean: float, max_task: float) -> tuple[float, float]:
    """Lower and upper bound of a stage makespan (Verma, Cherkasova & Campbell, ARIA 2011).

    ``n`` tasks of average duration ``mean`` and longest ``max_task`` on ``k`` slots under
    greedy assignment: ``n mean / k <= makespan <= (n - 1) mean / k + max_task``.

    >>> aria_bounds(10, 4, 2.0, 5.0)
    (5.0, 9.5)
    """
    _check_sizes(n, k)
    return n * mean / k, (n - 1) * mean / k + max_task


def aria_bounds_expected(n: int, k: int, task: TimeLike) -> tuple[float, float]:
    """:func:`aria_bounds` with the task mean and the expected maximum of ``n`` tasks.

    Both bound the expected makespan of iid tasks.

    >>> [round(b, 9) for b in aria_bounds_expected(2, 1, Exponential(1.0))]
    [2.0, 2.5]
    """
    part = _part(task)
    mean = float(_moments(part)[0])
    return aria_bounds(n, k, mean, float(_moments(_max_of([(part, n)]))[0]))


def slots_for_deadline(n: int, task: Distribution, deadline: float,
                       quantile: float | None = None) -> int | None:
    """Fewest slots whose makespan (mean, or its ``quantile``) meets ``deadline``.

    Uses :func:`makespan_moments` or :func:`makespan_quantile` and bisects on ``k``,
    as the makespan does not grow with more slots. None when even ``k = n`` misses.

    >>> slots_for_deadline(10, Deterministic(1.0), 3.0)          # ceil(10/4) = 3 waves
    4
    """
    def meets(k: int) -> bool:
        if quantile is None:
            return makespan_moments(n, k, task)[0] <= deadline
        return makespan_quantile(n, k, task, quantile) <= deadline

    if not meets(n):
        return None
    lo, hi = 0, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if meets(mid) else (mid, hi)
    return hi


def _check_sizes(n: int, k: int) -> None:
    if n < 1 or k < 1:
        raise ValueError(f"need n >= 1 tasks and k >= 1 slots, got n={n}, k={k}")


def _harmonic(n: int) -> float:
    return sum(1.0 / i for i in range(1, n + 1))


@dataclass(frozen=True, eq=False)
class _Waves:
    """A makespan as the start of the last task plus an independent final maximum."""

    start: _Part
    start_mean: float
    start_variance: float
    final: _Part
    method: str


def _waves(n: int, k: int, task: Distribution) -> _Waves:
    """The two phases of the makespan of ``n > k`` tasks (see :func:`makespan_moments`)."""
    part = _part(task)
    starts = n - k
    if isinstance(task, Exponential):
        rate = k / task.mean
        start = _Part(lambda t: gammaincc(starts, rate * t), np.empty(0), starts / rate)
        return _Waves(start, starts / rate, starts / rate**2, _max_of([(part, k)]), "exact")
    if not math.isfinite(task.scv):
        raise UnsupportedError("forkjoin", "the makespan of more tasks than slots needs a "
                               "finite task variance (Pareto alpha > 2); use simulation")
    floor = float(_quantiles(part, [1e-12], 1e-9)[0])
    renewal = _Renewal(part, floor, task.mean - floor, task.variance)
    start = _Part(lambda t: _fewer_ends(renewal, k, starts, t), part.points,
                  (starts / k + 1) * task.mean)
    t0, variance = _mean_variance(start, _MAKESPAN_RTOL)
    final = _max_of([(part, 1), (_residual(renewal, t0), k - 1)])
    return _Waves(start, t0, variance, final, RENEWAL_METHOD)


@dataclass(frozen=True, eq=False)
class _Renewal:
    """Task ends on one slot: partial sums ``S_a`` of iid tasks started at time 0.

    ``P(S_1 <= t)`` is the task cdf; for ``a >= 2``, ``S_a - a floor`` is taken as a
    gamma with the exact mean ``a excess`` and variance ``a variance`` (``floor`` is
    the least task time), capped by ``F(t)^a`` and kept non-increasing in ``a``.
    """

    task: _Part
    floor: float
    excess: float
    variance: float

    def cdf(self, t: np.ndarray, a: np.ndarray) -> np.ndarray:
        """``P(S_a <= t)`` for rows ``t`` and columns ``a``."""
        f = 1.0 - self.task.sf(t)[:, None]
        many = np.maximum(a, 1)
        scale = self.variance / self.excess
        g = gammainc(many * self.excess / scale, np.maximum(t[:, None] - many * self.floor, 0)
                     / scale)
        g = np.where(a == 1, f, np.minimum(g, f**many))
        return np.minimum.accumulate(np.where(a == 0, 1.0, g), axis=1)

    def renewals(self, t: np.ndarray) -> np.ndarray:
        """Mean number of task ends in ``(0, t]``, the renewal function ``U(t)``."""
        top = 16
        while self.cdf(t[-1:], np.array([top]))[0, 0] >= _EPS:
            top *= 2
        return self.cdf(t, np.arange(1, top + 1)).sum(axis=1)


def _fewer_ends(renewal: _Renewal, k: int, starts: int, t: np.ndarray) -> np.ndarray:
    """``P(N_1(t) + ... + N_k(t) < starts)`` over iid slots, in chunks of similar ``t``."""
    out = np.empty(t.shape)
    order = np.argsort(t)
    for rows in np.array_split(order, max(1, math.ceil(t.size / _ROW_CHUNK))):
        out[rows] = _fewer_ends_chunk(renewal, k, starts, t[rows])
    return out


def _fewer_ends_chunk(renewal: _Renewal, k: int, starts: int, t: np.ndarray) -> np.ndarray:
    """Per slot, counts below ``lo`` have probability < 1e-16 for every row; counts of
    ``lo + below`` or more are lumped, as any one of them reaches ``starts``."""
    surely = renewal.cdf(t[:1], np.arange(-(-starts // k) + 1))[0] >= 1 - _EPS
    lo = int(np.count_nonzero(surely)) - 1
    below = starts - k * lo
    if below <= 0:
        return np.zeros(t.shape)
    rare = renewal.cdf(t[-1:], np.arange(lo, lo + below + 1))[0] < _EPS
    hi = lo + (int(np.argmax(rare)) if rare.any() else below)
    if k * (hi - lo) < below:
        return np.ones(t.shape)
    g = renewal.cdf(t, np.arange(lo, hi + 1))
    pmf = g - np.concatenate([g[:, 1:], np.zeros((t.size, 1))], axis=1)
    if k * (hi - lo) > _EXACT_SUM_CELLS:
        return _normal_sum_below(pmf, k, below)
    size = 1 << (k * (hi - lo)).bit_length()
    out = np.empty(t.shape)
    for rows in np.array_split(np.arange(t.size), max(1, t.size * size // _FFT_CELLS)):
        total = np.fft.irfft(_power(np.fft.rfft(pmf[rows], size), k), size)
        out[rows] = total[:, :below].sum(axis=1)
    return out


def _normal_sum_below(pmf: np.ndarray, k: int, below: int) -> np.ndarray:
    """``P(sum of k iid counts < below)`` by the central limit theorem, counts ``0, 1, ...``
    with probabilities ``pmf`` per row (continuity-corrected)."""
    a = np.arange(pmf.shape[1])
    mean = pmf @ a
    var = np.maximum(pmf @ a**2 - mean**2, _EPS)
    return stats.norm.cdf((below - 0.5 - k * mean) / np.sqrt(k * var))


def _power(z: np.ndarray, k: int) -> np.ndarray:
    """``z ** k`` by repeated squaring (several times faster than complex ``**``)."""
    result = np.ones_like(z)
    while k:
        if k & 1:
            result = result * z
        k >>= 1
        if k:
            z = z * z
    return result


def _residual(renewal: _Renewal, t0: float) -> _Part:
    """Time from ``t0`` to the first task end after it on a slot busy since 0.

    ``P(Y - t0 > w) = S(t0 + w) + int_(0, t0] S(t0 + w - u) dU(u)``, summed on a grid of
    ``u`` and interpolated linearly between grid values of ``w``; both grids are even
    steps over the bulk of the task time plus its quantiles, down to 1e-12 in the tail.
    """
    task = renewal.task
    bulk = _quantiles(task, np.linspace(0.001, 0.999, 256), 1e-6)
    tail = _quantiles(task, 1 - np.geomspace(1e-3, 1e-12, 64), 1e-6)
    knots = np.concatenate([bulk, tail, task.points])
    reach = min(t0, tail[-1])
    back = _grid(min(reach, bulk[-1]), 256, np.append(knots[knots < reach], reach))
    u = t0 - back[::-1]
    mass = np.diff(renewal.renewals(u))
    mid = (u[1:] + u[:-1]) / 2
    w = _grid(bulk[-1], 512, knots[knots <= tail[-1]])
    values = task.sf(t0 + w) + task.sf(t0 + w[:, None] - mid) @ mass
    return _Part(lambda x: np.interp(x, w, values, right=0.0), w, task.scale)


def _grid(end: float, steps: int, extra: np.ndarray) -> np.ndarray:
    """``steps`` even steps over ``[0, end]`` merged with the points ``extra``."""
    return np.unique(np.concatenate([np.linspace(0.0, end, steps + 1), extra]))
