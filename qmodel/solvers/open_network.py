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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.special import gammaincc, gammaln, xlogy

from ..distributions import Distribution, Mixture, fit
from ..errors import UnstableError, UnsupportedError
from ..model.network import Network, Station, solve_linear
from . import single_station  # forkjoin and microbatch: imported where used (scipy.stats)
from .end_to_end import as_phase_type
from .phase_type import (
    MAX_EXACT_PHASES,
    PhaseType,
    convolve,
    fit_two_moments,
    hyperexponential,
    hypoexponential,
    order_statistic,
    order_statistic_phases,
    zero,
)


@dataclass
class StationSolution:
    """Everything the result builder needs about one station."""

    metrics: single_station.StationMetrics | None
    method: str
    class_response: np.ndarray | None = None  # mean response per visit, per class
    note: str = ""
    response: PhaseType | MMcResponse | None = None  # response time per visit
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
    fork_times: dict[int, np.ndarray]     # fork index -> E[max (R-th) branch time] per class
    # fork index -> per class, the time from fork to join (None: the class never forks there)
    fork_laws: dict[int, list[PhaseType | None]] = field(default_factory=dict)


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
    branch_members, fork_laws = _fork_joins(network, solutions, lam)
    fork_times = {f: np.array([0.0 if law is None else law.mean() for law in laws])
                  for f, laws in fork_laws.items()}
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
            new[i] = 1.0 - _finite(network.stations[i], lam[:, i], True).metrics.p_loss
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
    solved together (:func:`_mmc_stations`), the others one by one."""
    together = {}
    if product_form:
        plain = [i for i, s in enumerate(network.stations) if i not in unstable and
                 s.kind == "queue" and s.discipline == "fcfs" and not s.rejects]
        together = _mmc_stations(network, plain, lam)
    return [together[i] if i in together else
            _solve_station(network, i, lam, scv, offered, unstable, product_form, single)
            for i in range(len(network.stations))]


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
        if s.servers is None:
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
        return (b.fixed.mean / (s.servers * b.interval) if empty else 0.0), math.inf
    from . import microbatch

    m = microbatch.batch_metrics(lam, b.interval, b.size, b.fixed, b.per_item, s.servers)
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
        size = min(size, lam * batch.interval)
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
    return mean, max(second / mean**2 - 1.0, 0.0) if mean > 0 else 0.0


# -- one station -----------------------------------------------------------------------

def _station(network: Network, s: Station, lam_c: np.ndarray, ca2: float,
             product_form: bool, single: bool) -> StationSolution:
    priorities = np.array([c.priority for c in network.open_classes])
    poisson_in = product_form or (single and math.isclose(ca2, 1.0))
    if s.kind == "delay":
        return _delay(s, lam_c)
    if s.kind == "join" or (s.kind == "fork" and s.branches):  # no time of their own
        zero_time = _zero(float(lam_c.sum()))
        return StationSolution(zero_time, "exact", np.zeros(len(lam_c)),
                               response=zero_time.response)
    if s.kind == "fork":
        return _pool_fork(s, lam_c, ca2, network.station(s.join).quorum or s.tasks)
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
    if s.rejects:  # with on_full: block, FCFS is the same queue without the capacity
        return _finite(s, lam_c, poisson_in)
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


def _finite(s: Station, lam_c: np.ndarray, poisson_in: bool) -> StationSolution:
    """At most ``capacity`` jobs present, arrivals beyond it lost: M/G/1/K for one FCFS
    server (exact with Poisson input; several classes: the mixture of their service
    times), else M/M/c/K with the mean service (exact for one exponential law)."""
    dists = list(s.service.values())
    lam = float(lam_c.sum())
    exponential = all(d.is_exponential for d in dists) and len({d.mean for d in dists}) == 1
    if s.servers == 1 and s.discipline == "fcfs" and not exponential:
        metrics = single_station.mg1k(lam, _service_law(lam_c, dists), s.capacity)
        base = "exact"
    else:
        mean = _mixture(lam_c, dists)[0]
        metrics = single_station.mmck(lam, 1.0 / mean, s.servers, s.capacity)
        base = "exact" if exponential else "approximation(M/M/c/K, mean service)"
    return StationSolution(metrics, _label(base, poisson_in, False),
                           _fcfs_class_response(metrics, dists), response=metrics.response)


def _service_law(lam_c: np.ndarray, dists: list[Distribution]) -> Distribution:
    """The service time of the next job: the classes' laws mixed by arrival rate."""
    total = lam_c.sum()
    weights = lam_c / total if total > 0 else np.full(len(dists), 1.0 / len(dists))
    parts = [(w, d) for w, d in zip(weights.tolist(), dists) if w > 0]
    if len({d for _, d in parts}) == 1:
        return parts[0][1]
    return Mixture(tuple(w for w, _ in parts), tuple(d for _, d in parts))


