"""Open networks: traffic equations, Jackson/BCMP product form, and QNA (Whitt 1983).

Visit ratios come from the traffic equations. When the network has product form (Poisson
arrivals; FCFS stations with exponential service equal across classes, PS, LCFS-PR or
infinite servers; no buffers that reject when full) every station is solved exactly as
an isolated M/M/c (Jackson 1963; Baskett, Chandy, Muntz, Palacios 1975). Otherwise each
station is solved with a G/G/c formula whose arrival variability comes from Whitt's
Queueing Network Analyzer: squared coefficients of variation propagated through
departures, splits and merges as a linear system.

A capacity with ``on_full: block`` loses nothing: the jobs beyond it wait outside in
arrival order, so a FCFS station is the same queue without the capacity (and saturates
like one); under other disciplines it limits how many share the servers (simulation).

This module solves the traffic equations, the offered loads and saturation point, and
QNA's arrival variability; each station's formula is in :mod:`.open_stations`, fork-join
blocks in :mod:`.fork_blocks`, the result types in :mod:`.open_types`.
"""

from __future__ import annotations

import math

import numpy as np

from ..model.network import Network, Station, solve_linear
from .fork_blocks import fork_joins
from .open_stations import finite, mmc_stations, service_mixture, station_solution
from .open_types import OpenSolution, StationSolution

SIMULATION_ONLY = {"mlfq": "MLFQ scheduling", "jsq": "join-shortest-queue routing",
                   "primary_secondary": "primary/secondary routing"}


def needs_simulation(network: Network, station: Station) -> str:
    """Why a station needs simulation ('' when the analytic solver handles it)."""
    if station.discipline == "mlfq":
        return "MLFQ scheduling"
    if station.failures is not None:
        return "failures"
    router = network.routers.get(station.component)
    if router is not None and router.policy in SIMULATION_ONLY:
        return SIMULATION_ONLY[router.policy]
    if router is not None and router.rebalance is not None:
        return "rebalancing (push migration)"
    if station.capacity is not None and station.discipline.startswith("priority"):
        return "priorities with a finite capacity"
    if station.capacity is not None and station.on_full == "block" and \
            station.discipline != "fcfs":
        return f"{station.discipline} with on_full: block (only capacity jobs share the " \
               f"servers, the others wait outside in order)"
    if station.kind == "queue" and station.discipline == "priority-preemptive" and \
            station.servers > 1:
        return "preemptive priority with several servers"
    return ""


def is_product_form(network: Network) -> bool:
    """True when Jackson/BCMP product form holds, so per-station results are exact."""
    if network.behaviours:
        return False
    if any(c.interarrival is not None and not c.interarrival.is_exponential
           for c in network.open_classes):
        return False
    if any(r.policy not in ("hash", "random", "partition") for r in network.routers.values()):
        return False
    for s in network.stations:
        if s.kind == "delay":
            continue
        if s.kind != "queue" or s.rejects or needs_simulation(network, s):
            return False
        if s.discipline in ("ps", "lcfs-pr"):
            continue
        if s.discipline != "fcfs":
            return False
        means = {round(d.mean, 15) for d in s.service.values()}
        if len(means) > 1 or not all(d.is_exponential for d in s.service.values()):
            return False
    return True


def solve_open(network: Network) -> OpenSolution:
    """Solve an open network (every class open)."""
    classes = network.open_classes
    rates = np.array([c.rate for c in classes])
    product_form = is_product_form(network)
    single = sum(1 for s in network.stations if s.kind not in ("delay",)) <= 1
    lam = _accepted_traffic(network, rates)
    offered, factor = _offered_load(network, lam)
    unstable = [i for i, (s, rho) in enumerate(zip(network.stations, offered))
                if rho >= 1.0 and not s.rejects]
    scv = np.ones(len(network.stations)) if product_form else \
        _arrival_scv(network, lam, offered)
    solutions = _solve_stations(network, lam, scv, offered, unstable, product_form, single)
    visits = lam / np.where(rates > 0, rates, 1.0)[:, None]
    factor, bottleneck = _saturation(network, rates, factor)
    branch_members, fork_laws, fork_times = fork_joins(network, solutions, lam, scv)
    return OpenSolution(network, rates, visits, lam, scv, solutions, offered, unstable,
                        product_form, factor, bottleneck, branch_members, fork_times,
                        fork_laws)


def _accepted_traffic(network: Network, rates: np.ndarray) -> np.ndarray:
    """Per-class arrival rates at each station when stations that reject when full pass
    on only the jobs they accept: the traffic equations and those stations' losses,
    solved together by fixed-point iteration."""
    lossy = [i for i, s in enumerate(network.stations)
             if s.rejects and not needs_simulation(network, s)]
    accept = np.ones(len(network.stations))
    for _ in range(100):
        lam = _traffic(network, rates, accept)
        new = accept.copy()
        for i in lossy:
            new[i] = 1.0 - finite(network.stations[i], lam[:, i], True).metrics.p_loss
        if np.allclose(new, accept, rtol=0, atol=1e-12):
            break
        accept = new
    return lam


