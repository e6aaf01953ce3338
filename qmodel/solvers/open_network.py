"""Open networks: traffic equations, Jackson/BCMP product form, and QNA (Whitt 1983).

Visit ratios come from the traffic equations. When the network has product form (Poisson
arrivals; FCFS stations with exponential service equal across classes, PS, LCFS-PR or
infinite servers; no finite buffers) every station is solved exactly as an isolated
M/M/c (Jackson 1963; Baskett, Chandy, Muntz, Palacios 1975). Otherwise each station is
solved with a G/G/c formula whose arrival variability comes from Whitt's Queueing Network
Analyzer: squared coefficients of variation propagated through departures, splits and
merges as a linear system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..distributions import Distribution
from ..errors import UnstableError
from ..model.network import Network, Station
from . import single_station  # TEMP-LAZY
from .phase_type import PhaseType, fit_two_moments, zero


@dataclass
class StationSolution:
    """Everything the result builder needs about one station."""

    metrics: single_station.StationMetrics | None
    method: str
    class_response: np.ndarray | None = None  # mean response per visit, per class
    note: str = ""
    response: PhaseType | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class OpenSolution:
    network: Network
    class_rates: np.ndarray          # [C]
    visits: np.ndarray               # [C, n] per job of each class
    lam: np.ndarray                  # [C, n] offered arrival rate per class and station
    arrival_scv: np.ndarray          # [n]
    stations: list[StationSolution]
    offered: np.ndarray              # [n] offered load per server
    unstable: list[int]
    product_form: bool
    saturation_factor: float
    bottleneck: int | None
    branch_members: dict[int, set[int]]  # fork index -> stations inside its branches
    fork_times: dict[int, np.ndarray]     # fork index -> E[max branch time] per class


SIMULATION_ONLY = {"mlfq": "MLFQ scheduling", "jsq": "join-shortest-queue routing"}


def needs_simulation(network: Network, station: Station) -> str:
    """Why a station needs simulation ('' when the analytic solver handles it)."""
    if station.discipline == "mlfq":
        return "MLFQ scheduling"
    if station.failures is not None:
        return "failures"
    router = network.routers.get(station.component)
    if router is not None and router.policy == "jsq":
        return "join-shortest-queue routing"
    if router is not None and router.rebalance is not None:
        return "rebalancing (push migration)"
    if station.kind == "queue" and station.discipline == "priority-preemptive" and \
            (station.servers or 1) > 1:
        return "preemptive priority with several servers"
    return ""


def is_product_form(network: Network) -> bool:
    """True when Jackson/BCMP product form holds, so per-station results are exact."""
    if any(c.interarrival is not None and not c.interarrival.is_exponential
           for c in network.open_classes):
        return False
    if any(r.policy not in ("hash", "random", "partition") for r in network.routers.values()):
        return False
    for s in network.stations:
        if s.kind == "delay":
            continue
        if s.kind != "queue" or s.capacity is not None or needs_simulation(network, s):
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
    accept = np.ones(len(network.stations))
    has_loss = any(s.capacity is not None for s in network.stations)
    for _ in range(100 if has_loss else 1):
        lam = _traffic(network, rates, accept)
        offered, linear = _offered_load(network, lam)
        unstable = [i for i, rho in enumerate(offered) if rho >= 1.0]
        scv = np.ones(len(network.stations)) if product_form else \
            _arrival_scv(network, lam, offered)
        solutions = [_solve_station(network, i, lam, scv, offered, unstable, product_form, single)
                     for i in range(len(network.stations))]
        new_accept = np.array([1.0 - sol.metrics.p_loss if sol.metrics else 1.0
                               for sol in solutions])
        if np.allclose(new_accept, accept, rtol=0, atol=1e-12):
            break
        accept = new_accept
    visits = lam / np.where(rates > 0, rates, 1.0)[:, None]
    factor, bottleneck = _saturation(linear)
    branch_members, fork_times = _fork_joins(network, visits, solutions, lam)
    return OpenSolution(network, rates, visits, lam, scv, solutions, offered, unstable,
                        product_form, factor, bottleneck, branch_members, fork_times)


def _traffic(network: Network, rates: np.ndarray, accept: np.ndarray) -> np.ndarray:
    """Per-class arrival rates when a station passes on only its accepted jobs."""
    k = network.join_tasks()
    n = len(network.stations)
    out = np.zeros((len(rates), n))
    for c, cls in enumerate(network.open_classes):
        effective = network.routing[cls.name] * accept[:, None] / k[None, :]
        out[c] = rates[c] * np.linalg.solve(np.eye(n) - effective.T, network.entry[cls.name])
    return out


def _solve_station(network: Network, i: int, lam: np.ndarray, scv: np.ndarray,
                   offered: np.ndarray, unstable: list[int], product_form: bool,
                   single: bool) -> StationSolution:
    if i in unstable:
        return StationSolution(None, "unstable", note=f"saturated: offered load {offered[i]:.4g}")
    station = network.stations[i]
    why = needs_simulation(network, station)
    if why:
        return StationSolution(None, "needs simulation", note=f"needs simulation: {why}")
    return _station(network, station, lam[:, i], scv[i], product_form, single)


# -- offered load and saturation ----------------------------------------------------

def _offered_load(network: Network, lam: np.ndarray) -> tuple[np.ndarray, list]:
    """Offered load per server at each station and its affine form a + b·f in the load
    factor f (all open rates scaled by f); None where a station cannot saturate."""
    n = len(network.stations)
    offered = np.zeros(n)
    linear: list[tuple[float, float] | None] = [None] * n
    for i, s in enumerate(network.stations):
        total = lam[:, i].sum()
        if s.kind in ("delay", "join") or (s.kind == "fork" and s.branches):
            continue
        if s.kind == "batcher":
            a, b = _batcher_load(s, total)
        elif s.kind == "fork":
            if s.servers is None:
                continue
            work = sum(lam[c, i] * s.tasks * d.mean for c, d in enumerate(s.service.values()))
            a, b = 0.0, work / s.servers
        else:
            if s.servers is None:
                continue
            work = sum(lam[c, i] * d.mean for c, d in enumerate(s.service.values()))
            a, b = 0.0, work / s.servers
        offered[i] = a + b
        if s.capacity is None:
            linear[i] = (a, b)
    return offered, linear


def _batcher_load(s: Station, lam: float) -> tuple[float, float]:
    batch = s.batch
    if batch.interval is not None:
        a = batch.fixed.mean / (s.servers * batch.interval)
        return a, lam * batch.per_item.mean / s.servers
    per_item = batch.fixed.mean / batch.size + batch.per_item.mean
    return 0.0, lam * per_item / s.servers


def _saturation(linear: list) -> tuple[float, int | None]:
    best, where = math.inf, None
    for i, ab in enumerate(linear):
        if ab is None or ab[1] <= 0:
            continue
        factor = (1.0 - ab[0]) / ab[1]
        if factor < best:
            best, where = factor, i
    return best, where


# -- QNA arrival variability ----------------------------------------------------------

def _arrival_scv(network: Network, lam: np.ndarray, offered: np.ndarray) -> np.ndarray:
    """Whitt's QNA traffic-variability equations, solved as one linear system."""
    n = len(network.stations)
    total = lam.sum(axis=0)
    rho = np.minimum(offered, 0.999)
    servers = np.array([s.servers or 1 for s in network.stations], dtype=float)
    service_scv = np.array([_mixture(lam[:, i], list(s.service.values()))[1] if s.service else 1.0
                            for i, s in enumerate(network.stations)])
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
    a = np.zeros((n, n))
    b = np.zeros(n)
    safe_total = np.where(total > 0, total, 1.0)
    for c_idx, cls in enumerate(network.open_classes):
        entry = network.entry[cls.name]
        for j in np.nonzero(entry)[0]:
            p = entry[j]
            share = cls.rate * p / safe_total[j]
            b[j] += share * (p * cls.interarrival_scv + 1.0 / rr_size[j] - p)
        routing = network.routing[cls.name]
        for i in np.nonzero(lam[c_idx])[0]:
            out = routing[i]
            for j in np.nonzero(out)[0]:
                p = min(out[j], 1.0)
                share = lam[c_idx, i] * out[j] / safe_total[j]
                depart_const = rho[i] ** 2 * (1.0 + (service_scv[i] - 1.0) / math.sqrt(servers[i]))
                a[j, i] += share * p * (1.0 - rho[i] ** 2)
                b[j] += share * (p * depart_const + 1.0 / rr_size[j] - p)
    scv = np.linalg.solve(np.eye(n) - a, b)
    return np.where(total > 0, np.maximum(scv, 0.0), 1.0)


