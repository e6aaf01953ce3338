"""Exact CTMC solver for small Markovian queueing networks.

The network's continuous-time Markov chain is built explicitly: a state is the vector of
job counts at the stations, the generator is a ``scipy.sparse`` matrix, and the stationary
distribution is found by a sparse linear solve. It is exact up to the truncation of
unbounded stations (open networks only; the truncation error is reported) and is meant as
the reference other solvers are checked against, and as the exact solver for finite
buffers. The state space grows as the product of the per-station levels, so only small
networks fit (see :data:`MAX_STATES`).

Every station is ``./M/c`` (exponential service, ``c`` servers or infinitely many) with
FCFS order (the counts do not depend on the order, so any work-conserving order that
ignores service times gives the same numbers).

Why one module of about 550 lines: the two entry points, the state spaces, the generator
and the measures all work on the same private network and state-space records, and are
read together as one construction; the generic parts are elsewhere (the stationary solve
in :mod:`.stationary`, the input checks in :mod:`.ctmc_inputs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy import stats

from qmodel.errors import ModelError, Problem, UnstableError, UnsupportedError
from qmodel.solvers.ctmc_inputs import (
    checked_routing,
    checked_vector,
    is_int,
    is_real,
    station_problems,
)
from qmodel.solvers.stationary import stationary_distribution

MAX_STATES = 2_000_000
"""Default largest state space the solver accepts."""

_SOLVER = "ctmc"


@dataclass(frozen=True)
class MarkovStation:
    """A station with exponential service.

    Parameters
    ----------
    service_rate
        Service rate of one server (jobs per unit time while busy).
    servers
        Number of parallel servers; ``math.inf`` means infinitely many (a delay station).
    capacity
        Most jobs the station holds, waiting plus in service; ``None`` means unbounded.

    >>> MarkovStation(service_rate=2.0, servers=3, capacity=10).servers
    3
    """

    service_rate: float
    servers: int | float = 1
    capacity: int | None = None


@dataclass(frozen=True, eq=False)
class CTMCResult:
    """Stationary measures of a network solved by its CTMC.

    Per-station arrays are indexed like the ``stations`` argument. Rates are per unit time.

    Attributes
    ----------
    throughput
        Service completions per unit time (every completed job was accepted).
    arrival_rate
        Offered arrival rate, external plus routed, including the arrivals that are lost.
    loss_probability
        Fraction of the offered arrivals that find the station full and are lost.
    utilization
        Mean number of busy servers divided by the servers; for infinite servers the mean
        number of busy servers.
    mean_in_system, mean_response, mean_wait
        Mean jobs present; mean time from accepted arrival to departure and mean time
        waiting for a server (both by Little's law on the accepted throughput).
    p_idle
        Probability the station is empty.
    p_wait
        Probability an accepted arrival finds all servers busy, from the rate of accepted
        arrivals into each state (no arrival theorem is assumed).
    n_states
        Size of the state space.
    truncation
        Per station the level the chain was truncated at, ``None`` for stations whose own
        capacity bounds them (and in closed networks).
    boundary_mass
        Stationary probability that some truncated station sits at its truncation level.
        A truncated station loses the arrivals that find it there, so this mass indicates
        the truncation error (the losses it causes show in ``loss_probability``).
    system_throughput
        Open network: jobs leaving the network after service per unit time. Closed
        network: throughput of the reference station.
    system_loss_probability
        Open network: fraction of external arrivals that are lost before leaving the
        network (on entry or on a later routing step); closed network: 0.
    mean_jobs_in_system
        Mean total jobs in the network.
    stationary
        The stationary probability of each state, aligned with ``states``.
    states
        ``(n_states, n_stations)`` array of job counts.
    """

    throughput: np.ndarray
    arrival_rate: np.ndarray
    loss_probability: np.ndarray
    utilization: np.ndarray
    mean_in_system: np.ndarray
    mean_response: np.ndarray
    mean_wait: np.ndarray
    p_idle: np.ndarray
    p_wait: np.ndarray
    n_states: int
    truncation: tuple[int | None, ...]
    boundary_mass: float
    system_throughput: float
    system_loss_probability: float
    mean_jobs_in_system: float
    stationary: np.ndarray
    states: np.ndarray

    def marginal(self, k: int) -> np.ndarray:
        """Distribution of the number of jobs at station ``k``: entry ``n`` is P(N_k = n).

        >>> r = solve_open([MarkovStation(2.0, capacity=2)], [2.0], [[0.0]])
        >>> r.marginal(0).round(4)
        array([0.3333, 0.3333, 0.3333])
        """
        counts = self.states[:, k]
        return np.bincount(counts, weights=self.stationary, minlength=int(counts.max()) + 1)


@dataclass(frozen=True)
class _Network:
    """Validated numeric description of a network; ``levels`` bound the counts."""

    service_rate: np.ndarray
    servers: np.ndarray  # float, np.inf for infinite servers
    levels: np.ndarray
    external: np.ndarray
    routing: np.ndarray

    @property
    def exit(self) -> np.ndarray:
        return np.clip(1.0 - self.routing.sum(axis=1), 0.0, None)


@dataclass(frozen=True)
class _Space:
    """The states in index order and the map from count vectors to their indices."""

    states: np.ndarray
    index: Callable[[np.ndarray], np.ndarray]


def solve_open(
    stations: Sequence[MarkovStation],
    arrival_rates: ArrayLike,
    routing: ArrayLike,
    truncation: int | None = None,
    tail_tolerance: float = 1e-9,
    *,
    max_states: int = MAX_STATES,
) -> CTMCResult:
    """Solve an open network exactly (up to truncation) through its CTMC.

    Jobs arrive at station ``k`` in a Poisson stream of rate ``arrival_rates[k]``; after
    service at ``i`` a job moves to ``j`` with probability ``routing[i, j]`` and leaves with
    ``1 - sum_j routing[i, j]``. A job arriving at a full station, from outside or from
    another station, is lost (blocking = loss); a job fed back to its own station always
    re-enters, since its departure freed a place.

    Stations without a capacity are truncated: the chain treats ``truncation`` (or, when
    it is ``None``, an automatic level) as their capacity, so the results carry a
    truncation error, indicated by :attr:`CTMCResult.boundary_mass`. The automatic level
    takes the arrival rates ``lam`` of the traffic equations ``lam = a + lam @ routing``,
    in which a station with a finite buffer passes on at most its full service rate (so
    ``lam`` bounds the true rates from above), and gives each truncated station the
    smallest level ``L`` whose tail ``P(N >= L)`` in the product-form M/M/c (or M/M/inf)
    marginal with arrival rate ``lam`` is at most ``tail_tolerance`` divided by the number
    of truncated stations; a station no traffic reaches gets level 0. For a Jackson
    network this keeps the truncated mass below ``tail_tolerance``; with finite buffers
    the bound overestimates the load, so the levels are conservative.

    Parameters
    ----------
    stations
        The stations.
    arrival_rates
        External arrival rate into each station.
    routing
        Square matrix of routing probabilities, rows summing to at most 1; every job must
        eventually leave.
    truncation
        Level for every station without a capacity; ``None`` chooses levels automatically.
    tail_tolerance
        Target truncated probability mass for the automatic levels.
    max_states
        Largest state space accepted.

    Raises
    ------
    ModelError
        If an input is malformed.
    UnstableError
        If a station without capacity has a utilization of at least 1 by those traffic
        equations (an upper bound when other stations have finite buffers).
    UnsupportedError
        If the state space exceeds ``max_states``.

    Examples
    --------
    M/M/1 with load 0.5:

    >>> r = solve_open([MarkovStation(service_rate=2.0)], [1.0], [[0.0]])
    >>> round(float(r.mean_in_system[0]), 6), round(float(r.mean_response[0]), 6)
    (1.0, 1.0)
    >>> r.boundary_mass < 1e-9
    True
    """
    problems = station_problems(stations)
    k = len(stations)
    external = checked_vector(arrival_rates, k, "arrival_rates", problems)
    matrix = checked_routing(routing, k, closed=False, problems=problems)
    if truncation is not None and not (is_int(truncation) and truncation >= 1):
        problems.append(Problem("truncation", f"must be a positive integer, got {truncation!r}"))
    if not (is_real(tail_tolerance) and 0.0 < tail_tolerance < 1.0):
        problems.append(Problem("tail_tolerance", f"must be in (0, 1), got {tail_tolerance!r}"))
    if problems:
        raise ModelError(problems)
    offered = _traffic(stations, external, matrix)
    _check_stable(stations, offered)
    levels = _open_levels(stations, offered, truncation, tail_tolerance)
    _check_size(math.prod(int(level) + 1 for level in levels), max_states)
    net = _network(stations, levels, external, matrix)
    space = _grid_space(net.levels)
    pi = stationary_distribution(_generator(net, space), pin=_index(space, _open_mode(net, offered)))
    truncated = tuple(None if s.capacity is not None else lv for s, lv in zip(stations, levels))
    measures = _station_measures(net, space.states, pi)
    exits = float(measures["throughput"] @ net.exit)
    total = float(external.sum())
    return CTMCResult(
        **measures,
        n_states=len(pi),
        truncation=truncated,
        boundary_mass=_boundary_mass(space.states, pi, truncated),
        system_throughput=exits,
        system_loss_probability=1.0 - exits / total if total > 0 else 0.0,
        mean_jobs_in_system=float(measures["mean_in_system"].sum()),
        stationary=_frozen(pi),
        states=_frozen(space.states),
    )


def solve_closed(
    stations: Sequence[MarkovStation],
    routing: ArrayLike,
    population: int,
    *,
    reference: int = 0,
    max_states: int = MAX_STATES,
) -> CTMCResult:
    """Solve a closed network exactly through its CTMC.

    ``population`` jobs circulate forever; after service at ``i`` a job moves to ``j``
    with probability ``routing[i, j]`` (rows sum to 1). The stations reachable from one
    another must form a single closed class (stations outside it just drain).

    Parameters
    ----------
    stations
        The stations; a capacity below ``population`` is refused (blocking in closed
        networks is not modelled).
    routing
        Square stochastic routing matrix.
    population
        Number of jobs, at least 1.
    reference
        Station whose throughput is reported as ``system_throughput`` (cycles per unit
        time when it is visited once per cycle).
    max_states
        Largest state space accepted.

    Raises
    ------
    ModelError
        If an input is malformed.
    UnsupportedError
        If a capacity is below the population or the state space exceeds ``max_states``.

    Examples
    --------
    Two single-server stations in a cycle with 2 jobs: states (2,0), (1,1), (0,2).

    >>> r = solve_closed([MarkovStation(1.0), MarkovStation(1.0)], [[0, 1], [1, 0]], 2)
    >>> r.stationary.round(4), round(r.system_throughput, 4)
    (array([0.3333, 0.3333, 0.3333]), 0.6667)
    """
    problems = station_problems(stations)
    k = len(stations)
    matrix = checked_routing(routing, k, closed=True, problems=problems)
    if not (is_int(population) and population >= 1):
        problems.append(Problem("population", f"must be a positive integer, got {population!r}"))
    if not (is_int(reference) and 0 <= reference < k):
        problems.append(Problem("reference", f"must be a station index, got {reference!r}"))
    if problems:
        raise ModelError(problems)
    small = [i for i, s in enumerate(stations) if s.capacity is not None and s.capacity < population]
    if small:
        raise UnsupportedError(
            _SOLVER,
            f"stations {small} have a capacity below the population {population}; blocking in "
            "closed networks is not modelled (raise the capacities or use simulation)",
        )
    _check_size(math.comb(population + k - 1, k - 1), max_states)
    net = _network(stations, [population] * k, np.zeros(k), matrix)
    space = _simplex_space(k, population)
    pi = stationary_distribution(_generator(net, space), pin=_index(space, _closed_mode(net, population)))
    measures = _station_measures(net, space.states, pi)
    return CTMCResult(
        **measures,
        n_states=len(pi),
        truncation=(None,) * k,
        boundary_mass=0.0,
        system_throughput=float(measures["throughput"][reference]),
        system_loss_probability=0.0,
        mean_jobs_in_system=float(population),
        stationary=_frozen(pi),
        states=_frozen(space.states),
    )


def _traffic(stations: Sequence[MarkovStation], external: np.ndarray, routing: np.ndarray) -> np.ndarray:
    """Upper bound of the offered rates: ``lam = external + min(lam, ceiling) @ routing``.

    A station with a finite buffer completes at most ``ceiling``, its full service rate
    (infinite without a buffer). Iterating this monotone map down from the loss-free
    solution stays above the true offered rates (they satisfy ``lam <= external +
    min(lam, ceiling) @ routing``), so stopping at any iterate is conservative.
    """
    most_busy = [min(s.servers, s.capacity or math.inf) for s in stations]
    ceiling = np.array([s.service_rate for s in stations]) * most_busy
    rates = np.clip(np.linalg.solve(np.eye(len(external)) - routing.T, external), 0.0, None)
    for _ in range(1000):
        bounded = external + np.minimum(rates, ceiling) @ routing
        if np.allclose(bounded, rates, rtol=1e-12, atol=0.0):
            break
        rates = bounded
    return rates


def _check_stable(stations: Sequence[MarkovStation], offered: np.ndarray) -> None:
    for k, (s, lam) in enumerate(zip(stations, offered)):
        if s.capacity is None and math.isfinite(s.servers):
            rho = lam / (s.service_rate * s.servers)
            if rho >= 1:
                raise UnstableError(rho, f"station {k}", "no capacity limit; by the traffic equations")


def _open_levels(
    stations: Sequence[MarkovStation], offered: np.ndarray, truncation: int | None, tolerance: float
) -> list[int]:
    unbounded = [s.capacity is None and lam > 0 for s, lam in zip(stations, offered)]
    share = tolerance / max(sum(unbounded), 1)
    levels = []
    for s, lam, free in zip(stations, offered, unbounded):
        if s.capacity is not None:
            levels.append(s.capacity)
        elif truncation is not None:
            levels.append(truncation)
        else:
            levels.append(_tail_level(lam / s.service_rate, s.servers, share) if free else 0)
    return levels


def _tail_level(load: float, servers: int | float, tolerance: float) -> int:
    """Smallest ``L`` with ``P(N >= L) <= tolerance`` in M/M/c (M/M/inf for ``servers=inf``)."""
    if math.isinf(servers):
        return int(stats.poisson.isf(tolerance, load)) + 1
    rho = load / servers
    top = stats.poisson.pmf(servers, load) / (1 - rho)  # weight of n >= c, relative to pmf
    norm = stats.poisson.cdf(servers - 1, load) + top
    low = np.arange(servers)
    above = (stats.poisson.sf(low, load) - stats.poisson.sf(servers - 1, load) + top) / norm  # P(N > low)
    if above[-1] <= tolerance:
        return int(np.argmax(above <= tolerance)) + 1
    return servers + math.ceil(math.log(tolerance / above[-1]) / math.log(rho))


def _check_size(n_states: int, limit: int) -> None:
    if n_states > limit:
        raise UnsupportedError(
            _SOLVER,
            f"the state space has {n_states:,} states, above the limit of {limit:,}; use "
            "simulation or a product-form solver (MVA / Jackson) instead",
        )


def _network(
    stations: Sequence[MarkovStation], levels: Sequence[int], external: np.ndarray, routing: np.ndarray
) -> _Network:
    return _Network(
        service_rate=np.array([s.service_rate for s in stations], dtype=float),
        servers=np.array([s.servers for s in stations], dtype=float),
        levels=np.array(levels, dtype=np.int64),
        external=external,
        routing=routing,
    )


def _grid_space(levels: np.ndarray) -> _Space:
    """All count vectors with ``0 <= n_k <= levels[k]``, in mixed-radix order."""
    dims = tuple(int(level) + 1 for level in levels)
    states = np.stack(np.unravel_index(np.arange(math.prod(dims)), dims), axis=1).astype(np.int32)
    strides = np.array([math.prod(dims[k + 1 :]) for k in range(len(dims))], dtype=np.int64)
    return _Space(states, lambda s: s @ strides)


def _simplex_space(k: int, population: int) -> _Space:
    """All count vectors of ``k`` stations summing to ``population``, in lexicographic order.

    The index is the lexicographic rank: fixing ``n_0 .. n_{i-1}`` with ``r`` jobs left,
    the vectors with a smaller ``n_i`` number ``C(r + m, m) - C(r - n_i + m, m)`` where
    ``m = k - 1 - i`` stations follow.
    """
    binom = np.ones((k, population + 1), dtype=np.int64)  # binom[m, x] = C(x + m, m)
    for m in range(1, k):
        binom[m] = np.cumsum(binom[m - 1])
    states = np.zeros((1, 0), dtype=np.int32)
    left = np.array([population])
    for _ in range(k - 1):
        reps = left + 1
        value = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        states = np.column_stack([np.repeat(states, reps, axis=0), value])
        left = np.repeat(left, reps) - value
    states = np.column_stack([states, left]).astype(np.int32)
    following = np.arange(k - 1, 0, -1)

    def rank(s: np.ndarray) -> np.ndarray:
        before = population - np.cumsum(s, axis=1) + s
        after = before - s
        return (binom[following, before[:, :-1]] - binom[following, after[:, :-1]]).sum(axis=1)

    return _Space(states, rank)


def _index(space: _Space, state: np.ndarray) -> int:
    return int(space.index(state[None, :])[0])


def _open_mode(net: _Network, offered: np.ndarray) -> np.ndarray:
    """A likely state: each station's mode in its birth-death marginal at the bounding rate."""
    load = offered / net.service_rate
    mode = np.where(load >= net.servers, net.levels, np.minimum(np.floor(load), net.levels))
    return mode.astype(np.int64)


def _closed_mode(net: _Network, population: int) -> np.ndarray:
    """The most likely state of the product form: the ``population`` largest job weights.

    Adding a job to station ``k`` holding ``n`` multiplies the product-form weight by
    ``visits_k / (service_rate_k * min(n + 1, servers_k))``, which does not grow with ``n``,
    so taking the largest such factors over all stations gives a mode.
    """
    visits = stationary_distribution(sp.csr_array(net.routing - np.eye(len(net.routing))))
    demand = visits / net.service_rate
    factors = demand[:, None] / np.minimum(np.arange(1, population + 1), net.servers[:, None])
    top = np.argpartition(-factors.ravel(), population - 1)[:population]
    return np.bincount(top // population, minlength=len(demand))


def _generator(net: _Network, space: _Space) -> sp.csr_array:
    """Generator of the network's chain; arrivals at a full station are lost."""
    n = space.states
    size, k = n.shape
    unit = np.eye(k, dtype=n.dtype)
    full = n >= net.levels
    completion = net.service_rate * np.minimum(n, net.servers)
    src, dst, rate = [np.arange(0)], [np.arange(0)], [np.zeros(0)]

    def add(mask: np.ndarray, delta: np.ndarray, rates: np.ndarray | float) -> None:
        rows = np.flatnonzero(mask)
        src.append(rows)
        dst.append(space.index(n[rows] + delta))
        rate.append(np.broadcast_to(rates, (size,))[rows])

    for j in np.flatnonzero(net.external):
        add(~full[:, j], unit[j], net.external[j])
    for i in range(k):
        busy = n[:, i] > 0
        leave = np.full(size, net.exit[i])
        for j in np.flatnonzero(net.routing[i]):
            if j != i:
                add(busy & ~full[:, j], unit[j] - unit[i], completion[:, i] * net.routing[i, j])
                leave += net.routing[i, j] * full[:, j]
        add(busy & (leave > 0), -unit[i], completion[:, i] * leave)
    src, dst, rate = (np.concatenate(parts) for parts in (src, dst, rate))
    out = np.bincount(src, weights=rate, minlength=size)
    diagonal = np.arange(size)
    return sp.csr_array(
        (np.concatenate([rate, -out]), (np.concatenate([src, diagonal]), np.concatenate([dst, diagonal]))),
        shape=(size, size),
    )


def _station_measures(net: _Network, n: np.ndarray, pi: np.ndarray) -> dict[str, np.ndarray]:
    """Per-station measures from the stationary distribution (see :class:`CTMCResult`)."""
    busy = np.minimum(n, net.servers)
    full = (n >= net.levels).astype(float)
    waits = ((n >= net.servers) & (n < net.levels)).astype(float)
    flow = pi[:, None] * busy * net.service_rate  # completion rate per state and station
    moves = net.routing - np.diag(np.diag(net.routing))
    throughput = flow.sum(axis=0)
    offered = net.external + throughput @ net.routing
    blocked = net.external * (pi @ full) + (moves * (flow.T @ full)).sum(axis=0)
    # a job fed back to its own station finds n - 1 others there
    refed = np.diag(net.routing) * (flow * (n > net.servers)).sum(axis=0)
    waiting = net.external * (pi @ waits) + (moves * (flow.T @ waits)).sum(axis=0) + refed
    servers = np.where(np.isinf(net.servers), 1.0, net.servers)
    queued = pi @ np.maximum(n - net.servers, 0.0)
    in_system = pi @ n
    measures = {
        "throughput": throughput,
        "arrival_rate": offered,
        "loss_probability": _ratio(blocked, offered),
        "utilization": (pi @ busy) / servers,
        "mean_in_system": in_system,
        "mean_response": _ratio(in_system, throughput),
        "mean_wait": _ratio(queued, throughput),
        "p_idle": pi @ (n == 0),
        "p_wait": _ratio(waiting, offered - blocked),
    }
    return {name: _frozen(values) for name, values in measures.items()}


def _boundary_mass(n: np.ndarray, pi: np.ndarray, truncation: tuple[int | None, ...]) -> float:
    cut = [(k, level) for k, level in enumerate(truncation) if level]
    if not cut:
        return 0.0
    columns, levels = zip(*cut)
    return float(pi @ (n[:, list(columns)] == np.array(levels)).any(axis=1))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array