def _traffic(network: Network, rates: np.ndarray, accept: np.ndarray) -> np.ndarray:
    """Per-class arrival rates when a station passes on only its accepted jobs."""
    k = network.join_tasks()
    n = len(network.stations)
    out = np.zeros((len(rates), n))
    for c, cls in enumerate(network.open_classes):
        effective = network.routing[cls.name] * accept[:, None] / k[None, :]
        out[c] = rates[c] * solve_linear(np.eye(n) - effective.T, network.entry[cls.name])
    return out


def _solve_stations(network: Network, lam: np.ndarray, scv: np.ndarray, offered: np.ndarray,
                    unstable: list[int], product_form: bool,
                    single: bool) -> list[StationSolution]:
    """Every station's solution; in a product-form network the plain M/M/c stations are
    solved together (:func:`.open_stations.mmc_stations`), the others one by one."""
    together = {}
    if product_form:
        plain = [i for i, s in enumerate(network.stations) if i not in unstable and
                 s.kind == "queue" and s.discipline == "fcfs" and not s.rejects]
        together = mmc_stations(network, plain, lam)
    poisson = set() if product_form else poisson_stations(network, lam)
    return [together[i] if i in together else
            _solve_station(network, i, lam, scv, offered, unstable, product_form,
                           single or i in poisson)
            for i in range(len(network.stations))]


def poisson_stations(network: Network, lam: np.ndarray) -> set[int]:
    """Stations whose arrivals are exactly a Poisson process: fed only by external
    arrivals of Poisson classes, or by one station that passes a Poisson stream on (a
    fork copying it to its branches, a delay station, an exponential FCFS queue without
    a capacity: Burke's theorem) and is itself fed so, with no loop back."""
    n = len(network.stations)
    sources: list[set[int]] = [set() for _ in range(n)]  # -1: external arrivals
    poisson_classes = True
    for c, cls in enumerate(network.open_classes):
        routing = network.routing[cls.name] * (lam[c] > 0)[:, None]
        for j, i in zip(*np.nonzero(routing)):
            sources[int(i)].add(int(j))
        for i in np.flatnonzero(network.entry[cls.name]):
            sources[int(i)].add(-1)
            poisson_classes &= cls.interarrival is None or cls.interarrival.is_exponential
    found = {i for i in range(n) if sources[i] == {-1}} if poisson_classes else set()
    grown = True
    while grown:
        grown = False
        for i in range(n):
            if i not in found and len(sources[i]) == 1:
                j = next(iter(sources[i]))
                if j in found and j != i and _passes_poisson(network.stations[j]):
                    found.add(i)
                    grown = True
    return found


def _passes_poisson(s: Station) -> bool:
    if s.kind == "fork" and s.branches or s.kind == "delay":
        return True
    return s.kind == "queue" and s.discipline == "fcfs" and not s.rejects and \
        s.failures is None and all(d.is_exponential for d in s.service.values()) and \
        len({d.mean for d in s.service.values()}) == 1


def _solve_station(network: Network, i: int, lam: np.ndarray, scv: np.ndarray,
                   offered: np.ndarray, unstable: list[int], product_form: bool,
                   poisson: bool) -> StationSolution:
    """Station ``i``; ``poisson``: its arrivals are known to be Poisson (it is the only
    queue, or :func:`poisson_stations`)."""
    if i in unstable:
        return StationSolution(None, "unstable", note=f"saturated: offered load {offered[i]:.4g}")
    station = network.stations[i]
    why = needs_simulation(network, station)
    if why:
        return StationSolution(None, "needs simulation", note=f"needs simulation: {why}")
    return station_solution(network, station, lam[:, i], scv[i], product_form, poisson)


# -- offered load and saturation ----------------------------------------------------

