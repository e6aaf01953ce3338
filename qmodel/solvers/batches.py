"""Batch (bulk) arrivals: a transient with no steady state, so the formulas do not apply.

What is known without simulating is a lower bound on the mean makespan (from the first
batch's arrival to the last batch job's exit), the largest of:

- per station: the least time before a batch job can reach it, plus its batch work
  divided by its servers, plus the least time from it to the exit. It cannot start before
  the first job arrives, does at most ``servers`` seconds of work per second, and its last
  job still has to leave. Least times count only deterministic service (a random time can
  be close to 0). The members of a component that moves jobs between them (``jsq``,
  ``rebalance``, failover ``migrate``) are pooled into one station;
- per job: the mean service along its class's cheapest route (a job's response time is
  at least its own service).

With repeated batches each term also counts only the batches from one arrival on, shifted
by that arrival's time. Jobs that can be lost (``capacity`` with ``on_full: reject``,
failures with ``policy: lost``) need no work, so there is no bound for such models.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from ..distributions import Distribution
from ..model.network import JobClass, Network, Station
from ..model.sizing import sizing_notes
from ..results import ClassResult, NodeResult, Result, SystemResult

NEEDS = "needs simulation"
STATIC_ROUTING = ("hash", "random", "partition", "round_robin")


@dataclass(frozen=True)
class MakespanBound:
    """A lower bound on the mean makespan (seconds) and the station or component whose
    work sets it (None when one job's own service does)."""

    seconds: float
    station: str | None


def solve(network: Network) -> Result:
    """The analytic result of a model with batch classes: every metric needs simulation;
    ``system.makespan_bound`` is the lower bound of :func:`makespan_bound`.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"cpu": {"kind": "queue", "servers": 2,
    ...                                        "service": {"dist": "deterministic", "value": 1}}},
    ...                      "batches": {"load": {"to": "cpu", "size": 10}}})
    >>> r = solve(m.network)
    >>> r.method, r.system.makespan, r.system.makespan_bound, r.system.bottleneck
    ('needs simulation', None, 5.0, 'cpu')
    """
    names = ", ".join(f"batches.{c.name}" for c in network.batch_classes)
    notes = [f"{NEEDS}: batch arrivals ({names}) are a transient without a steady state; "
             f"simulate for the makespan, turnaround times and queue lengths"]
    system = SystemResult(NEEDS)
    bound = makespan_bound(network)
    if bound is None:
        notes.append("no makespan bound: jobs can be lost (capacity with on_full: reject, or "
                      "failures with policy: lost)")
    else:
        system.makespan_bound, system.bottleneck = bound.seconds, bound.station
        why = f"the batch work per server at {bound.station}, with the least time to reach " \
              f"and leave it" if bound.station else "one job's mean service on its cheapest route"
        notes.append(f"makespan >= {bound.seconds:.4g} s (lower bound: {why})")
    notes += sizing_notes(network)
    nodes = {s.name: NodeResult(s.name, s.component, s.kind, s.servers, NEEDS)
             for s in network.stations}
    classes = {c.name: ClassResult(c.name, c.kind, population=c.population or None)
               for c in network.classes}
    return Result(network.name, NEEDS, network.time_unit, nodes, system, classes,
                  notes=notes, components=network.components())


def makespan_bound(network: Network) -> MakespanBound | None:
    """A lower bound on the mean makespan of the batch classes (module docstring); None
    when batch jobs can be lost."""
    batches = network.batch_classes
    if _can_lose(network, batches):
        return None
    start = min(c.at for c in batches)
    routes = {c.name: _Routes(network, c.name) for c in batches}
    best = MakespanBound(float(max(t + routes[c.name].mean_route for c in batches
                                   for t in c.times) - start), None)
    units = _units(network)
    for tau in sorted({t for c in batches for t in c.times}):
        later = {c.name: c.size * sum(t >= tau for t in c.times) for c in batches}
        for name, members in units.items():
            seconds = tau - start + _station_bound(network, members, later, routes)
            if seconds > best.seconds:
                best = MakespanBound(float(seconds), name)
    return best


def _station_bound(network: Network, members: list[int], jobs: dict[str, int],
                   routes: dict[str, _Routes]) -> float:
    """Least time to reach ``members``, their work per server, least time to leave."""
    servers = sum(network.stations[i].servers for i in members)
    work, reach, leave = 0.0, math.inf, math.inf
    for cls, n in jobs.items():
        r = routes[cls]
        for i in members:
            if n and r.visits[i] > 0:
                work += n * r.visits[i] * _work(network.stations[i], cls)
                reach, leave = min(reach, r.reach[i]), min(leave, r.leave[i])
    if not work or math.isinf(servers):
        return 0.0
    return reach + work / servers + leave


class _Routes:
    """Per station, for one class: mean visits per job, the least time before reaching
    it and after leaving it; and the mean service along the cheapest whole route."""

    def __init__(self, network: Network, cls: str):
        routing = network.routing[cls]
        entries = list(np.flatnonzero(network.entry[cls] > 0))
        exits = list(np.flatnonzero(routing.sum(axis=1) < 1 - 1e-9))
        least = np.array([_visit_time(s, cls, _least) for s in network.stations])
        mean = np.array([_visit_time(s, cls, _mean) for s in network.stations])
        self.visits = network.visits(cls)
        self.reach = _before(routing, least, entries)
        self.leave = _before(routing.T, least, exits)
        self.mean_route = min((_before(routing, mean, entries) + mean)[exits], default=0.0)


def _before(routing: np.ndarray, weights: np.ndarray, starts: list[int]) -> np.ndarray:
    """Per station, the least sum of ``weights`` of the stations a route from ``starts``
    passes before it (Dijkstra; inf where no route leads)."""
    dist = np.full(len(weights), math.inf)
    dist[starts] = 0.0
    heap = [(0.0, int(i)) for i in starts]
    while heap:
        d, i = heapq.heappop(heap)
        if d > dist[i]:
            continue
        for j in np.flatnonzero(routing[i] > 0):
            if d + weights[i] < dist[j]:
                dist[j] = d + weights[i]
                heapq.heappush(heap, (dist[j], int(j)))
    return dist


def _least(d: Distribution) -> float:
    return d.mean if d.scv == 0 else 0.0


def _mean(d: Distribution) -> float:
    return d.mean


def _visit_time(station: Station, cls: str, of) -> float:
    """``of`` (least or mean) of one visit's service: a batcher's item waits at least for
    its batch's overhead and its own item time, a fork's job for one task."""
    if station.kind == "batcher":
        return of(station.batch.fixed) + of(station.batch.per_item)
    return of(station.service[cls]) if cls in station.service else 0.0


def _work(station: Station, cls: str) -> float:
    """Mean work one visit brings: a service, all of a fork's tasks, a batcher item."""
    if station.kind == "batcher":   # with a window, an item is in window / slide jobs
        b = station.batch
        return b.per_item.mean * (b.window / b.slide if b.window else 1.0)
    if cls not in station.service:
        return 0.0
    return station.service[cls].mean * (station.tasks if station.kind == "fork" else 1)


def _units(network: Network) -> dict[str, list[int]]:
    """Stations whose work is bounded on its own, by name; members of a component that
    moves jobs between them are pooled under the component's name."""
    units: dict[str, list[int]] = {}
    for i, s in enumerate(network.stations):
        router = network.routers.get(s.component)
        moves = router is not None and (
            router.policy not in STATIC_ROUTING or router.rebalance is not None or
            any(f.policy == "migrate" for m in router.members
                for f in network.station(m).failures or ()))
        units.setdefault(s.component if moves else s.name, []).append(i)
    return units


def _can_lose(network: Network, batches: tuple[JobClass, ...]) -> bool:
    """Whether a batch job can reach a station that loses jobs."""
    visited = sum(network.visits(c.name) for c in batches) > 0
    return any(seen and (s.rejects or any(f.policy == "lost" for f in s.failures or ()))
               for seen, s in zip(visited, network.stations))