# -- plain M/M/c stations, all at once ---------------------------------------------------

def _mmc_stations(network: Network, indices: list[int],
                  lam: np.ndarray) -> dict[int, StationSolution]:
    """The M/M/c FCFS stations ``indices`` of a product-form network, solved together.

    The formulas and the order of operations are those of :func:`single_station.mmc`
    (via :func:`_queue`), one array operation for all stations instead of one call per
    station; Erlang B is in log space through the incomplete gamma function, stable for
    any number of servers. Each station's response time is an :class:`MMcResponse`.
    """
    if not indices:
        return {}
    stations = [network.stations[i] for i in indices]
    arrivals = lam[:, indices]                                      # [C, m]
    service = np.array([[d.mean for d in s.service.values()] for s in stations]).T
    lam_s = arrivals.sum(axis=0)
    weights = np.where(lam_s > 0, arrivals / np.where(lam_s > 0, lam_s, 1.0),
                       1.0 / len(arrivals))
    mean = (weights * service).sum(axis=0)                          # as _mixture
    c = np.array([s.servers for s in stations], dtype=float)
    mu = 1.0 / mean
    a = lam_s / mu
    rho = a / c
    if np.any(rho >= 1.0):
        raise UnstableError(float(rho[np.argmax(rho >= 1.0)]))
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(a == 0.0, 0.0, np.exp(_log_erlang_b(c, a)))
        p_wait = np.minimum(1.0, b / ((c - a) / c + rho * b))
        p_idle = np.where(a == 0.0, 1.0, _mmc_empty_probability(c, a, rho))
    wait_rate = c * mu - lam_s
    mean_service = 1.0 / mu
    mean_wait = p_wait / wait_rate
    busy = lam_s * mean_service
    columns = zip(indices, stations, *(x.tolist() for x in (
        lam_s, mean_wait, mean_service, busy, busy / c, p_wait, p_idle, wait_rate, mu)))
    out = {}
    for i, s, lam_k, wait, served, busy_k, util, p_wait_k, p_idle_k, theta, mu_k in columns:
        law = MMcResponse(p_wait_k, theta, mu_k)
        metrics = single_station.StationMetrics(
            arrival_rate=lam_k, throughput=lam_k, utilization=util, busy_servers=busy_k,
            mean_in_queue=lam_k * wait, mean_in_system=lam_k * (wait + served),
            mean_wait=wait, mean_response=wait + served, p_wait=p_wait_k, p_idle=p_idle_k,
            p_loss=0.0, response=law, response_scv=law.scv(), departure_scv=1.0,
            method="exact")
        per_class = np.array([wait + d.mean for d in s.service.values()])
        out[i] = StationSolution(metrics, "exact", per_class, response=law)
    return out


