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
from scipy.special import gammaincc, gammaln, xlogy

from ..distributions import Distribution, fit
from ..errors import UnstableError
from ..model.network import Network, Station, solve_linear
from . import single_station  # forkjoin and microbatch: imported where used (scipy.stats)
from .end_to_end import as_phase_type
from .phase_type import PhaseType, fit_two_moments, zero


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
        solutions = _solve_stations(network, lam, scv, offered, unstable, product_form, single)
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
                 s.kind == "queue" and s.discipline == "fcfs" and s.capacity is None]
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

def _offered_load(network: Network, lam: np.ndarray) -> tuple[np.ndarray, list]:
    """Offered load per server at each station and its affine form a + b·f in the load
    factor f (all open rates scaled by f); None where a station cannot saturate."""
    n = len(network.stations)
    offered = np.zeros(n)
    linear: list[tuple[float, float] | None] = [None] * n
    per_station = lam.T.tolist()  # per station, the arrival rate of each class
    for i, s in enumerate(network.stations):
        if s.kind in ("delay", "join") or (s.kind == "fork" and s.branches):
            continue
        if s.kind == "batcher":
            a, b = batcher_load(s, lam[:, i].sum())
        elif s.kind == "fork":
            if s.servers is None:
                continue
            work = sum(x * s.tasks * d.mean for x, d in zip(per_station[i], s.service.values()))
            a, b = 0.0, work / s.servers
        else:
            if s.servers is None:
                continue
            work = sum(x * d.mean for x, d in zip(per_station[i], s.service.values()))
            a, b = 0.0, work / s.servers
        offered[i] = a + b
        if s.capacity is None:
            linear[i] = (a, b)
    return offered, linear


def batcher_load(s: Station, lam: float) -> tuple[float, float]:
    """A batcher's offered load a + b at arrival rate ``lam``: a is the per-batch overhead's
    share (interval trigger), b grows with the rate."""
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


def _pool_fork(s: Station, lam_c: np.ndarray, ca2: float) -> StationSolution:
    """Jobs queue FCFS for a pool of slots; a job's n tasks run in waves (approximation)."""
    from . import forkjoin  # scipy.stats: loaded on first use

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
    detail = "" if how == "exact" else ", " + how[len("approximation("):-1]
    method = f"approximation(fork-join waves{detail})"
    return StationSolution(metrics, method, np.full(len(lam_c), response),
                           response=metrics.response)


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

def _fork_joins(network: Network, visits: np.ndarray, solutions: list[StationSolution],
                lam: np.ndarray):
    members: dict[int, set[int]] = {}
    times: dict[int, np.ndarray] = {}
    for f, s in enumerate(network.stations):
        if s.kind != "fork" or not s.branches:
            continue
        from . import forkjoin  # scipy.stats: loaded on first use

        join = network.index[s.join]
        inside = _branch_stations(network, f, join)
        members[f] = inside
        per_class, branch_means = [], []
        for cls in network.open_classes:
            times_b = [_branch_time(network, cls.name, b, join, solutions) for b in s.branches]
            if any(t is None for t in times_b):
                per_class = None
                break
            # Each branch's sojourn as a two-moment fit with a closed-form CDF (exact for
            # an exponential branch); the max is then a fast one-dimensional integral.
            dists = [fit(t.mean(), max(t.scv(), 0.0)) for t in times_b]
            per_class.append(forkjoin.fork_join_response(dists))
            branch_means.append(float(np.mean([t.mean() for t in times_b])))
        if per_class is None:
            solutions[join] = StationSolution(None, "needs simulation",
                                              note="needs simulation: a branch needs simulation")
            continue
        times[f] = np.array([float(r.mean) for r in per_class])
        sync = np.maximum(times[f] - np.array(branch_means), 0.0)
        total = lam[:, join].sum()
        sync_mean = float(np.dot(lam[:, join], sync) / total) if total > 0 else float(sync[0])
        metrics = _zero(total, sync_mean)
        solutions[join] = StationSolution(metrics, per_class[0].method, sync,
                                          note="synchronisation wait for sibling tasks")
    return members, times


def _branch_stations(network: Network, fork: int, join: int) -> set[int]:
    starts = [network.index[m] for b in network.stations[fork].branches
              for m in _members(network, b)]
    return _reach_before(network, starts, join)


def _reach_before(network: Network, starts: list[int], join: int) -> set[int]:
    """Stations reachable from ``starts`` (by any class) without passing ``join``."""
    seen: set[int] = set()
    stack = list(starts)
    while stack:
        i = stack.pop()
        if i in seen or i == join:
            continue
        seen.add(i)
        for cls in network.classes:
            stack.extend(int(j) for j in np.nonzero(network.routing[cls.name][i])[0])
    return seen


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
    reach = _reach_before(network, [int(i) for i in np.nonzero(entry)[0]], join)
    phs = []
    for i in range(n):
        sol = solutions[i]
        if i in reach:
            if sol.response is None or sol.metrics is None:
                return None
            phs.append(as_phase_type(sol.response))
        else:
            phs.append(fit_two_moments(1.0, 1.0))
    keep = sorted(reach)
    sub = routing[np.ix_(keep, keep)]
    return ph_network([phs[i] for i in keep], entry[keep], sub)


__all__ = ["solve_open", "OpenSolution", "StationSolution", "is_product_form",
           "needs_simulation", "UnstableError"]