def _batch_departure_scv(s: Station, lam: float) -> float:
    """Items leave a batcher together: the variability of a compound stream (mean batch
    size as the index of dispersion) — a rough figure, so downstream is approximate."""
    batch = s.batch
    size = lam * batch.interval if batch.interval is not None else batch.size
    return max(1.0, size)


def _mixture(lam: np.ndarray, dists: list[Distribution]) -> tuple[float, float]:
    """Mean and scv of the service time seen at a station (mixture over classes)."""
    total = lam.sum()
    if total <= 0:
        w = np.full(len(dists), 1.0 / len(dists))
    else:
        w = lam / total
    mean = float(sum(wi * d.mean for wi, d in zip(w, dists)))
    second = float(sum(wi * d.second_moment for wi, d in zip(w, dists)))
    return mean, (second / mean**2 - 1.0) if mean > 0 else 0.0


# -- one station -----------------------------------------------------------------------

def _station(network: Network, s: Station, lam_c: np.ndarray, ca2: float,
             product_form: bool, single: bool) -> StationSolution:
    priorities = np.array([c.priority for c in network.open_classes])
    poisson_in = product_form or (single and math.isclose(ca2, 1.0))
    if s.kind == "delay":
        return _delay(s, lam_c)
    if s.kind == "join":
        return StationSolution(_zero(lam_c.sum()), "exact")
    if s.kind == "fork" and s.branches:
        return StationSolution(_zero(lam_c.sum()), "exact")
    if s.kind == "fork":
        return _pool_fork(s, lam_c, ca2)
    if s.kind == "batcher":
        return _batcher(s, lam_c)
    if s.discipline in ("priority", "priority-preemptive"):
        return _priority(s, lam_c, priorities, ca2, poisson_in)
    return _queue(s, lam_c, ca2, poisson_in, product_form)


