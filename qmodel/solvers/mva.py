"""Closed and mixed product-form queueing networks: exact MVA, approximate MVA and bounds.

Pure numeric solvers: the inputs are arrays, not model files. Station ``k`` (of ``K``) is
a ``"queue"`` (load-independent single server: FCFS exponential, PS or LCFS-PR, the
product-form disciplines), a ``"delay"`` (infinite server), or a multi-server queue, a
``"queue"`` whose ``servers[k] > 1``. Class ``c`` (of ``C``) has population ``N_c`` and
think time ``Z_c``, a delay outside the stations. ``demands[c, k]`` is the service demand
``D_ck`` = visits x mean service time per visit.

* :func:`mva` -- exact Mean Value Analysis (Reiser & Lavenberg 1980): a vectorised
  single-class recursion, the multi-class recursion over the population lattice, and an
  exact, numerically stable solution for single-class networks with multi-server
  stations; multi-class networks with multi-server stations use Seidmann's approximation.
* :func:`schweitzer_amva` -- the Bard-Schweitzer approximate MVA, for large populations.
* :func:`bounds` -- asymptotic and balanced job bounds of a single-class network.
* :func:`mixed_mva` -- networks with both open and closed classes.

Every error a caller can cause is a :class:`qmodel.errors.QModelError`: malformed inputs
raise :class:`~qmodel.errors.ModelError`, open load that saturates a station raises
:class:`~qmodel.errors.UnstableError`, and a network too large for the exact multi-class
recursion raises :class:`~qmodel.errors.UnsupportedError`.

References: Lazowska, Zahorjan, Graham & Sevcik, *Quantitative System Performance*
(1984), ch. 5-8; Reiser & Lavenberg, J. ACM 27(2), 1980; Schweitzer 1979 and Bard 1979
(approximate MVA); Zahorjan, Sevcik, Eager & Galler, CACM 25(2), 1982 (balanced job
bounds); Seidmann, Schweitzer & Shalev-Oren, Large Scale Systems 12, 1987 (multi-server
approximation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln

from qmodel.errors import ModelError, Problem, UnstableError, UnsupportedError

KINDS = ("queue", "delay")
"""Station kinds the solvers accept."""

MAX_LATTICE = 2_000_000
"""Largest population lattice (product of ``N_c + 1``) exact multi-class MVA walks."""

EXACT = "exact"
SEIDMANN = "approximation(Seidmann)"
SCHWEITZER = "approximation(Bard-Schweitzer)"

_MAX_NEWTON = 100
_MAX_NOISE = 1e-6  # coarsest residual accepted when rounding hides a finer one


@dataclass(frozen=True, eq=False)
class ClosedResult:
    """Mean performance of a closed network, per class ``c`` and station ``k``.

    Attributes
    ----------
    throughput : ndarray, shape (C,)
        ``X_c``, think-cycle completions per unit time.
    response_time : ndarray, shape (C,)
        ``R_c``, time spent in the stations per cycle (think time excluded).
    cycle_time : ndarray, shape (C,)
        ``R_c + Z_c``; Little's law gives ``N_c = X_c * cycle_time[c]``.
    station_response : ndarray, shape (C, K)
        Residence time per cycle at station ``k`` (visits x time per visit).
    queue_length : ndarray, shape (C, K)
        Mean number of class-``c`` jobs at station ``k``, waiting or in service.
    utilization : ndarray, shape (K,)
        Busy fraction per server, ``sum_c X_c D[c, k] / servers[k]``; for a delay
        station, the mean number of jobs in service.
    method : str
        ``"exact"`` or ``"approximation(<name>)"``.

    A class with no population has zero throughput, times and queue lengths.
    """

    throughput: np.ndarray
    response_time: np.ndarray
    cycle_time: np.ndarray
    station_response: np.ndarray
    queue_length: np.ndarray
    utilization: np.ndarray
    method: str


@dataclass(frozen=True)
class Bounds:
    """Bounds on a single-class network's throughput ``X`` and response time ``R``.

    Each bound is the tighter of the asymptotic and the balanced job bound; ``n_star`` is
    the knee population ``N* = (D + Z) / D_max`` beyond which the bottleneck saturates.
    """

    x_lower: float
    x_upper: float
    r_lower: float
    r_upper: float
    n_star: float


@dataclass(frozen=True, eq=False)
class MixedResult:
    """Mean performance of a network with open classes ``o`` and closed classes.

    Attributes
    ----------
    closed : ClosedResult
        The closed classes; its ``utilization`` counts the closed classes only.
    open_response_time : ndarray, shape (O,)
        Time an open-class job spends in the network.
    open_station_response : ndarray, shape (O, K)
        Open-class residence time at each station (visits x time per visit).
    open_queue_length : ndarray, shape (O, K)
        Mean number of open-class jobs at each station.
    utilization : ndarray, shape (K,)
        Busy fraction per server of all classes, open and closed.
    method : str
        ``"exact"`` or ``"approximation(Seidmann)"`` (multi-server stations).
    """

    closed: ClosedResult
    open_response_time: np.ndarray
    open_station_response: np.ndarray
    open_queue_length: np.ndarray
    utilization: np.ndarray
    method: str


@dataclass(frozen=True)
class _Network:
    demands: np.ndarray  # (C, K) float
    delay: np.ndarray  # (K,) bool
    population: np.ndarray  # (C,) int
    think: np.ndarray  # (C,) float
    servers: np.ndarray  # (K,) int


def mva(
    demands: ArrayLike,
    kinds: Sequence[str],
    populations: ArrayLike,
    think_times: ArrayLike | None = None,
    servers: ArrayLike | None = None,
) -> ClosedResult:
    """Exact Mean Value Analysis of a closed product-form network.

    Parameters
    ----------
    demands : array_like, shape (C, K), or (K,) for one class
        Service demand of class ``c`` at station ``k``, ``>= 0``.
    kinds : sequence of str, length K
        ``"queue"`` or ``"delay"`` per station.
    populations : int or array_like of int, shape (C,)
        Jobs per class, ``>= 0``.
    think_times : float or array_like, shape (C,), optional
        Think time ``Z_c`` per class (default 0).
    servers : array_like of int, shape (K,), optional
        Servers per ``"queue"`` station (default 1; ignored for delays).

    Returns
    -------
    ClosedResult
        ``method`` is ``"exact"``, or ``"approximation(Seidmann)"`` when two or more
        classes with jobs share a network with a multi-server station.

    Raises
    ------
    ModelError
        Malformed inputs, each problem with its argument path.
    UnsupportedError
        The population lattice of a multi-class network exceeds :data:`MAX_LATTICE`.

    Notes
    -----
    One class: the recursion of Reiser & Lavenberg (1980), vectorised over stations.
    With multi-server stations the single-class solution is exact: the marginal
    queue-length probabilities ``p_k(j|N) = f_k(j) G_-k(N-j) / G(N)`` come from
    normalising constants kept in log space and built only from sums of positive terms,
    so they stay accurate at any load (the classical recursion
    ``p_k(0|n) = 1 - sum_j p_k(j|n)`` loses all precision near saturation). A station
    with at least as many servers as jobs is a delay, exactly. Several classes: exact
    MVA over the population lattice (Lazowska et al. 1984, ch. 7); multi-server stations
    there become a queue with demand ``D/c`` plus a delay ``D(c-1)/c`` (Seidmann et al.
    1987).

    Examples
    --------
    Two balanced queues and two jobs (each job waits behind the other half the time):

    >>> r = mva([1.0, 1.0], ["queue", "queue"], 2)
    >>> float(r.throughput[0]), r.station_response.tolist(), r.method
    (0.6666666666666666, [[1.5, 1.5]], 'exact')
    """
    net = _network(demands, kinds, populations, think_times, servers)
    x, residence, method = _solve_exact(_never_queueing_as_delay(net))
    return _closed_result(net, x, residence, method)


def schweitzer_amva(
    demands: ArrayLike,
    kinds: Sequence[str],
    populations: ArrayLike,
    think_times: ArrayLike | None = None,
    servers: ArrayLike | None = None,
    tol: float = 1e-10,
) -> ClosedResult:
    """Bard-Schweitzer approximate MVA of a closed multi-class network.

    The arrival theorem's queue lengths with one class-``c`` job removed are
    approximated by ``Q_ck (N_c - 1) / N_c`` (Schweitzer 1979). The resulting fixed point
    is solved by a damped Newton iteration on the class throughputs, whose cost does not
    grow with the population (``N = 10**5`` converges in a few iterations).

    Parameters
    ----------
    demands, kinds, populations, think_times, servers
        As for :func:`mva`. Multi-server stations use Seidmann's approximation.
    tol : float
        Relative accuracy of the throughputs at which the iteration stops. Near
        saturation rounding limits it to about ``1e-14 * N``.

    Returns
    -------
    ClosedResult
        ``method`` is ``"approximation(Bard-Schweitzer)"``, or
        ``"approximation(Bard-Schweitzer+Seidmann)"`` with multi-server stations.

    Raises
    ------
    ModelError
        Malformed inputs.
    UnsupportedError
        The iteration did not converge (not observed for valid inputs).

    Examples
    --------
    >>> r = schweitzer_amva([1.0, 1.0], ["queue", "queue"], 100_000)
    >>> round(float(r.throughput[0]), 6), r.method
    (0.99999, 'approximation(Bard-Schweitzer)')
    """
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ModelError([Problem("tol", f"must be a number in (0, 1), got {tol!r}")])
    net = _network(demands, kinds, populations, think_times, servers)
    roomy = _never_queueing_as_delay(net)
    multi = _multi_server(roomy)
    solved, fold = _seidmann(roomy, multi) if multi.any() else (roomy, None)
    x, residence = _on_active_classes(solved, lambda n: _schweitzer(n, tol))
    method = SCHWEITZER if fold is None else "approximation(Bard-Schweitzer+Seidmann)"
    return _closed_result(net, x, residence if fold is None else residence @ fold, method)


def bounds(
    demands: ArrayLike,
    kinds: Sequence[str],
    population: int,
    think_time: float = 0.0,
) -> Bounds:
    """Asymptotic and balanced job bounds of a single-class closed network.

    With ``D`` the total and ``D_max`` the largest queueing demand, ``D_avg = D / K`` over
    the ``K`` queues with demand, and delay-station demands counted in ``Z``:

    * ABA: ``N / (N D + Z) <= X <= min(N / (D + Z), 1 / D_max)``;
    * BJB (Zahorjan et al. 1982; Lazowska et al. 1984, ch. 5):
      ``X >= N / (D + Z + (N-1) D_max / (1 + Z / (N D)))`` and
      ``X <= N / (D + Z + (N-1) D_avg / (1 + Z / D))``.

    The response-time bounds follow from Little's law, ``R = N / X - Z``.

    Parameters
    ----------
    demands : array_like, shape (K,)
        Service demand per station.
    kinds : sequence of str, length K
        ``"queue"`` or ``"delay"`` per station (single-server queues only).
    population : int
        Number of jobs ``N >= 0``; with no jobs every bound is 0.
    think_time : float
        Think time ``Z >= 0``.

    Returns
    -------
    Bounds

    Raises
    ------
    ModelError
        Malformed inputs.

    Examples
    --------
    >>> b = bounds([2.0, 3.0, 1.0], ["queue"] * 3, 20, think_time=4.0)
    >>> round(b.x_lower, 4), round(b.x_upper, 4), round(b.n_star, 4)
    (0.3069, 0.3333, 3.3333)
    """
    net = _network(demands, kinds, population, think_time, None)
    if net.demands.shape[0] != 1:
        raise ModelError([Problem("demands", "bounds are for one class: give a 1-D array")])
    n = int(net.population[0])
    d = net.demands[0]
    d_queue = d[~net.delay]
    d_delay = float(d[net.delay].sum())
    z = float(net.think[0]) + d_delay
    total = float(d_queue.sum())
    d_max = float(d_queue.max(initial=0.0))
    n_star = (total + z) / d_max if d_max > 0 else math.inf
    if n == 0:
        return Bounds(0.0, 0.0, 0.0, 0.0, n_star)
    if d_max == 0:
        return Bounds(n / z, n / z, d_delay, d_delay, n_star)
    d_avg = total / np.count_nonzero(d_queue)
    x_upper = min(1 / d_max, n / (total + z + (n - 1) * d_avg / (1 + z / total)))
    x_lower = n / (total + z + (n - 1) * d_max / (1 + z / (n * total)))
    think = float(net.think[0])
    return Bounds(x_lower, x_upper, n / x_upper - think, n / x_lower - think, n_star)


def mixed_mva(
    arrival_rates: ArrayLike,
    open_demands: ArrayLike,
    demands: ArrayLike,
    kinds: Sequence[str],
    populations: ArrayLike,
    think_times: ArrayLike | None = None,
    servers: ArrayLike | None = None,
) -> MixedResult:
    """Mean Value Analysis of a mixed network: open and closed classes share stations.

    The open classes use a fraction ``U_k = sum_o lambda_o D_ok / servers[k]`` of every
    queue; the closed classes see each queue slowed to ``D_ck / (1 - U_k)`` and are
    solved as in :func:`mva`; an open job then resides
    ``D_ok (1 + Q_k) / (1 - U_k)`` at queue ``k``, where ``Q_k`` is the closed
    classes' queue length there (Lazowska et al. 1984, ch. 7). Multi-server
    stations use Seidmann's approximation.

    Parameters
    ----------
    arrival_rates : array_like, shape (O,)
        Arrival rate ``lambda_o >= 0`` of each open class.
    open_demands : array_like, shape (O, K), or (K,) for one open class
        Service demand of each open class at each station.
    demands, kinds, populations, think_times, servers
        The closed classes and the stations, as for :func:`mva`.

    Returns
    -------
    MixedResult

    Raises
    ------
    ModelError
        Malformed inputs.
    UnstableError
        The open classes alone load a queue to utilization ``>= 1``; the detail names
        the station index.
    UnsupportedError
        As for :func:`mva`.

    Examples
    --------
    An open stream using half of one queue, shared with one closed job:

    >>> r = mixed_mva([0.5], [1.0], [1.0], ["queue"], 1)
    >>> float(r.closed.response_time[0]), float(r.open_response_time[0])
    (2.0, 4.0)
    """
    net = _network(demands, kinds, populations, think_times, servers)
    rates, d_open = _open_classes(arrival_rates, open_demands, net.delay.size)
    queue = ~net.delay
    u_open = np.where(queue, rates @ d_open / net.servers, 0.0)
    worst = int(np.argmax(u_open))
    if u_open[worst] >= 1:
        raise UnstableError(
            float(u_open[worst]), None, f"station {worst} is saturated by the open classes"
        )
    multi = queue & (net.servers > 1) & (_multi_server(net) | (d_open > 0).any(0))
    solved, fold, u_solved = net, None, u_open
    if multi.any():
        solved, fold = _seidmann(net, multi)
        d_open, u_solved = d_open @ _split(net, multi), fold @ u_open
    slowdown = np.where(solved.delay, 1.0, 1 - u_solved)
    inflated = _Network(
        solved.demands / slowdown, solved.delay, solved.population, solved.think, solved.servers
    )
    x, residence, method = _solve_exact(inflated)
    closed_queue = (x[:, None] * residence).sum(0)
    open_residence = d_open * np.where(solved.delay, 1.0, 1 + closed_queue) / slowdown
    if fold is not None:
        residence, open_residence, method = residence @ fold, open_residence @ fold, SEIDMANN
    closed = _closed_result(net, x, residence, method)
    return MixedResult(
        closed=closed,
        open_response_time=_frozen(open_residence.sum(1)),
        open_station_response=_frozen(open_residence),
        open_queue_length=_frozen(rates[:, None] * open_residence),
        utilization=_frozen(closed.utilization + u_open),
        method=method,
    )


# --- exact solution -------------------------------------------------------------------


def _solve_exact(net: _Network) -> tuple[np.ndarray, np.ndarray, str]:
    """Throughputs (C,), residence times (C, K) and method of a validated network."""
    multi = _multi_server(net)
    if np.count_nonzero(net.population) <= 1:
        x, residence = _on_active_classes(net, _single_class)
        return x, residence, EXACT
    if multi.any():
        expanded, fold = _seidmann(net, multi)
        x, residence = _on_active_classes(expanded, _lattice_mva)
        return x, residence @ fold, SEIDMANN
    x, residence = _on_active_classes(net, _lattice_mva)
    return x, residence, EXACT


def _on_active_classes(
    net: _Network, solve: Callable[[_Network], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``solve`` to the classes with jobs; the others get zeros."""
    active = net.population > 0
    x = np.zeros(net.population.size)
    residence = np.zeros(net.demands.shape)
    if active.any():
        sub = _Network(
            net.demands[active], net.delay, net.population[active], net.think[active], net.servers
        )
        x[active], residence[active] = solve(sub)
    return x, residence


