"""Closed and mixed networks through Mean Value Analysis, assembled into a ``Result``."""

from __future__ import annotations

import functools
import math

import numpy as np

from ..model.network import Network
from ..results import ClassResult, Estimate, NodeResult, Result, SystemResult, estimate
from . import mva as mva_solvers
from . import single_job
from .end_to_end import walk_distribution
from .open_network import needs_simulation
from .phase_type import PhaseType, fit_two_moments, mixture

EXACT_LATTICE_LIMIT = 200_000


def unsupported(network: Network) -> list[str]:
    """Why MVA cannot solve this network (empty when it can)."""
    out = []
    for s in network.stations:
        why = needs_simulation(network, s)
        if why:
            out.append(f"{s.name}: {why}")
        elif s.kind not in ("queue", "delay"):
            out.append(f"{s.name}: a {s.kind} in a closed network")
        elif s.rejects:
            out.append(f"{s.name}: finite capacity in a closed network")
        elif s.discipline not in ("fcfs", "ps", "lcfs-pr"):
            out.append(f"{s.name}: {s.discipline} scheduling in a closed network")
    for router in network.routers.values():
        if router.policy == "round_robin":
            out.append(f"{router.component}: round-robin routing in a closed network")
    return out


def is_product_form(network: Network) -> bool:
    for s in network.stations:
        if s.kind == "queue" and s.discipline == "fcfs":
            dists = list(s.service.values())
            if not all(d.is_exponential for d in dists) or len({d.mean for d in dists}) > 1:
                return False
    return all(c.interarrival is None or c.interarrival.is_exponential
               for c in network.open_classes)


def solve(network: Network, approximate: bool = False) -> Result:
    """Solve a network with closed classes (and possibly open ones) by MVA; one job alone
    in a network MVA does not take (forks, pools, batchers) by its own walk
    (:mod:`.single_job`)."""
    problems = unsupported(network)
    nodes = {s.name: NodeResult(s.name, s.component, s.kind, s.servers, "needs simulation")
             for s in network.stations}
    if problems and single_job.alone(network):
        return single_job.solve(network)
    if problems:
        notes = [f"needs simulation: {p}" for p in problems]
        return Result(network.name, "needs simulation", network.time_unit, nodes,
                      SystemResult("needs simulation"), notes=notes)
    closed, opened = network.closed_classes, network.open_classes
    visits_c = np.array([network.visits(c.name) for c in closed])
    service_c = np.array([[_mean(s, c.name) for s in network.stations] for c in closed])
    demands = visits_c * service_c
    kinds = ["delay" if s.kind == "delay" else "queue" for s in network.stations]
    servers = np.array([s.servers if math.isfinite(s.servers) else 1 for s in network.stations])
    populations = np.array([c.population for c in closed])
    think = np.array([c.think.mean for c in closed])
    lattice = float(np.prod(populations + 1.0))
    if opened:
        visits_o = np.array([network.visits(c.name) for c in opened])
        rates = np.array([c.rate for c in opened])
        open_d = visits_o * np.array([[_mean(s, c.name) for s in network.stations]
                                      for c in opened])
        out = mva_solvers.mixed_mva(rates, open_d, demands, kinds, populations, think, servers)
        res, method = out.closed, out.method
    elif approximate or (len(closed) > 1 and lattice > EXACT_LATTICE_LIMIT):
        res = mva_solvers.schweitzer_amva(demands, kinds, populations, think, servers)
        method = res.method
        out = None
    else:
        res = mva_solvers.mva(demands, kinds, populations, think, servers)
        method = res.method
        out = None
    if method == "exact" and not is_product_form(network):
        method = "approximation(MVA, not product form)"
    return _result(network, res, out, method, visits_c, demands, servers)


def _mean(station, cls: str) -> float:
    d = station.service.get(cls)
    return 0.0 if d is None else d.mean