def _offered_load(network: Network, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offered load per server at each station and the load factor f (all open rates
    scaled by f) at which it saturates; inf where a station cannot saturate."""
    n = len(network.stations)
    offered = np.zeros(n)
    factor = np.full(n, math.inf)
    per_station = lam.T.tolist()  # per station, the arrival rate of each class
    for i, s in enumerate(network.stations):
        if s.kind in ("delay", "join") or (s.kind == "fork" and s.branches):
            continue
        if s.kind == "batcher":
            offered[i], factor[i] = batcher_load(s, float(lam[:, i].sum()))
            continue
        if math.isinf(s.servers):
            continue
        tasks = s.tasks if s.kind == "fork" else 1
        offered[i] = sum(x * tasks * d.mean for x, d in zip(per_station[i], s.service.values())
                         ) / s.servers
        if not s.rejects and offered[i] > 0:
            factor[i] = 1.0 / offered[i]
    return offered, factor


def batcher_load(s: Station, lam: float) -> tuple[float, float]:
    """A batcher's offered load at item rate ``lam`` and the factor on ``lam`` at which it
    saturates (:func:`.microbatch.batch_metrics`); with no items, the load of the empty
    batches an interval trigger alone still processes."""
    b = s.batch
    if lam <= 0:
        empty = b.interval and b.size is None
        return (b.fixed.mean / (s.servers * b.clock) if empty else 0.0), math.inf
    from . import microbatch

    m = microbatch.batch_metrics(lam, b.interval, b.size, b.fixed, b.per_item, s.servers,
                                 b.window, b.slide)
    return m.utilization, m.saturation_rate / lam


def _saturation(network: Network, rates: np.ndarray,
                factor: np.ndarray) -> tuple[float, int | None]:
    """The smallest load factor f (every open rate times f) at which a station saturates,
    and that station (inf, None: none does). Loads grow linearly in f, except behind a
    station that rejects when full, whose accepted flow levels off: there f is the root
    of "largest load = 1" (Brent, over ``log f``), inf when the load stays below 1."""
    where = int(np.argmin(factor))
    linear = float(factor[where])
    if not math.isfinite(linear):
        return math.inf, None
    if linear <= 0.0 or not any(s.rejects for s in network.stations) or \
            abs(_peak_load(network, rates * linear)[0] - 1.0) <= 1e-12:
        return linear, where

    def excess(x: float) -> float:
        return _peak_load(network, rates * linear * math.exp(x))[0] - 1.0

    if excess(30.0) < 0.0:
        return math.inf, None
    if excess(-30.0) >= 0.0:  # saturated at vanishing rates (a batcher's fixed overhead)
        return linear, where
    from scipy.optimize import brentq  # slow to import: only needed here

    f = linear * math.exp(brentq(excess, -30.0, 30.0, xtol=1e-13))
    return f, _peak_load(network, rates * f)[1]


def _peak_load(network: Network, rates: np.ndarray) -> tuple[float, int]:
    """The largest offered load at ``rates`` among stations that can saturate, and where."""
    offered = _offered_load(network, _accepted_traffic(network, rates))[0]
    offered[[i for i, s in enumerate(network.stations) if s.rejects]] = 0.0
    where = int(np.argmax(offered))
    return float(offered[where]), where


# -- QNA arrival variability ----------------------------------------------------------

def _arrival_scv(network: Network, lam: np.ndarray, offered: np.ndarray) -> np.ndarray:
    """Whitt's QNA traffic-variability equations, solved as one linear system."""
    n = len(network.stations)
    total = lam.sum(axis=0)
    rho = np.minimum(offered, 0.999)
    servers = np.array([s.servers if math.isfinite(s.servers) else 1 for s in network.stations],
                       dtype=float)
    service_scv = np.array([service_mixture(lam[:, i], list(s.service.values()))[1]
                            if s.service else 1.0 for i, s in enumerate(network.stations)])
    for i, s in enumerate(network.stations):
        if s.kind == "delay":
            rho[i] = 0.0  # an infinite-server station passes its arrival process's variability
        if s.kind == "batcher":
            service_scv[i] = _batch_departure_scv(s, total[i])
            rho[i] = 1.0
    rr_size = np.ones(n)
    for router in network.routers.values():
        if router.policy == "round_robin":
            for m in router.members:
                rr_size[network.index[m]] = len(router.members)
    # Arrival scv at j: c_j = b_j + sum_i a_ji c_i, summed over the flows i -> j (per class)
    # with share = the flow's part of j's arrivals and p = its routing probability.
    a = np.zeros((n, n))
    b = np.zeros(n)
    safe_total = np.where(total > 0, total, 1.0)
    depart_const = rho**2 * (1.0 + (service_scv - 1.0) / np.sqrt(servers))
    for c_idx, cls in enumerate(network.open_classes):
        entry = network.entry[cls.name]
        j = np.flatnonzero(entry)
        p = entry[j]
        share = cls.rate * p / safe_total[j]
        np.add.at(b, j, share * (p * cls.interarrival_scv + 1.0 / rr_size[j] - p))
        routing = network.routing[cls.name]
        i, j = np.nonzero(routing * (lam[c_idx] != 0)[:, None])  # flows, row by row
        p = np.minimum(routing[i, j], 1.0)
        share = lam[c_idx, i] * routing[i, j] / safe_total[j]
        np.add.at(a, (j, i), share * p * (1.0 - rho[i] ** 2))
        np.add.at(b, j, share * (p * depart_const[i] + 1.0 / rr_size[j] - p))
    scv = solve_linear(np.eye(n) - a, b)
    return np.where(total > 0, np.maximum(scv, 0.0), 1.0)


def _batch_departure_scv(s: Station, lam: float) -> float:
    """Items leave a batcher together: the variability of a compound stream (mean batch
    size as the index of dispersion) — a rough figure, so downstream is approximate."""
    batch = s.batch
    size = batch.size or math.inf
    if batch.interval is not None:
        size = min(size, lam * batch.clock)
    return max(1.0, size)


__all__ = ["solve_open", "is_product_form", "needs_simulation"]
