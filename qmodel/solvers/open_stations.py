"""One station of an open network, given its per-class arrival rates and the squared
coefficient of variation of its arrival process: the single-station formula that fits its
kind and discipline (exact with Poisson arrivals, QNA's G/G/c otherwise), and the plain
M/M/c stations of a product-form network, all at once.
"""

from __future__ import annotations

import math

import numpy as np

from ..distributions import Distribution, Mixture
from ..errors import UnstableError, UnsupportedError
from ..model.network import Batch, Network, Station
from . import mg1, priority, single_station
from . import mmc as kernel
from .open_types import StationSolution, zero_station
from .ph_compose import convolve
from .phase_type import (
    MAX_EXACT_PHASES,
    PhaseType,
    fit_two_moments,
    hyperexponential,
    hypoexponential,
    zero,
)
from .single_station import StationMetrics


def service_mixture(lam: np.ndarray, dists: list[Distribution]) -> tuple[float, float]:
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

def station_solution(network: Network, s: Station, lam_c: np.ndarray, ca2: float,
             product_form: bool, single: bool) -> StationSolution:
    priorities = np.array([c.priority for c in network.open_classes])
    poisson_in = product_form or (single and math.isclose(ca2, 1.0))
    if s.kind == "delay":
        return _delay(s, lam_c)
    if s.kind == "join" or (s.kind == "fork" and s.branches):  # no time of their own
        zero_time = zero_station(float(lam_c.sum()))
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


def _delay(s: Station, lam_c: np.ndarray) -> StationSolution:
    mean, scv = service_mixture(lam_c, list(s.service.values()))
    metrics = single_station.mminf(float(lam_c.sum()), mean, scv)
    laws = set(s.service.values())
    if len(laws) == 1 and not next(iter(laws)).is_exponential:  # its service law itself
        from .numeric_law import NumericLaw
        from .time_laws import time_law

        return StationSolution(metrics, "exact", np.array([d.mean for d in s.service.values()]),
                               response=NumericLaw(time_law(laws.pop())),
                               extra={"exact_law": True})
    exact_shape = len(s.service) == 1 or len({d.mean for d in s.service.values()}) == 1
    response = metrics.response if exact_shape else fit_two_moments(mean, scv)
    return StationSolution(metrics, "exact", np.array([d.mean for d in s.service.values()]),
                           response=response)


def _queue(s: Station, lam_c: np.ndarray, ca2: float, poisson_in: bool,
           product_form: bool) -> StationSolution:
    dists = list(s.service.values())
    lam = float(lam_c.sum())
    mean, scv = service_mixture(lam_c, dists)
    c = s.servers
    if s.rejects:  # with on_full: block, FCFS is the same queue without the capacity
        return finite(s, lam_c, poisson_in)
    if s.discipline in ("ps", "lcfs-pr"):
        if c > 1:
            metrics = single_station.mmc(lam, 1.0 / mean, c)
        elif s.discipline == "ps":
            metrics = mg1.mg1_ps(lam, mean, scv)
        else:
            metrics = mg1.mg1_lcfs_pr(lam, mean, scv)
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
        metrics = mg1.mg1(lam, mean, scv, _third_moment(lam_c, dists))
        base = metrics.method
    else:
        metrics = single_station.ggc(lam, ca2, mean, scv, c)
        base = metrics.method
    return StationSolution(metrics, _label(base, poisson_in, product_form),
                           _fcfs_class_response(metrics, dists), response=metrics.response)


def finite(s: Station, lam_c: np.ndarray, poisson_in: bool) -> StationSolution:
    """At most ``capacity`` jobs present, arrivals beyond it lost: M/G/1/K for one FCFS
    server (exact with Poisson input; several classes: the mixture of their service
    times), else M/M/c/K with the mean service (exact for one exponential law)."""
    dists = list(s.service.values())
    lam = float(lam_c.sum())
    exponential = all(d.is_exponential for d in dists) and len({d.mean for d in dists}) == 1
    if s.servers == 1 and s.discipline == "fcfs" and not exponential:
        metrics = mg1.mg1k(lam, _service_law(lam_c, dists), s.capacity)
        base = "exact"
    else:
        mean = service_mixture(lam_c, dists)[0]
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