def _result(network, res, mixed, method, visits_c, demands, servers) -> Result:
    closed = network.closed_classes
    x = res.throughput
    station_x_c = x[:, None] * visits_c
    q = res.queue_length.copy()
    util = res.utilization if mixed is None else mixed.utilization
    if mixed is not None:
        rates = np.array([c.rate for c in network.open_classes])
        visits_o = np.array([network.visits(c.name) for c in network.open_classes])
        station_x = station_x_c.sum(axis=0) + (rates[:, None] * visits_o).sum(axis=0)
        q_total = q.sum(axis=0) + mixed.open_queue_length.sum(axis=0)
    else:
        station_x = station_x_c.sum(axis=0)
        q_total = q.sum(axis=0)
    nodes = {}
    per_visit = []
    for k, s in enumerate(network.stations):
        node = NodeResult(s.name, s.component, s.kind, s.servers, method)
        xk = float(station_x[k])
        node.visits = Estimate(float(visits_c[:, k].mean()), "exact")
        node.arrival_rate = Estimate(xk, method)
        node.throughput = Estimate(xk, method)
        node.mean_in_system = Estimate(float(q_total[k]), method)
        r = float(q_total[k] / xk) if xk > 0 else 0.0
        per_visit.append(r)
        node.mean_response = Estimate(r, method)
        mean_s = float(np.dot(station_x_c[:, k], [_mean(s, c.name) for c in closed]) / xk) \
            if xk > 0 else 0.0
        node.mean_wait = Estimate(max(r - mean_s, 0.0), method)
        if s.kind == "delay":
            node.busy_servers = Estimate(float(q_total[k]), method)
            node.mean_in_queue = Estimate(0.0, method)
            node.p_wait = Estimate(0.0, "exact")
        else:
            node.utilization = Estimate(float(util[k]), method)
            node.busy_servers = Estimate(float(util[k] * servers[k]), method)
            node.mean_in_queue = Estimate(max(float(q_total[k] - util[k] * servers[k]), 0.0),
                                          method)
            if servers[k] == 1:
                node.p_idle = Estimate(max(0.0, 1.0 - float(util[k])), method)
        node.p_loss = Estimate(0.0, "exact")
        node.offered_load = float(util[k]) if s.kind != "delay" else None
        nodes[s.name] = node
    system = SystemResult(method)
    total_x = float(x.sum())
    system.throughput = Estimate(total_x, method)
    system.mean_response_time = estimate(float(np.dot(x, res.response_time) / total_x)
                                         if total_x > 0 else None, method)
    system.mean_jobs = Estimate(float(q_total.sum()), method)
    system.loss_probability = Estimate(0.0, "exact")
    d_max = demands.sum(axis=0) / servers
    kmax = int(np.argmax(np.where(np.array([s.kind for s in network.stations]) == "delay", -1,
                                  d_max)))
    system.bottleneck = network.stations[kmax].name
    if len(closed) == 1 and d_max[kmax] > 0:
        system.max_throughput = float(1.0 / d_max[kmax])
    dist = functools.cache(lambda: _end_to_end(network, per_visit))  # built on first use
    how = "approximation(exponential sojourns)"
    system.quantile = lambda p: Estimate(float(dist().quantile(p)), how)
    classes = {c.name: ClassResult(c.name, "closed", Estimate(float(x[i]), method),
                                   Estimate(float(res.response_time[i]), method),
                                   population=c.population)
               for i, c in enumerate(closed)}
    notes = []
    if len(closed) == 1:
        b = mva_solvers.bounds(demands[0], ["delay" if s.kind == "delay" else "queue"
                                            for s in network.stations],
                               closed[0].population, closed[0].think.mean)
        notes.append(f"knee population N* = {b.n_star:.3g}; throughput bounds "
                     f"[{b.x_lower:.4g}, {b.x_upper:.4g}]/s")
    if mixed is not None:
        for i, c in enumerate(network.open_classes):
            classes[c.name] = ClassResult(c.name, "open", Estimate(float(c.rate), method),
                                          Estimate(float(mixed.open_response_time[i]), method))
    return Result(network.name, "mva", network.time_unit, nodes, system, classes, [], notes,
                  network.components())


def _end_to_end(network: Network, per_visit: list[float]) -> PhaseType:
    """Time in the stations per cycle, each visit an exponential with its mean response."""
    phs = [fit_two_moments(max(r, 1e-12), 1.0) for r in per_visit]
    dists, weights = [], []
    for c in network.closed_classes:
        dists.append(walk_distribution(phs, network.entry[c.name], network.routing[c.name])[0])
        weights.append(c.population)
    if len(dists) == 1:
        return dists[0]
    return mixture(np.array(weights) / sum(weights), dists)
