"""A closed class of one job (population 1): the job is alone, so nothing it visits is
ever busy with another job and its time per cycle is its own time through the stations
(its tasks through a fork's branches, their maximum or R-th at the join). Solved as the
same walk with every queue taking no wait (a delay with its service law) and every pool
with a slot per task starting them all at once (unlimited slots),
which the open solver's fork blocks then time from the branches' actual laws; the
throughput is ``1 / (R + Z)``. A model whose tasks of one job could meet at a queue (two
branches through the same station) is left to MVA's "needs simulation".
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..model.network import JobClass, Network
from ..results import Estimate, Result

_RATE = 1e-12  # jobs per second of the stand-in open class: no pool ever queues


def alone(network: Network) -> bool:
    """Whether the network has one closed class of one job (and no other class), and no
    station that two tasks of that job could reach at once (branches of a fork share no
    station)."""
    if len(network.classes) != 1 or network.classes[0].kind != "closed" or \
            network.classes[0].population != 1:
        return False
    cls = network.classes[0].name
    routing = network.routing[cls]
    for s in network.stations:
        if s.kind != "fork" or not s.branches:
            continue
        join = network.index[s.join]
        seen: set[int] = set()
        for branch in s.branches:
            reach = _reach(network, routing, branch, join)
            if reach & seen:
                return False
            seen |= reach
    return True


def solve(network: Network) -> Result:
    """The job's cycle: its time through the stations ``R`` and throughput
    ``1 / (R + Z)`` (``Z`` the mean think time), every station's share of it."""
    from .open_network import solve_open  # the open solver times the walk
    from .open_result import open_result

    job = network.classes[0]
    stand_in = JobClass(job.name, "open", rate=_RATE)
    stations = tuple(dataclasses.replace(s, kind="delay", servers=math.inf)
                     if s.kind == "queue" else
                     dataclasses.replace(s, servers=math.inf)  # its tasks all start at once
                     if s.kind == "fork" and not s.branches and s.tasks <= s.servers else s
                     for s in network.stations)
    walk = open_result(solve_open(dataclasses.replace(network, stations=stations,
                                                      classes=(stand_in,))))
    if walk.system.mean_response_time is None:
        return dataclasses.replace(walk, model=network.name, method=walk.system.method)
    r = float(walk.system.mean_response_time)
    x = 1.0 / (r + (job.think.mean if job.think is not None else 0.0))
    scale = x / _RATE
    method = walk.system.method
    for s, node in zip(network.stations, walk.nodes.values()):
        node.kind, node.servers = s.kind, s.servers
        for key in ("arrival_rate", "throughput", "busy_servers", "mean_in_system",
                    "mean_in_queue"):
            value = getattr(node, key)
            if value is not None:
                setattr(node, key, Estimate(float(value) * scale, value.method))
        if s.kind == "queue" and node.busy_servers is not None:
            node.utilization = Estimate(float(node.busy_servers) / s.servers,
                                        node.busy_servers.method)
            node.offered_load = float(node.utilization)
            node.p_idle = Estimate(1.0 - float(node.utilization), node.busy_servers.method) \
                if s.servers == 1 else None
    system = walk.system
    system.throughput = Estimate(x, method)
    system.mean_jobs = Estimate(x * r, method)
    system.saturation_rate = None
    system.bottleneck = None
    classes = walk.classes
    klass = classes[job.name]
    klass.kind, klass.population = "closed", 1
    klass.throughput = Estimate(x, method)
    return dataclasses.replace(walk, model=network.name, method="mva",
                               unstable=[], notes=[
                                   "one job in the class: its cycle is its own time "
                                   "through the stations (no other job to wait for)"])


def _reach(network: Network, routing: np.ndarray, branch: str, join: int) -> set[int]:
    """Stations a task from ``branch`` can visit before ``join``."""
    router = network.routers.get(branch)
    stack = [network.index[m] for m in (router.members if router else [branch])]
    seen: set[int] = set()
    while stack:
        i = stack.pop()
        if i not in seen and i != join:
            seen.add(i)
            stack.extend(np.flatnonzero(routing[i]).tolist())
    return seen