def _label(method: str, poisson_in: bool, product_form: bool) -> str:
    if product_form:
        return "exact"
    if poisson_in:
        return method
    inner = method[len("approximation("):-1] if method.startswith("approximation(") else method
    return f"approximation(QNA, {inner})" if inner != "exact" else "approximation(QNA)"


def _zero(lam: float, wait: float = 0.0) -> single_station.StationMetrics:
    """A station that takes no time of its own but ``wait`` (a fork, a join's sync wait)."""
    return single_station.StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=0.0, busy_servers=0.0,
        mean_in_queue=lam * wait, mean_in_system=lam * wait, mean_wait=wait,
        mean_response=wait, p_wait=0.0, p_idle=1.0, p_loss=0.0,
        response=fit_two_moments(wait, 1.0) if wait > 0 else zero(), response_scv=None,
        departure_scv=None, method="exact")


def _delay(s: Station, lam_c: np.ndarray) -> StationSolution:
    mean, scv = _mixture(lam_c, list(s.service.values()))
    metrics = single_station.mminf(float(lam_c.sum()), mean, scv)
    exact_shape = len(s.service) == 1 or len({d.mean for d in s.service.values()}) == 1
    response = metrics.response if exact_shape else fit_two_moments(mean, scv)
    return StationSolution(metrics, "exact", np.array([d.mean for d in s.service.values()]),
                           response=response)


