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

This module holds the public functions and their results; the exact recursions are in
:mod:`.mva_exact`, the approximations in :mod:`.mva_approx`, the input checks in
:mod:`.mva_inputs`.

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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from qmodel.errors import ModelError, Problem, UnstableError
from qmodel.solvers.mva_approx import (
    SCHWEITZER,
    SEIDMANN,
    multi_server,
    never_queueing_as_delay,
    schweitzer,
    seidmann,
    seidmann_split,
)
from qmodel.solvers.mva_exact import on_active_classes, solve_exact
from qmodel.solvers.mva_inputs import MVANetwork, checked_network, checked_open_classes, frozen


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
        The population lattice of a multi-class network exceeds :data:`.mva_exact.MAX_LATTICE`.

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
    net = checked_network(demands, kinds, populations, think_times, servers)
    x, residence, method = solve_exact(never_queueing_as_delay(net))
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
    net = checked_network(demands, kinds, populations, think_times, servers)
    roomy = never_queueing_as_delay(net)
    multi = multi_server(roomy)
    solved, fold = seidmann(roomy, multi) if multi.any() else (roomy, None)
    x, residence = on_active_classes(solved, lambda n: schweitzer(n, tol))
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
    net = checked_network(demands, kinds, population, think_time, None)
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
    net = checked_network(demands, kinds, populations, think_times, servers)
    rates, d_open = checked_open_classes(arrival_rates, open_demands, net.delay.size)
    queue = ~net.delay
    u_open = np.where(queue, rates @ d_open / net.servers, 0.0)
    worst = int(np.argmax(u_open))
    if u_open[worst] >= 1:
        raise UnstableError(
            float(u_open[worst]), None, f"station {worst} is saturated by the open classes"
        )
    multi = queue & (net.servers > 1) & (multi_server(net) | (d_open > 0).any(0))
    solved, fold, u_solved = net, None, u_open
    if multi.any():
        solved, fold = seidmann(net, multi)
        d_open, u_solved = d_open @ seidmann_split(net, multi), fold @ u_open
    slowdown = np.where(solved.delay, 1.0, 1 - u_solved)
    inflated = MVANetwork(
        solved.demands / slowdown, solved.delay, solved.population, solved.think, solved.servers
    )
    x, residence, method = solve_exact(inflated)
    closed_queue = (x[:, None] * residence).sum(0)
    open_residence = d_open * np.where(solved.delay, 1.0, 1 + closed_queue) / slowdown
    if fold is not None:
        residence, open_residence, method = residence @ fold, open_residence @ fold, SEIDMANN
    closed = _closed_result(net, x, residence, method)
    return MixedResult(
        closed=closed,
        open_response_time=frozen(open_residence.sum(1)),
        open_station_response=frozen(open_residence),
        open_queue_length=frozen(rates[:, None] * open_residence),
        utilization=frozen(closed.utilization + u_open),
        method=method,
    )


# --- results --------------------------------------------------------------------------


def _closed_result(
    net: MVANetwork, x: np.ndarray, residence: np.ndarray, method: str
) -> ClosedResult:
    response = residence.sum(1)
    per_server = np.where(net.delay, 1, net.servers)
    return ClosedResult(
        throughput=frozen(x),
        response_time=frozen(response),
        cycle_time=frozen(np.where(net.population > 0, response + net.think, 0.0)),
        station_response=frozen(residence),
        queue_length=frozen(x[:, None] * residence),
        utilization=frozen(x @ net.demands / per_server),
        method=method,
    )