def _single_class(net: _Network) -> tuple[np.ndarray, np.ndarray]:
    """Exact throughput (1,) and residence times (1, K) of one class."""
    d, n = net.demands[0], int(net.population[0])
    z = float(net.think[0]) + d[net.delay].sum()
    if _multi_server(net).any():
        return _load_dependent(d, net.delay, net.servers, n, z)
    queue = ~net.delay
    x, r_queue = _mva_recursion(d[queue], z, n)
    residence = d.copy()
    residence[queue] = r_queue
    return x[-1:], residence[None, :]


def _mva_recursion(d: np.ndarray, z: float, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Reiser-Lavenberg recursion over ``n = 1..n_max`` for single-server queues ``d``
    and total delay ``z``: the throughputs ``X(1..n_max)`` and the residence times at
    ``n_max``."""
    x = np.empty(n_max)
    q1 = np.ones_like(d)  # 1 + Q_k(n - 1); residence time R_k(n) = D_k (1 + Q_k(n - 1))
    for n in range(1, n_max + 1):
        x_n = n / (z + d @ q1)
        q1 *= d
        q1 *= x_n
        q1 += 1.0
        x[n - 1] = x_n
    return x, (q1 - 1.0) / x[-1]


def _load_dependent(
    d: np.ndarray, delay: np.ndarray, servers: np.ndarray, n: int, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact single-class solution with multi-server stations, in log space.

    ``G(n)`` is the convolution of the rest of the network (single-server queues and
    delays, whose ``G(n) = 1 / prod X(i)`` comes from the MVA recursion) with each
    multi-server station's ``f_k(j) = D_k^j / prod_{i<=j} min(i, c_k)``. Demands are
    scaled so the bottleneck's per-server demand is 1, keeping the logarithms small.
    """
    scale = float(np.max(np.where(delay, 0.0, d / servers)))
    d, z = d / scale, z / scale
    ld = ~delay & (servers > 1) & (d > 0)
    rest = ~delay & ~ld
    if z + d[rest].sum() > 0:
        x_rest, _ = _mva_recursion(d[rest], z, n)
        log_rest = np.concatenate([[0.0], -np.cumsum(np.log(x_rest))])
    else:  # nothing but the multi-server stations: the rest holds no job
        log_rest = np.full(n + 1, -np.inf)
        log_rest[0] = 0.0
    stations = np.flatnonzero(ld)
    log_g = _log_convolve_all(log_rest, d, servers, stations)
    x = math.exp(log_g[n - 1] - log_g[n])
    queue = np.zeros_like(d)
    for i, k in enumerate(stations):
        others = np.delete(stations, i)
        log_g_minus = _log_convolve_all(log_rest, d, servers, others)
        p = np.exp(_log_f(d[k], int(servers[k]), n) + log_g_minus[::-1] - log_g[n])
        queue[k] = np.arange(n + 1) @ p
    jobs = np.arange(1, n + 1)
    with np.errstate(divide="ignore"):
        log_d = np.log(d)
    for k in np.flatnonzero(rest):
        queue[k] = np.exp(jobs * log_d[k] + log_g[n - 1 :: -1] - log_g[n]).sum()
    residence = np.where(delay, d, queue / x) * scale
    return np.array([x / scale]), residence[None, :]


def _log_convolve_all(
    log_g: np.ndarray, d: np.ndarray, servers: np.ndarray, stations: np.ndarray
) -> np.ndarray:
    for k in stations:
        log_g = _log_convolve_station(log_g, float(d[k]), int(servers[k]))
    return log_g


def _log_convolve_station(log_a: np.ndarray, d: float, c: int) -> np.ndarray:
    """``log`` of the convolution of ``exp(log_a)`` with a ``c``-server station's
    ``f(j) = D^j / prod_{i<=j} min(i, c)``, in ``O(len * c)``.

    The terms ``j < c`` are added one by one; the tail ``j >= c``, where
    ``f(j) = f(c) (D/c)^(j-c)``, is a cumulative log-sum of ``log_a`` tilted by
    ``D/c``.
    """
    n = log_a.size - 1
    log_f = _log_f(d, c, min(c, n))
    out = log_a.copy()
    for j in range(1, min(c, n + 1)):
        out[j:] = np.logaddexp(out[j:], log_f[j] + log_a[: n + 1 - j])
    if c <= n:
        log_r = math.log(d / c)
        tilt = np.arange(n - c + 1) * log_r
        tail = np.logaddexp.accumulate(log_a[: n - c + 1] - tilt) + tilt + log_f[c]
        out[c:] = np.logaddexp(out[c:], tail)
    return out


def _log_f(d: float, c: int, n: int) -> np.ndarray:
    """``log f(j)``, ``j = 0..n``, of a ``c``-server station with demand ``d``."""
    j = np.arange(n + 1)
    busy = np.minimum(j, c)
    return j * math.log(d) - gammaln(busy + 1) - (j - busy) * math.log(c)


def _lattice_mva(net: _Network) -> tuple[np.ndarray, np.ndarray]:
    """Exact multi-class MVA over the population lattice, one population level at a
    time (all lattice points of a level are solved together)."""
    shape = tuple(int(n) + 1 for n in net.population)
    size = math.prod(shape)
    if size > MAX_LATTICE:
        raise UnsupportedError(
            "mva",
            f"the population lattice has {size:,} points (limit {MAX_LATTICE:,}); "
            "use schweitzer_amva for an approximate solution",
        )
    coords = np.indices(shape).reshape(len(shape), -1).T
    strides = np.array([math.prod(shape[c + 1 :]) for c in range(len(shape))])
    level = coords.sum(1)
    order = np.argsort(level, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(level))])
    position = np.empty(size, dtype=np.int64)  # index of a point within its level
    position[order] = np.arange(size) - starts[level[order]]
    queue = ~net.delay
    q_prev = np.zeros((1, net.delay.size))
    for t in range(1, int(level[-1]) + 1):
        points = order[starts[t] : starts[t + 1]]
        n = coords[points]
        prev = np.where(n > 0, position[np.maximum(points[:, None] - strides, 0)], 0)
        residence = net.demands * (1 + q_prev[prev] * queue)
        x = n / (net.think + residence.sum(2))
        q_prev = np.einsum("pc,pck->pk", x, residence)
    return x[0], residence[0]