def _queue(s: Station, lam_c: np.ndarray, ca2: float, poisson_in: bool,
           product_form: bool) -> StationSolution:
    dists = list(s.service.values())
    lam = float(lam_c.sum())
    mean, scv = _mixture(lam_c, dists)
    c = s.servers
    if s.capacity is not None:
        metrics = single_station.mmck(lam, 1.0 / mean, c, s.capacity)
        exponential = all(d.is_exponential for d in dists)
        base = "exact" if exponential else "approximation(M/M/c/K, mean service)"
        method = base if poisson_in else _label(base, False, False)
        return StationSolution(metrics, method, _fcfs_class_response(metrics, dists),
                               response=metrics.response)
    if s.discipline in ("ps", "lcfs-pr"):
        if c > 1:
            metrics = single_station.mmc(lam, 1.0 / mean, c)
        elif s.discipline == "ps":
            metrics = single_station.mg1_ps(lam, mean, scv)
        else:
            metrics = single_station.mg1_lcfs_pr(lam, mean, scv)
        exact = c == 1 or all(d.is_exponential for d in dists)
        base = "exact" if exact else "approximation(M/M/c-PS)"
        stretch = metrics.mean_response / mean if mean > 0 else 1.0
        per_class = np.array([d.mean * stretch for d in dists])
        return StationSolution(metrics, _label(base, poisson_in, product_form), per_class,
                               response=metrics.response)
    if math.isclose(ca2, 1.0) and math.isclose(scv, 1.0):
        metrics = single_station.mmc(lam, 1.0 / mean, c)
        base = "exact" if all(d.is_exponential for d in dists) else "approximation(M/M/c)"
    elif math.isclose(ca2, 1.0) and c == 1:
        metrics = single_station.mg1(lam, mean, scv, _third_moment(lam_c, dists))
        base = metrics.method
    else:
        metrics = single_station.ggc(lam, ca2, mean, scv, c)
        base = metrics.method
    return StationSolution(metrics, _label(base, poisson_in, product_form),
                           _fcfs_class_response(metrics, dists), response=metrics.response)


def _third_moment(lam_c: np.ndarray, dists: list[Distribution]) -> float | None:
    total = lam_c.sum()
    if total <= 0:
        return None
    try:
        return float(sum(w * d.third_moment for w, d in zip(lam_c / total, dists)))
    except NotImplementedError:
        return None


def _fcfs_class_response(metrics: single_station.StationMetrics,
                         dists: list[Distribution]) -> np.ndarray:
    return np.array([metrics.mean_wait + d.mean for d in dists])


def _priority(s: Station, lam_c: np.ndarray, priorities: np.ndarray, ca2: float,
              poisson_in: bool) -> StationSolution:
    """Per-class priority formulas (Cobham 1954; Kleinrock 1976) over priority levels.

    Classes sharing a level are served FCFS among themselves (one merged level).
    """
    dists = list(s.service.values())
    levels = sorted(set(priorities.tolist()))
    level_of = np.array([levels.index(p) for p in priorities])
    lam_l = np.array([lam_c[level_of == k].sum() for k in range(len(levels))])
    moments = [_mixture(lam_c[level_of == k], [d for d, lv in zip(dists, level_of) if lv == k])
               for k in range(len(levels))]
    means = [m for m, _ in moments]
    scvs = [v for _, v in moments]
    c = s.servers
    if c == 1 and s.discipline == "priority":
        per_level = single_station.mg1_priority_nonpreemptive(lam_l, means, scvs)
    elif c == 1:
        per_level = single_station.mg1_priority_preemptive(lam_l, means, scvs)
    else:
        mean_all = _mixture(lam_c, dists)[0]
        per_level = single_station.mmc_priority_nonpreemptive(lam_l, 1.0 / mean_all, c)
    base = per_level[0].method
    if c > 1 and not (all(d.is_exponential for d in dists) and len({d.mean for d in dists}) == 1):
        base = "approximation(M/M/c priority, mean service)"
    waits = np.array([per_level[k].mean_wait for k in level_of])
    if s.discipline == "priority-preemptive":
        stretch = np.array([per_level[k].mean_response / means[k] if means[k] > 0 else 1.0
                            for k in level_of])
        per_class = np.array([d.mean for d in dists]) * stretch
    else:
        per_class = waits + np.array([d.mean for d in dists])
    metrics = _combine(lam_c, per_class, dists, c)
    return StationSolution(metrics, _label(base, poisson_in, False), per_class,
                           note="per-class times differ: see classes")


