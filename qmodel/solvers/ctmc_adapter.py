"""Exact answers for small Markovian open networks with finite buffers, via the CTMC.

A capacity with ``on_full: block`` holds jobs outside in order; with one exponential
service rate the number at the station (held or admitted) moves as without the capacity,
whatever the discipline, so the chain leaves it out."""

from __future__ import annotations

import math

import numpy as np

from ..model.network import Network
from ..results import Estimate, NodeResult, Result, SystemResult

AUTO_STATE_LIMIT = 200_000


def markovian(network: Network) -> str:
    """Why the CTMC solver cannot take this network ('' when it can)."""
    if network.closed_classes or len(network.open_classes) != 1:
        return "the CTMC solver takes one open class"
    cls = network.open_classes[0]
    if cls.interarrival is not None and not cls.interarrival.is_exponential:
        return "the CTMC solver needs Poisson arrivals"
    if any(r.policy not in ("hash", "random", "partition") for r in network.routers.values()):
        return "the CTMC solver needs probabilistic routing"
    for s in network.stations:
        if s.kind not in ("queue", "delay"):
            return f"{s.name}: a {s.kind} is not Markovian"
        if not all(d.is_exponential for d in s.service.values()):
            return f"{s.name}: service is not exponential"
        if s.discipline not in ("fcfs", "ps", "lcfs-pr") or s.failures is not None:
            return f"{s.name}: {s.discipline} scheduling"
    return ""


def preferred(network: Network) -> bool:
    """Auto mode: Markovian with a buffer that rejects when full, or that blocks under PS or
    LCFS-PR (else product form is exact)."""
    return not markovian(network) and any(
        s.rejects or (s.capacity is not None and s.discipline != "fcfs")
        for s in network.stations)


def solve(network: Network, max_states: int | None = None) -> Result:
    """Solve a network that :func:`markovian` accepts exactly through the explicit
    generator; raise :class:`~qmodel.errors.UnsupportedError` when its state space is too
    large, :class:`~qmodel.errors.UnstableError` when it has no steady state."""
    from . import ctmc  # scipy.sparse and scipy.stats: loaded only when needed

    cls = network.open_classes[0]
    stations = [ctmc.MarkovStation(1.0 / next(iter(s.service.values())).mean, s.servers,
                                   s.capacity if s.rejects else None) for s in network.stations]
    arrivals = cls.rate * network.entry[cls.name]
    limit = max_states or AUTO_STATE_LIMIT
    out = ctmc.solve_open(stations, arrivals, network.routing[cls.name], max_states=limit)
    nodes = {}
    method = "exact"
    for k, s in enumerate(network.stations):
        node = NodeResult(s.name, s.component, s.kind, s.servers, method)
        admitted = float(arrivals.sum())
        node.visits = Estimate(float(out.arrival_rate[k]) / admitted if admitted else 0.0, method)
        for key, value in (("arrival_rate", out.arrival_rate[k]),
                           ("throughput", out.throughput[k]),
                           ("mean_in_system", out.mean_in_system[k]),
                           ("mean_response", out.mean_response[k]),
                           ("mean_wait", out.mean_wait[k]), ("p_idle", out.p_idle[k]),
                           ("p_wait", out.p_wait[k]), ("p_loss", out.loss_probability[k])):
            setattr(node, key, Estimate(float(value), method))
        finite = math.isfinite(s.servers)
        busy = float(out.utilization[k]) * (s.servers if finite else 1)
        if finite:
            node.utilization = Estimate(float(out.utilization[k]), method)
        node.busy_servers = Estimate(busy, method)
        node.mean_in_queue = Estimate(max(float(out.mean_in_system[k]) - busy, 0.0), method)
        node.offered_load = float(out.arrival_rate[k] / stations[k].service_rate /
                                  s.servers) if finite else None
        nodes[s.name] = node
    system = SystemResult(method)
    system.throughput = Estimate(out.system_throughput, method)
    system.loss_probability = Estimate(out.system_loss_probability, method)
    system.mean_jobs = Estimate(out.mean_jobs_in_system, method)
    entered = float(np.sum(arrivals * (1.0 - out.loss_probability)))
    if entered > 0:
        system.mean_response_time = Estimate(out.mean_jobs_in_system / entered, method)
    notes = [f"CTMC with {out.n_states} states; truncation boundary mass "
             f"{out.boundary_mass:.2g}; percentiles: use qmodel.simulate"]
    return Result(network.name, "ctmc", network.time_unit, nodes, system, {}, [], notes,
                  network.components())