def _log_erlang_b(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``log B(c, a) = c log a - a - log c! - log Q(c + 1, a)``: the Poisson sum
    ``sum_{k<=c} a^k / k!`` is ``e^a Q(c + 1, a)`` (Abramowitz & Stegun 6.5.13), ``Q`` the
    regularized upper incomplete gamma function."""
    return xlogy(c, a) - a - gammaln(c + 1.0) - np.log(gammaincc(c + 1.0, a))


def _mmc_empty_probability(c: np.ndarray, a: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """M/M/c empty probability ``1 / (sum_{k<c} a^k/k! + a^c / (c! (1 - rho)))``, the sum
    written as ``e^a Q(c + 1, a) + a^c/c! rho / (1 - rho)`` and added in log space."""
    log_poisson_sum = a + np.log(gammaincc(c + 1.0, a))
    log_rest = xlogy(c, a) - gammaln(c + 1.0) + np.log(rho) - np.log1p(-rho)
    return np.exp(-np.logaddexp(log_poisson_sum, log_rest))


class MMcResponse:
    """Response time of an M/M/c FCFS station: ``Exp(mu)`` service after an
    ``Exp(theta)`` wait with probability ``p_wait`` (``theta = c mu - lam``).

    It is the two-phase PH of :func:`single_station.mmc`, with moments and quantiles in
    closed form; the :class:`PhaseType` is built only when asked for
    (:meth:`phase_type`), so a network of hundreds of stations does not build one per
    station. ``P(R > t) = e^{-mu t} (1 + p_wait mu t g((theta - mu) t))`` with
    ``g(x) = (1 - e^{-x}) / x``.

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
            self._ph = single_station._wait_then_serve(self.p_wait, self.theta, self.mu)
        return self._ph

    def quantile(self, p: float) -> float:
        """Smallest ``t`` with ``P(R <= t) >= p``: Newton's method on ``log P(R > t)``,
        kept inside a bracket (``[service quantile, doubling]``), to about 1e-13."""
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"quantile probabilities must lie in [0, 1], got {p}")
        if p == 0.0:
            return 0.0
        if p == 1.0:
            return math.inf
        target = math.log1p(-p)
        lo = -target / self.mu  # the service time alone: R is at least this long
        if self.p_wait == 0.0:
            return lo
        hi = 2.0 * lo
        while self._log_sf_hazard(hi)[0] > target:
            lo, hi = hi, 2.0 * hi
        t = math.sqrt(lo * hi)
        for _ in range(100):
            log_sf, hazard = self._log_sf_hazard(t)
            gap = log_sf - target  # > 0: t is left of the quantile
            lo, hi = (t, hi) if gap > 0 else (lo, t)
            step = gap / hazard
            if abs(gap) <= 8 * _EPS * self.mu * t or abs(step) <= 1e-13 * t:
                return min(max(t + step, lo), hi)
            t = t + step if lo < t + step < hi else 0.5 * (lo + hi)
        return t

    def _log_sf_hazard(self, t: float) -> tuple[float, float]:
        """``log P(R > t)`` and the hazard rate ``f(t) / P(R > t)``, for ``t > 0``."""
        p, theta, mu = self.p_wait, self.theta, self.mu
        log_wait_term = math.log(p * mu * t) + _log_g((theta - mu) * t)
        log_a = _log1p_exp(log_wait_term)  # log(1 + p mu t g)
        u = math.exp(log_wait_term - log_a)  # the waiting term's share of P(R > t)
        return -mu * t + log_a, mu * (1.0 - p) * (1.0 - u) + theta * u


_EPS = float(np.finfo(float).eps)


def _log_g(x: float) -> float:
    """``log((1 - e^-x) / x)``, continuous at 0 and without overflow for large ``|x|``."""
    if abs(x) < 1e-8:
        return -0.5 * x
    if x > 0:
        return math.log(-math.expm1(-x)) - math.log(x)
    y = -x  # (1 - e^-x) / x = e^y (1 - e^-y) / y
    return y + math.log(-math.expm1(-y)) - math.log(y)


def _log1p_exp(z: float) -> float:
    """``log(1 + e^z)`` without overflow."""
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


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


def _pool_fork(s: Station, lam_c: np.ndarray, ca2: float, quorum: int) -> StationSolution:
    """Jobs queue FCFS for a pool of slots; a job's n tasks run in waves, all of them
    holding slots, and the job leaves at its ``quorum``-th task's end (approximation)."""
    from . import forkjoin  # scipy.stats: loaded on first use

    lam = float(lam_c.sum())
    task = next(iter(s.service.values()))
    slots = s.servers if s.servers is not None else s.tasks
    mean_m, var_m, how = forkjoin.makespan_moments(s.tasks, slots, task)
    mean_q, var_q = mean_m, var_m
    if quorum < s.tasks:
        try:
            mean_q, var_q, _ = forkjoin.quorum_moments(s.tasks, slots, task, quorum)
        except UnsupportedError as exc:
            return StationSolution(None, "needs simulation", note=f"needs simulation: "
                                                                  f"{exc.reason}")
    work = s.tasks * task.mean / slots
    rho = lam * work
    scv_m = var_m / mean_m**2 if mean_m > 0 else 0.0
    if lam > 0:
        wait = rho / (1.0 - rho) * (ca2 + scv_m) / 2.0 * work
    else:
        wait = 0.0
    response = wait + mean_q
    # it waits with probability rho, an exponential time (the M/M/1 shape), then its tasks run
    waiting = hyperexponential([rho], [rho / wait]) if wait > 0 else zero()
    metrics = single_station.StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=rho, busy_servers=rho * slots,
        mean_in_queue=lam * wait, mean_in_system=lam * response, mean_wait=wait,
        mean_response=response, p_wait=min(rho, 1.0), p_idle=max(0.0, 1.0 - rho), p_loss=0.0,
        response=convolve(waiting, _task_ends(s.tasks, slots, task, quorum, mean_q, var_q)),
        response_scv=None, departure_scv=None, method="approximation(fork-join waves)")
    detail = "" if how == "exact" else ", " + how[len("approximation("):-1]
    method = f"approximation(fork-join waves{detail})"
    return StationSolution(metrics, method, np.full(len(lam_c), response),
                           response=metrics.response)