def mmc_stations(network: Network, indices: list[int],
                 lam: np.ndarray) -> dict[int, StationSolution]:
    """The M/M/c FCFS stations ``indices`` of a product-form network, solved together.

    The M/M/c kernel (:mod:`.mmc`) as :func:`single_station.mmc` uses it (via
    :func:`_queue`), one array operation for all stations instead of one call per
    station. Each station's response time is an :class:`~.mmc.MMcResponse`.
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
    p_wait = kernel.erlang_c_values(c, a)
    p_idle = kernel.p_idle_values(c, a)
    wait_rate = c * mu - lam_s
    mean_service = 1.0 / mu
    mean_wait = p_wait / wait_rate
    busy = lam_s * mean_service
    columns = zip(indices, stations, *(x.tolist() for x in (
        lam_s, mean_wait, mean_service, busy, busy / c, p_wait, p_idle, wait_rate, mu)))
    out = {}
    for i, s, lam_k, wait, served, busy_k, util, p_wait_k, p_idle_k, theta, mu_k in columns:
        law = kernel.MMcResponse(p_wait_k, theta, mu_k)
        metrics = StationMetrics(
            arrival_rate=lam_k, throughput=lam_k, utilization=util, busy_servers=busy_k,
            mean_in_queue=lam_k * wait, mean_in_system=lam_k * (wait + served),
            mean_wait=wait, mean_response=wait + served, p_wait=p_wait_k, p_idle=p_idle_k,
            p_loss=0.0, response=law, response_scv=law.scv(), departure_scv=1.0,
            method="exact")
        per_class = np.array([wait + d.mean for d in s.service.values()])
        out[i] = StationSolution(metrics, "exact", per_class, response=law)
    return out


def _third_moment(lam_c: np.ndarray, dists: list[Distribution]) -> float | None:
    total = lam_c.sum()
    if total <= 0:
        return None
    try:
        return float(sum(w * d.third_moment for w, d in zip(lam_c / total, dists)))
    except NotImplementedError:
        return None


def _fcfs_class_response(metrics: StationMetrics,
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
    moments = [service_mixture(lam_c[level_of == k], [d for d, lv in zip(dists, level_of) if lv == k])
               for k in range(len(levels))]
    means = [m for m, _ in moments]
    scvs = [v for _, v in moments]
    c = s.servers
    if c == 1 and s.discipline == "priority":
        per_level = priority.mg1_priority_nonpreemptive(lam_l, means, scvs)
    elif c == 1:
        per_level = priority.mg1_priority_preemptive(lam_l, means, scvs)
    else:
        mean_all = service_mixture(lam_c, dists)[0]
        per_level = priority.mmc_priority_nonpreemptive(lam_l, 1.0 / mean_all, c)
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
             servers: int) -> StationMetrics:
    """Station totals from per-class mean response times (Little's law)."""
    lam = float(lam_c.sum())
    mean, scv = service_mixture(lam_c, dists)
    response = float(np.dot(lam_c, per_class) / lam) if lam > 0 else mean
    rho = lam * mean / servers
    wait = response - mean
    p_wait = kernel.erlang_c(servers, lam * mean) if lam > 0 else 0.0
    return StationMetrics(
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
    if math.isinf(s.servers):
        return _unlimited_fork(s, lam_c, task, quorum)
    slots = s.servers
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
    metrics = StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=rho, busy_servers=rho * slots,
        mean_in_queue=lam * wait, mean_in_system=lam * response, mean_wait=wait,
        mean_response=response, p_wait=min(rho, 1.0), p_idle=max(0.0, 1.0 - rho), p_loss=0.0,
        response=convolve(waiting, _task_ends(s.tasks, slots, task, quorum, mean_q, var_q)),
        response_scv=None, departure_scv=None, method="approximation(fork-join waves)")
    detail = "" if how == "exact" else ", " + how[len("approximation("):-1]
    method = f"approximation(fork-join waves{detail})"
    return StationSolution(metrics, method, np.full(len(lam_c), response),
                           response=metrics.response)


def _unlimited_fork(s: Station, lam_c: np.ndarray, task: Distribution,
                    quorum: int) -> StationSolution:
    """A pool of unlimited slots: every job's tasks start on arrival, nobody waits, and
    the response is exactly the ``quorum``-th of ``s.tasks`` iid task times: for
    exponential tasks the chain of gaps between ends (a PH), else the order statistic's
    law from the task's distribution function (:class:`.numeric_law.NumericLaw`)."""
    from .numeric_law import NumericLaw
    from .time_laws import order_statistic_law, time_law

    n, lam = s.tasks, float(lam_c.sum())
    if task.is_exponential and quorum <= MAX_EXACT_PHASES:
        law = hypoexponential([(n - j) / task.mean for j in range(quorum)])
    else:
        law = NumericLaw(order_statistic_law(time_law(task), n, quorum))
    response = law.mean()
    metrics = StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=0.0, busy_servers=lam * n * task.mean,
        mean_in_queue=0.0, mean_in_system=lam * response, mean_wait=0.0,
        mean_response=response, p_wait=0.0, p_idle=float("nan"), p_loss=0.0, response=law,
        response_scv=None, departure_scv=None, method="exact")
    return StationSolution(metrics, "exact", np.full(len(lam_c), response), response=law,
                           extra={"exact_law": True})