# --- approximations -------------------------------------------------------------------


def _multi_server(net: _Network) -> np.ndarray:
    """Queues with several servers that some class with jobs visits."""
    used = (net.demands[net.population > 0] > 0).any(0)
    return ~net.delay & (net.servers > 1) & used


def _never_queueing_as_delay(net: _Network) -> _Network:
    """A queue with at least as many servers as jobs in the network is a delay."""
    roomy = ~net.delay & (net.servers >= max(int(net.population.sum()), 1))
    return _Network(net.demands, net.delay | roomy, net.population, net.think, net.servers)


def _split(net: _Network, multi: np.ndarray) -> np.ndarray:
    """Seidmann's split of the ``M`` stations in ``multi``, shape (K, K + M): a
    ``c``-server queue with demand ``D`` becomes a single-server queue with ``D/c`` plus
    a delay with ``D (c-1)/c``."""
    k = net.delay.size
    c = np.where(multi, net.servers, 1).astype(float)
    split = np.zeros((k, k + np.count_nonzero(multi)))
    split[np.arange(k), np.arange(k)] = 1 / c
    split[np.flatnonzero(multi), k + np.arange(np.count_nonzero(multi))] = (c - 1)[multi] / c[multi]
    return split


def _seidmann(net: _Network, multi: np.ndarray) -> tuple[_Network, np.ndarray]:
    """The network after Seidmann's split and the (K + M, K) matrix folding its stations
    back."""
    split = _split(net, multi)
    added = split.shape[1] - net.delay.size
    expanded = _Network(
        net.demands @ split,
        np.concatenate([net.delay, np.ones(added, dtype=bool)]),
        net.population,
        net.think,
        np.ones(split.shape[1], dtype=np.int64),
    )
    return expanded, (split > 0).T.astype(float)