def _task_ends(n: int, k: int, task: Distribution, r: int, mean: float,
               var: float) -> PhaseType:
    """Time from a job's start on ``k`` slots to the ``r``-th end of its ``n`` tasks: for
    exponential tasks the exact chain of gaps between ends (the j-th at rate
    ``min(k, n - j) mu``), else a two-moment fit of ``mean`` and ``var``."""
    if task.is_exponential and r <= MAX_EXACT_PHASES:
        return hypoexponential([min(k, n - j) / task.mean for j in range(r)])
    return fit_two_moments(mean, var / mean**2 if mean > 0 else 0.0)


def _batcher(s: Station, lam_c: np.ndarray) -> StationSolution:
    from . import microbatch  # scipy.stats: loaded on first use

    lam = float(lam_c.sum())
    b = s.batch
    out = microbatch.batch_metrics(lam, b.interval, b.size, b.fixed, b.per_item, s.servers)
    if not out.stable or out.mean_latency is None:
        return StationSolution(None, "unstable", note="batches take longer than the interval")
    latency = out.mean_latency
    wait = latency - out.item_processing
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

class _Block(NamedTuple):
    """A fork's branches for one class: the time from fork to join, the mean time until
    the first task reaches the join, and how they are obtained."""

    law: PhaseType
    first: float
    method: str


def _fork_joins(network: Network, solutions: list[StationSolution], lam: np.ndarray
                ) -> tuple[dict[int, set[int]], dict[int, list[PhaseType | None]]]:
    """Each fork with branches: the stations inside them, and per class that reaches it
    the time from fork to join (:func:`_block`); its join gets the synchronisation wait.
    Inner forks come first, so an outer branch crosses an inner block in one step."""
    forks = _branch_forks(network)
    classes = [cls.name for cls in network.open_classes]
    reached = [_reachable(network.routing[cls], np.flatnonzero(network.entry[cls]))
               for cls in classes]
    reaching = {f: [c for c in range(len(classes)) if f in reached[c]] for f in forks}
    members = {f: _reach_before(network, _branch_starts(network, f), join,
                                [classes[c] for c in reaching[f]])
               for f, join in forks.items()}
    laws: dict[int, list[PhaseType | None]] = {}
    for f in sorted(forks, key=lambda f: len(members[f])):
        blocks = _class_blocks(network, f, reaching[f], solutions, laws)
        if blocks is None:
            solutions[forks[f]] = StationSolution(
                None, "needs simulation", note="needs simulation: a branch needs simulation")
            continue
        laws[f] = [None if b is None else b.law for b in blocks]
        solutions[forks[f]] = _join(blocks, lam[:, forks[f]])
    return members, laws


def _class_blocks(network: Network, f: int, classes: list[int],
                  solutions: list[StationSolution],
                  laws: dict[int, list[PhaseType | None]]) -> list[_Block | None] | None:
    """Fork ``f``'s block for each of the ``classes`` that reach it (None for the others);
    None when a branch needs simulation."""
    fork = network.stations[f]
    join = network.index[fork.join]
    quorum = network.stations[join].quorum or len(fork.branches)
    blocks: list[_Block | None] = [None] * len(network.open_classes)
    for c in classes:
        times = [_branch_time(network, c, b, join, solutions, laws) for b in fork.branches]
        if any(t is None for t in times):
            return None
        blocks[c] = _block(times, quorum)
    return blocks


def _block(times: list[PhaseType], quorum: int) -> _Block:
    """The ``quorum``-th of independent branch times: the PH of the order statistic when
    it has at most ``MAX_EXACT_PHASES`` phases; else each branch fitted by two moments
    and the order statistic's moments integrated numerically, then fitted by two."""
    from . import forkjoin  # scipy.stats: loaded on first use

    if order_statistic_phases([t.n_phases for t in times], quorum) <= MAX_EXACT_PHASES:
        law = order_statistic(times, quorum)
        return _Block(law, order_statistic(times, 1).mean(), forkjoin.INDEPENDENT_METHOD)
    dists = [fit(t.mean(), max(t.scv(), 0.0)) for t in times]
    mean, var = forkjoin.fork_join_moments(dists, quorum)
    law = fit_two_moments(mean, var / mean**2 if mean > 0 else 0.0)
    return _Block(law, forkjoin.fork_join_response(dists, 1).mean,
                  forkjoin.INDEPENDENT_METHOD[:-1] + ", two-moment fit)")