def _task_ends(n: int, k: int, task: Distribution, r: int, mean: float,
               var: float) -> PhaseType:
    """Time from a job's start on ``k`` slots to the ``r``-th end of its ``n`` tasks: for
    exponential tasks the exact chain of gaps between ends (the j-th at rate
    ``min(k, n - j) mu``), else a two-moment fit of ``mean`` and ``var``."""
    if task.is_exponential and r <= MAX_EXACT_PHASES:
        return hypoexponential([min(k, n - j) / task.mean for j in range(r)])
    return fit_two_moments(mean, var / mean**2 if mean > 0 else 0.0)


def _batcher(s: Station, lam_c: np.ndarray) -> StationSolution:
    from . import batch_latency, microbatch  # scipy.stats: loaded on first use

    lam = float(lam_c.sum())
    b = s.batch
    out = microbatch.batch_metrics(lam, b.interval, b.size, b.fixed, b.per_item, s.servers,
                                   b.window, b.slide)
    if not out.stable or out.mean_latency is None:
        return StationSolution(None, "unstable", note="batches take longer than the interval")
    latency = out.mean_latency
    wait = latency - out.item_processing
    law = batch_latency.item_latency_law(lam, b.clock, b.size, b.fixed, b.per_item,
                                         s.servers, out, b.window)
    metrics = StationMetrics(
        arrival_rate=lam, throughput=lam, utilization=out.utilization,
        busy_servers=out.utilization * s.servers, mean_in_queue=lam * wait,
        mean_in_system=lam * latency, mean_wait=wait, mean_response=latency,
        p_wait=1.0 if lam > 0 else 0.0, p_idle=max(0.0, 1.0 - out.utilization), p_loss=0.0,
        response=law.law if law else fit_two_moments(latency, 1.0 / 3.0), response_scv=None,
        departure_scv=None, method=out.method)
    return StationSolution(metrics, out.method, np.full(len(lam_c), latency),
                           response=metrics.response,
                           extra=({"law_method": law.method} if law else {}) | _window(b))


def _window(b: Batch) -> dict:
    """A windowed batcher's batches per window and how much later than its first result
    an item's last one comes (``window - slide``)."""
    if not b.window:
        return {}
    return {"window": (b.window / b.interval, b.window - b.slide)}