def _combine(lam_c: np.ndarray, per_class: np.ndarray, dists: list[Distribution],
             servers: int) -> single_station.StationMetrics:
    """Station totals from per-class mean response times (Little's law)."""
    lam = float(lam_c.sum())
    mean, scv = _mixture(lam_c, dists)
    response = float(np.dot(lam_c, per_class) / lam) if lam > 0 else mean
    rho = lam * mean / servers
    wait = response - mean
    p_wait = single_station.erlang_c(servers, lam * mean) if lam > 0 else 0.0
    return single_station.StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=rho, busy_servers=rho * servers,
        mean_in_queue=lam * wait, mean_in_system=lam * response, mean_wait=wait,
        mean_response=response, p_wait=p_wait, p_idle=max(0.0, 1.0 - rho) if servers == 1 else
        float("nan"), p_loss=0.0, response=fit_two_moments(response, 1.0), response_scv=None,
        departure_scv=None, method="approximation(priority)")


def _pool_fork(s: Station, lam_c: np.ndarray, ca2: float) -> StationSolution:
    """Jobs queue FCFS for a pool of slots; a job's n tasks run in waves (approximation)."""
    from . import forkjoin  # TEMP-LAZY

    lam = float(lam_c.sum())
    task = next(iter(s.service.values()))
    slots = s.servers if s.servers is not None else s.tasks
    mean_m, var_m, how = forkjoin.makespan_moments(s.tasks, slots, task)
    work = s.tasks * task.mean / slots
    rho = lam * work
    scv_m = var_m / mean_m**2 if mean_m > 0 else 0.0
    if lam > 0:
        wait = rho / (1.0 - rho) * (ca2 + scv_m) / 2.0 * work
    else:
        wait = 0.0
    response = wait + mean_m
    metrics = single_station.StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=rho, busy_servers=rho * slots,
        mean_in_queue=lam * wait, mean_in_system=lam * response, mean_wait=wait,
        mean_response=response, p_wait=min(rho, 1.0), p_idle=max(0.0, 1.0 - rho), p_loss=0.0,
        response=fit_two_moments(response, scv_m * (mean_m / response) ** 2),
        response_scv=None, departure_scv=None, method="approximation(fork-join waves)")
    method = "approximation(fork-join waves" + (f", {how}" if how != "exact" else "") + ")"
    return StationSolution(metrics, method, np.full(len(lam_c), response),
                           response=metrics.response)


def _batcher(s: Station, lam_c: np.ndarray) -> StationSolution:
    from . import microbatch  # TEMP-LAZY

    lam = float(lam_c.sum())
    b = s.batch
    out = microbatch.batch_metrics(lam, b.interval, b.size, b.fixed, b.per_item, s.servers)
    if not out.stable or out.mean_latency is None:
        return StationSolution(None, "unstable", note="batches take longer than the interval")
    latency = out.mean_latency
    wait = latency - out.mean_processing
    metrics = single_station.StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=out.utilization,
        busy_servers=out.utilization * s.servers, mean_in_queue=lam * wait,
        mean_in_system=lam * latency, mean_wait=wait, mean_response=latency,
        p_wait=1.0 if lam > 0 else 0.0, p_idle=max(0.0, 1.0 - out.utilization), p_loss=0.0,
        response=fit_two_moments(latency, 1.0 / 3.0), response_scv=None, departure_scv=None,
        method=out.method)
    return StationSolution(metrics, out.method, np.full(len(lam_c), latency),
                           response=metrics.response)