def _join(blocks: list[_Block | None], lam_c: np.ndarray) -> StationSolution:
    """A join holds a job from its first task's arrival until its quorum's."""
    from .forkjoin import INDEPENDENT_METHOD

    sync = np.array([0.0 if b is None else max(b.law.mean() - b.first, 0.0) for b in blocks])
    total = float(lam_c.sum())
    wait = float(lam_c @ sync) / total if total > 0 else 0.0
    method = next((b.method for b in blocks if b is not None), INDEPENDENT_METHOD)
    return StationSolution(_zero(total, wait), method, sync,
                           note="synchronisation wait from the first task")


def class_walk(sol: OpenSolution, c: int) -> tuple[list | None, np.ndarray]:
    """Open class ``c``'s walk from arrival to departure: each station's response-time
    law (a fork with branches: its block; a station the class never reaches: zero) and
    the routing, where a fork goes on where its join does. The laws are None when a
    station on the walk has none (it needs simulation)."""
    net = sol.network
    cls = net.open_classes[c].name
    routing = _past_blocks(net, net.routing[cls], sol.fork_laws)
    reach = _reachable(routing, np.flatnonzero(net.entry[cls]))
    laws = [_law(net, i, c, sol.stations, sol.fork_laws) if i in reach else zero()
            for i in range(len(net.stations))]
    return (None if any(law is None for law in laws) else laws), routing


def _branch_time(network: Network, c: int, branch: str, join: int,
                 solutions: list[StationSolution],
                 laws: dict[int, list[PhaseType | None]]) -> PhaseType | None:
    """A class ``c`` task's time from the start of ``branch`` to ``join``; None when a
    station on the way has no response-time law."""
    from .phase_type import network as ph_network

    entry = np.zeros(len(network.stations))
    router = network.routers.get(branch)
    weights = np.asarray(router.weights) / sum(router.weights) if router else np.ones(1)
    for m, w in zip(_members(network, branch), weights):
        entry[network.index[m]] = w
    routing = _past_blocks(network, network.routing[network.open_classes[c].name], laws)
    routing[:, join] = 0.0
    keep = sorted(_reachable(routing, np.flatnonzero(entry)))
    phs = [_law(network, i, c, solutions, laws) for i in keep]
    if any(ph is None for ph in phs):
        return None
    return ph_network([as_phase_type(ph) for ph in phs], entry[keep],
                      routing[np.ix_(keep, keep)])


def _law(network: Network, i: int, c: int, solutions: list[StationSolution],
         laws: dict[int, list[PhaseType | None]]) -> PhaseType | MMcResponse | None:
    """Station ``i``'s response-time law for class ``c``: a solved fork's block, else the
    station's own (None for a fork not solved and a station that needs simulation)."""
    if i in laws:
        return laws[i][c]
    station, sol = network.stations[i], solutions[i]
    if (station.kind == "fork" and station.branches) or sol.metrics is None:
        return None
    return sol.response


def _branch_forks(network: Network) -> dict[int, int]:
    """Each fork with branches and its join."""
    return {f: network.index[s.join] for f, s in enumerate(network.stations)
            if s.kind == "fork" and s.branches}


def _past_blocks(network: Network, routing: np.ndarray,
                 laws: dict[int, list[PhaseType | None]]) -> np.ndarray:
    """``routing`` where each fork in ``laws`` goes on where its join does: a walk
    crosses the block in one step."""
    out = routing.copy()
    for f in laws:
        out[f] = routing[network.index[network.stations[f].join]]
    return out


def _branch_starts(network: Network, fork: int) -> list[int]:
    return [network.index[m] for b in network.stations[fork].branches
            for m in _members(network, b)]


def _reach_before(network: Network, starts: list[int], join: int,
                  classes: list[str]) -> set[int]:
    """Stations reachable from ``starts`` by jobs of ``classes`` without passing ``join``."""
    seen: set[int] = set()
    for cls in classes:
        routing = network.routing[cls].copy()
        routing[:, join] = 0.0
        seen |= _reachable(routing, starts)
    return seen


def _reachable(routing: np.ndarray, starts: list[int] | np.ndarray) -> set[int]:
    """Stations a walk on ``routing`` from ``starts`` can visit (``starts`` included)."""
    seen: set[int] = set()
    stack = [int(i) for i in starts]
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(np.flatnonzero(routing[i]).tolist())
    return seen


def _members(network: Network, component: str) -> list[str]:
    router = network.routers.get(component)
    return list(router.members) if router else [component]


__all__ = ["solve_open", "OpenSolution", "StationSolution", "is_product_form",
           "needs_simulation", "UnstableError"]