def _schweitzer(net: _Network, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve the Bard-Schweitzer fixed point for the throughputs ``y`` by Newton's method.

    With ``a_ck = y_c D_ck / N_c`` the per-station equations have the closed form
    ``R_ck = D_ck / ((1 - U_k)(1 + a_ck))``, ``U_k = sum_c y_c D_ck / (1 + a_ck)`` (a
    queue is feasible while ``U_k < 1``), leaving ``log(y_c (Z_c + R_c) / N_c) = 0``
    for the ``C`` throughputs.
    """
    queue = ~net.delay
    d = net.demands[:, queue]
    n = net.population.astype(float)
    z = net.think + net.demands[:, net.delay].sum(1)
    y = n / (z + d.sum(1))
    while np.any(_slack(d, n, y) < 0.5):
        y = y / 2
    state = _schweitzer_state(d, n, z, y)
    for _ in range(_MAX_NEWTON):
        residual, jacobian, r_queue, noise = state
        if np.max(np.abs(residual)) <= max(tol, noise):
            break
        y, state = _newton_line_search(d, n, z, y, np.linalg.solve(jacobian, residual), state)
    else:
        raise UnsupportedError("schweitzer_amva", "the fixed-point iteration did not converge")
    residence = net.demands.copy()
    residence[:, queue] = r_queue
    return n / (net.think + residence.sum(1)), residence


def _newton_line_search(
    d: np.ndarray, n: np.ndarray, z: np.ndarray, y: np.ndarray, step: np.ndarray, state: tuple
) -> tuple[np.ndarray, tuple]:
    """Halve the Newton step until the point is feasible and the residual shrinks."""
    size = np.max(np.abs(state[0]))
    lam = 1.0
    while lam > 1e-12:
        trial = y - lam * step
        if np.all(trial > 0):
            new = _schweitzer_state(d, n, z, trial)
            if new is not None and np.max(np.abs(new[0])) < (1 - 1e-4 * lam) * size:
                return trial, new
        lam /= 2
    raise UnsupportedError(
        "schweitzer_amva",
        "the Newton iteration stalled (populations beyond about 10**8 exceed double precision)",
    )


def _schweitzer_state(d: np.ndarray, n: np.ndarray, z: np.ndarray, y: np.ndarray) -> tuple | None:
    """Residual, Jacobian, queue residence times and the residual's rounding noise at
    throughputs ``y``, or None when some queue would be saturated.

    Near saturation ``1 - U_k`` loses digits, so the residual cannot be computed more
    precisely than about ``eps / min_k (1 - U_k)`` (``~ eps * N``).
    """
    slack = _slack(d, n, y)
    if np.any(slack <= 0):
        return None
    a = y[:, None] * d / n[:, None]
    r = d / (slack * (1 + a))
    total = z + r.sum(1)
    residual = np.log(y * total / n)
    du = d / (1 + a) ** 2  # d U_k / d y_j, shape (C, K)
    cross = (d / ((1 + a) * slack**2)) @ du.T
    own = (d**2 / (n[:, None] * slack * (1 + a) ** 2)).sum(1)
    jacobian = (cross - np.diag(own)) / total[:, None] + np.diag(1 / y)
    noise = min(64 * np.finfo(float).eps / slack.min(initial=1.0), _MAX_NOISE)
    return residual, jacobian, r, noise


def _slack(d: np.ndarray, n: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``1 - U_k`` of each queue at throughputs ``y``."""
    return 1 - (y[:, None] * d / (1 + y[:, None] * d / n[:, None])).sum(0)


# --- inputs and results ---------------------------------------------------------------


def _closed_result(
    net: _Network, x: np.ndarray, residence: np.ndarray, method: str
) -> ClosedResult:
    response = residence.sum(1)
    per_server = np.where(net.delay, 1, net.servers)
    return ClosedResult(
        throughput=_frozen(x),
        response_time=_frozen(response),
        cycle_time=_frozen(np.where(net.population > 0, response + net.think, 0.0)),
        station_response=_frozen(residence),
        queue_length=_frozen(x[:, None] * residence),
        utilization=_frozen(x @ net.demands / per_server),
        method=method,
    )


def _network(
    demands: ArrayLike,
    kinds: Sequence[str],
    populations: ArrayLike,
    think_times: ArrayLike | None,
    servers: ArrayLike | None,
) -> _Network:
    """Validate and normalise closed-network inputs; raise one ModelError listing all
    problems."""
    problems: list[Problem] = []
    d = _real_array(demands, "demands", problems)
    if d is not None and d.ndim == 1:
        d = d[None, :]
    if d is not None and (d.ndim != 2 or d.shape[1] == 0):
        problems.append(
            Problem("demands", f"must be a (classes, stations) array, got shape {d.shape}")
        )
        d = None
    if d is None:
        raise ModelError(problems)
    n_classes, n_stations = d.shape
    kinds = list(kinds) if not isinstance(kinds, str) else [kinds]
    if len(kinds) != n_stations:
        problems.append(Problem("kinds", f"needs {n_stations} entries, got {len(kinds)}"))
    problems += [
        Problem(f"kinds[{k}]", f"must be one of {', '.join(KINDS)}, got {kind!r}")
        for k, kind in enumerate(kinds)
        if kind not in KINDS
    ]
    population = _counts(populations, n_classes, "populations", 0, problems)
    think = _vector(0.0 if think_times is None else think_times, n_classes, "think_times", problems)
    server_counts = _counts(1 if servers is None else servers, n_stations, "servers", 1, problems)
    if not problems:
        idle = (think + d.sum(1) <= 0) & (population > 0)
        problems += [
            Problem(f"demands[{c}]", "a class with jobs needs a positive demand or think time")
            for c in np.flatnonzero(idle)
        ]
    if problems:
        raise ModelError(problems)
    delay = np.array([kind == "delay" for kind in kinds], dtype=bool)
    return _Network(d, delay, population, think, server_counts)


def _open_classes(
    rates: ArrayLike, demands: ArrayLike, n_stations: int
) -> tuple[np.ndarray, np.ndarray]:
    problems: list[Problem] = []
    d = _real_array(demands, "open_demands", problems)
    if d is not None and d.ndim == 1:
        d = d[None, :]
    if d is not None and (d.ndim != 2 or d.shape[1] != n_stations):
        problems.append(
            Problem(
                "open_demands",
                f"must be an (open classes, {n_stations}) array, got shape {d.shape}",
            )
        )
    if problems:
        raise ModelError(problems)
    lam = _vector(rates, d.shape[0], "arrival_rates", problems)
    if problems:
        raise ModelError(problems)
    return lam, d


def _real_array(values: ArrayLike, path: str, problems: list[Problem]) -> np.ndarray | None:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        problems.append(Problem(path, "must be an array of numbers"))
        return None
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        problems.append(Problem(path, "must be finite and >= 0"))
        return None
    return array


def _vector(values: ArrayLike, size: int, path: str, problems: list[Problem]) -> np.ndarray:
    array = _real_array(values, path, problems)
    if array is None:
        return np.zeros(size)
    if array.ndim == 0:
        return np.full(size, float(array))
    if array.shape != (size,):
        problems.append(Problem(path, f"needs {size} entries, got shape {array.shape}"))
        return np.zeros(size)
    return array


def _counts(
    values: ArrayLike, size: int, path: str, least: int, problems: list[Problem]
) -> np.ndarray:
    known = len(problems)
    array = _vector(values, size, path, problems)
    whole = (array == np.round(array)) & (array >= least)
    bad = np.flatnonzero(~whole) if len(problems) == known else []
    problems += [
        Problem(f"{path}[{i}]", f"must be an integer >= {least}, got {array[i]:g}") for i in bad
    ]
    return np.round(array).astype(np.int64)


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=float)
    array.setflags(write=False)
    return array