# -- fork-join blocks ------------------------------------------------------------------

def _fork_joins(network: Network, visits: np.ndarray, solutions: list[StationSolution],
                lam: np.ndarray):
    members: dict[int, set[int]] = {}
    times: dict[int, np.ndarray] = {}
    for f, s in enumerate(network.stations):
        if s.kind != "fork" or not s.branches:
            continue
        from . import forkjoin  # TEMP-LAZY
        join = network.index[s.join]
        inside = _branch_stations(network, f, join)
        members[f] = inside
        per_class = []
        for cls in network.open_classes:
            branch_dists = []
            for branch in s.branches:
                ph = _branch_time(network, cls.name, branch, join, solutions)
                if ph is None:
                    branch_dists = None
                    break
                branch_dists.append(ph.cdf)
            if branch_dists is None:
                per_class = None
                break
            per_class.append(forkjoin.fork_join_response(branch_dists))
        if per_class is None:
            solutions[join] = StationSolution(None, "needs simulation",
                                              note="needs simulation: a branch needs simulation")
            continue
        times[f] = np.array([float(r.mean) for r in per_class])
        branch_means = [np.mean([_branch_time(network, cls.name, b, join, solutions).mean()
                                 for b in s.branches]) for cls in network.open_classes]
        sync = np.maximum(times[f] - np.array(branch_means), 0.0)
        total = lam[:, join].sum()
        sync_mean = float(np.dot(lam[:, join], sync) / total) if total > 0 else float(sync[0])
        metrics = _zero(total, sync_mean)
        solutions[join] = StationSolution(metrics, per_class[0].method, sync,
                                          note="synchronisation wait for sibling tasks")
    return members, times


def _branch_stations(network: Network, fork: int, join: int) -> set[int]:
    inside: set[int] = set()
    stack = [network.index[m] for b in network.stations[fork].branches
             for m in _members(network, b)]
    while stack:
        i = stack.pop()
        if i in inside or i == join:
            continue
        inside.add(i)
        for cls in network.classes:
            stack.extend(int(j) for j in np.nonzero(network.routing[cls.name][i])[0])
    return inside


def _members(network: Network, component: str) -> list[str]:
    router = network.routers.get(component)
    return list(router.members) if router else [component]


def _branch_time(network: Network, cls: str, branch: str, join: int,
                 solutions: list[StationSolution]) -> PhaseType | None:
    from .phase_type import network as ph_network

    n = len(network.stations)
    entry = np.zeros(n)
    router = network.routers.get(branch)
    members = _members(network, branch)
    weights = np.asarray(router.weights) / sum(router.weights) if router else np.ones(1)
    for m, w in zip(members, weights):
        entry[network.index[m]] = w
    routing = network.routing[cls].copy()
    routing[:, join] = 0.0
    reach = _branch_stations_from(network, entry, join)
    phs = []
    for i in range(n):
        sol = solutions[i]
        if i in reach:
            if sol.response is None or sol.metrics is None:
                return None
            phs.append(sol.response)
        else:
            phs.append(fit_two_moments(1.0, 1.0))
    keep = sorted(reach)
    sub = routing[np.ix_(keep, keep)]
    return ph_network([phs[i] for i in keep], entry[keep], sub)


def _branch_stations_from(network: Network, entry: np.ndarray, join: int) -> set[int]:
    seen: set[int] = set()
    stack = [int(i) for i in np.nonzero(entry)[0]]
    while stack:
        i = stack.pop()
        if i in seen or i == join:
            continue
        seen.add(i)
        for cls in network.classes:
            stack.extend(int(j) for j in np.nonzero(network.routing[cls.name][i])[0])
    return seen


__all__ = ["solve_open", "OpenSolution", "StationSolution", "is_product_form",
           "needs_simulation", "UnstableError"]
