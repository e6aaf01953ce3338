"""The solver's view of a model: stations, job classes and per-class routing matrices.

Friendly component kinds are expanded here, in one place: ``shards`` and ``broker``
become one station per shard or consumer (``db-0``, ``db-1``, …) behind a
:class:`Router`; every other node is one station. Solvers and the simulator see only
this form; ``Station.component`` keeps the model's name for display.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from ..distributions import Deterministic, Distribution
from ..units import INFINITE
from .behaviour_spec import Balk, Call, ClientFields
from .check import class_source, next_of
from .mmpp import MMPP2
from .profiles import RateProfile
from .sizing import sized
from .spec import (
    MLFQ,
    BatcherNode,
    BrokerNode,
    DelayNode,
    Failures,
    ForkNode,
    JoinNode,
    ModelSpec,
    Rebalance,
    ShardsNode,
    failure_blocks,
)

StationKind = Literal["queue", "delay", "batcher", "fork", "join"]


@dataclass(frozen=True)
class JobClass:
    """A class of jobs: open (``rate``, ``interarrival``), closed (``population``,
    ``think``) or batch (``size`` jobs at once at ``at``, then every ``every``, ``count``
    batches in all). An open class with a rate ``profile`` has as ``rate`` the profile's
    mean over its length."""

    name: str
    kind: Literal["open", "closed", "batch"]
    rate: float = 0.0
    interarrival: Distribution | MMPP2 | None = None
    population: int = 0
    think: Distribution | None = None
    priority: int = 0
    size: int = 0
    at: float = 0.0
    every: float | None = None
    count: int = 1
    profile: RateProfile | None = None
    client: ClientFields | None = None  # timeout, retries, hedge (None: waits for ever)

    @property
    def interarrival_scv(self) -> float:
        return 1.0 if self.interarrival is None else self.interarrival.scv

    @property
    def times(self) -> list[float]:
        """When the batches of a batch class arrive (seconds)."""
        return [self.at + j * (self.every or 0.0) for j in range(self.count)]


@dataclass(frozen=True)
class Batch:
    """A batcher's rules; with a ``window``, one job every ``slide`` over the items of
    the last ``window`` seconds (both multiples of ``interval``)."""

    interval: float | None
    size: int | None
    fixed: Distribution
    per_item: Distribution
    window: float | None = None
    slide: float | None = None

    @property
    def clock(self) -> float | None:
        """The period of the batcher's jobs: the slide with a window, else the interval."""
        return self.slide if self.window else self.interval


@dataclass(frozen=True)
class Station:
    """One service station. ``servers`` is ``math.inf`` (:data:`qmodel.units.INFINITE`)
    for infinitely many: a delay, a join, a fork's unbounded slots."""

    name: str
    component: str
    kind: StationKind
    service: dict[str, Distribution] = field(default_factory=dict)
    servers: int | float = 1
    discipline: str = "fcfs"
    capacity: int | None = None
    mlfq: MLFQ | None = None
    failures: tuple[Failures, ...] | None = None  # the blocks that fail it (None: never)
    on_full: str = "reject"
    batch: Batch | None = None
    tasks: int = 1
    join: str | None = None
    branches: tuple[str, ...] = ()
    label: str | None = None
    quorum: int | None = None  # a join: tasks to wait for (None: all)
    calls: tuple[Call, ...] = ()  # synchronous calls, made holding the server
    call_order: str = "sequence"
    after: Distribution | None = None  # own work after the calls (server still held)
    pool: str | None = None  # a pool held for the whole visit
    patience: Distribution | None = None  # reneging from the queue
    balk: Balk | None = None

    @property
    def rejects(self) -> bool:
        """A capacity that loses the arrivals finding it full (``on_full: reject``); with
        ``block`` they wait outside in order, so nothing is lost."""
        return self.capacity is not None and self.on_full == "reject"


@dataclass(frozen=True)
class Router:
    """A component expanded to several member stations and how it picks one.

    ``weights`` is each member's share of the traffic (for a broker, the sum of its
    partitions' shares); ``owner[p]`` is the consumer that owns partition ``p``.
    """

    component: str
    policy: str
    members: tuple[str, ...]
    weights: tuple[float, ...]
    partition_weights: tuple[float, ...] = ()
    owner: tuple[int, ...] = ()
    rebalance: Rebalance | None = None


@dataclass(frozen=True)
class Replication:
    """The ``consistency:`` section resolved: the read fork and its join (N = the read
    fork's branches, R = the join's quorum), the write fork, W, and per read branch in
    order the write branch that updates that replica (None: it holds the write from the
    start of the write fork)."""

    read_fork: str
    read_join: str
    write_fork: str
    write_quorum: int
    updates: tuple[str | None, ...]


@dataclass(frozen=True)
class Network:
    """Stations, classes, entry vectors and routing matrices (one per class);
    ``failures`` maps a component to its failure blocks (each names its members)."""

    name: str
    time_unit: str
    stations: tuple[Station, ...]
    classes: tuple[JobClass, ...]
    entry: dict[str, np.ndarray]
    routing: dict[str, np.ndarray]
    routers: dict[str, Router]
    slo: tuple[str, ...] = ()
    failures: dict[str, tuple[Failures, ...]] = field(default_factory=dict)
    pools: dict[str, int] = field(default_factory=dict)  # pool name -> size
    replication: Replication | None = None  # the consistency section
    sizing: tuple = ()  # sharded components sized by their batches (.sizing.Sizing)

    @cached_property
    def index(self) -> dict[str, int]:
        return {s.name: i for i, s in enumerate(self.stations)}

    def station(self, name: str) -> Station:
        return self.stations[self.index[name]]

    def job_class(self, name: str) -> JobClass:
        return next(c for c in self.classes if c.name == name)

    @property
    def open_classes(self) -> tuple[JobClass, ...]:
        return tuple(c for c in self.classes if c.kind == "open")

    @property
    def profiles(self) -> dict[str, RateProfile]:
        """The rate profiles of the open classes whose rate changes over time, by class."""
        return {c.name: c.profile for c in self.classes if c.profile is not None}

    @property
    def closed_classes(self) -> tuple[JobClass, ...]:
        return tuple(c for c in self.classes if c.kind == "closed")

    @property
    def batch_classes(self) -> tuple[JobClass, ...]:
        return tuple(c for c in self.classes if c.kind == "batch")

    @cached_property
    def behaviours(self) -> frozenset[str]:
        """The client and held-thread behaviours the model has (:data:`BEHAVIOURS`)."""
        found = set()
        for s in self.stations:
            found |= {"calls"} if s.calls else set()
            found |= {"pools"} if s.pool or any(c.pool for c in s.calls) else set()
            found |= {"patience"} if s.patience is not None else set()
            found |= {"balking"} if s.balk is not None else set()
            for c in s.calls:
                found |= _client_behaviours(c)
        for c in self.classes:
            found |= _client_behaviours(c.client)
        return frozenset(found)

    def components(self) -> dict[str, list[str]]:
        """Components that stand for several stations (shards, consumers): their members."""
        groups: dict[str, list[str]] = {}
        for s in self.stations:
            groups.setdefault(s.component, []).append(s.name)
        return {k: v for k, v in groups.items() if v != [k]}

    def join_tasks(self) -> np.ndarray:
        """Tasks that arrive at each station per job it releases (k at a join, else 1)."""
        k = np.ones(len(self.stations))
        for s in self.stations:
            if s.kind == "fork":
                k[self.index[s.join]] = len(s.branches) if s.branches else 1
        return k

    def visits(self, cls: str, *, most: bool = False) -> np.ndarray:
        """Mean visits to each station per job of class ``cls`` (traffic equations).

        A fork sends one task into each branch, so stations inside a branch count each
        job's task; the join releases one job per k tasks. ``most``: every call is made
        (its ``count``, whatever its probability) and sends every retry and hedged copy it
        may (:attr:`~.behaviour_spec.ClientFields.most_attempts`): the worst case.
        """
        visits = _visits(self.entry[cls], self.routing[cls], self.join_tasks())
        for caller in self._callers_first():
            for call in caller.calls:
                count = call.count * call.most_attempts if most else call.mean_count
                for j, share in self._members_of(call.to):
                    visits[j] += visits[self.index[caller.name]] * count * share
        return visits

    def _members_of(self, component: str) -> list[tuple[int, float]]:
        """The stations of a component and each one's share of its traffic."""
        router = self.routers.get(component)
        if router is None:
            return [(self.index[component], 1.0)]
        total = sum(router.weights)
        return [(self.index[m], w / total) for m, w in zip(router.members, router.weights)]

    def _callers_first(self) -> list[Station]:
        """The stations that make calls, each before every station it calls (the calls
        form no cycle: the model check refuses one)."""
        order: list[Station] = []
        seen: set[str] = set()

        def visit(s: Station) -> None:
            if s.name in seen:
                return
            seen.add(s.name)
            for call in s.calls:
                for j, _ in self._members_of(call.to):
                    visit(self.stations[j])
            if s.calls:
                order.append(s)

        for s in self.stations:
            visit(s)
        return order[::-1]


BEHAVIOURS = {"calls": "synchronous calls (held threads)", "pools": "pools",
              "timeouts": "timeouts", "retries": "retries", "hedging": "hedged requests",
              "patience": "patience (reneging)", "balking": "balking"}
"""The behaviours of clients and held threads, and how a message names them."""


def _client_behaviours(client: ClientFields | None) -> set[str]:
    if client is None:
        return set()
    return ({"timeouts"} if client.timeout is not None else set()) | \
        ({"retries"} if client.retries is not None else set()) | \
        ({"hedging"} if client.hedge is not None else set())


def _visits(entry: np.ndarray, routing: np.ndarray, join_tasks: np.ndarray) -> np.ndarray:
    effective = routing / join_tasks[np.newaxis, :]
    n = len(entry)
    return solve_linear(np.eye(n) - effective.T, entry)


DENSE_SOLVE_LIMIT = 64
"""Largest linear system :func:`solve_linear` solves with a dense LU."""


def solve_linear(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``matrix @ x = rhs`` for the traffic-like equations of a network.

    Up to :data:`DENSE_SOLVE_LIMIT` unknowns a dense LU; beyond, a sparse LU (SuperLU):
    routing matrices have a few entries per row, so it is linear in the number of
    stations, and it needs no multithreaded BLAS (a threaded dense 200 x 200 solve can
    stall for a third of a second when its threads compete with other processes).
    """
    if matrix.shape[0] <= DENSE_SOLVE_LIMIT:
        return np.linalg.solve(matrix, rhs)
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    try:
        lu = splu(csc_matrix(matrix))
    except RuntimeError as exc:  # exactly singular, as np.linalg.solve reports it
        raise np.linalg.LinAlgError("Singular matrix") from exc
    return lu.solve(np.asarray(rhs, dtype=float))


def build_network(spec: ModelSpec) -> Network:
    """Expand a checked model spec into its :class:`Network`."""
    classes = tuple(_classes(spec))
    names = [c.name for c in classes]
    stations, routers = _stations(spec, names)
    index = {s.name: i for i, s in enumerate(stations)}
    members: dict[str, list[int]] = {s.component: [] for s in stations}
    for s in stations:
        members[s.component].append(index[s.name])
    # component -> (station index, share of the component's traffic) per member
    targets = {}
    for comp, idx in members.items():
        if comp in routers:
            weights = routers[comp].weights
            shares = (np.asarray(weights) / sum(weights)).tolist()
        else:
            shares = [1.0]
        targets[comp] = list(zip(idx, shares))

    def spread(route: dict[str, float], row: np.ndarray) -> None:
        for target, p in route.items():
            for j, share in targets[target]:
                row[j] += p * share

    n = len(stations)
    entry, routing = {}, {}
    for c in classes:
        source = class_source(spec, c.name)[1]
        entry[c.name] = np.zeros(n)
        spread(source.to, entry[c.name])
        matrix = np.zeros((n, n))
        for s in stations:
            node = spec.nodes[s.component]
            row = matrix[index[s.name]]
            if isinstance(node, ForkNode):
                if node.branches:
                    for branch in node.branches:
                        spread({branch: 1.0}, row)
                else:
                    spread({node.join: 1.0}, row)
            else:
                spread(next_of(spec, s.component, c.name), row)
        routing[c.name] = matrix
    slo = spec.slo if isinstance(spec.slo, list) else ([spec.slo] if spec.slo else [])
    failures = {name: tuple(blocks) for name, node in spec.nodes.items()
                if (blocks := failure_blocks(node))}
    return sized(Network(spec.name, spec.time_unit, tuple(stations), classes, entry, routing,
                         routers, tuple(slo), failures,
                         {name: pool.size for name, pool in spec.pools.items()},
                         _replication(spec)), spec.nodes)


def _replication(spec: ModelSpec) -> Replication | None:
    section = spec.consistency
    if section is None:
        return None
    read_fork = next(name for name, node in spec.nodes.items()
                     if isinstance(node, ForkNode) and node.join == section.reads)
    return Replication(read_fork, section.reads, section.writes, section.write_quorum,
                       tuple(section.replicas.get(b) for b in spec.nodes[read_fork].branches))


def _classes(spec: ModelSpec):
    for name, a in spec.arrivals.items():
        profile = a.rate if isinstance(a.rate, RateProfile) else None
        yield JobClass(name, "open", rate=profile.mean_rate() if profile else a.rate,
                       interarrival=a.interarrival, priority=a.priority, profile=profile,
                       client=a if a.is_client else None)
    for name, u in spec.users.items():
        think = u.think_time if u.think_time is not None else Deterministic(0.0)
        yield JobClass(name, "closed", population=u.population, think=think,
                       priority=u.priority)
    for name, b in spec.batches.items():
        yield JobClass(name, "batch", priority=b.priority, size=b.size, at=b.at,
                       every=b.every, count=b.count or 1)


def _per_class(default: Distribution | None, overrides: dict, classes: list[str]) -> dict:
    if default is None:
        return {}
    return {c: overrides.get(c, default) for c in classes}


def _stations(spec: ModelSpec, classes: list[str]):
    stations, routers = [], {}
    for name, node in spec.nodes.items():
        if isinstance(node, ShardsNode):
            members = tuple(f"{name}-{i}" for i in range(node.shards))
            weights = tuple(node.weights or [1.0] * node.shards)
            routers[name] = Router(name, node.routing, members, weights,
                                   rebalance=_rebalance(node.rebalance, node.clusters))
            for i, m in enumerate(members):
                stations.append(_queue_station(m, name, node, classes, i))
        elif isinstance(node, BrokerNode):
            routers[name] = _broker_router(name, node)
            for i, m in enumerate(routers[name].members):
                stations.append(Station(m, name, "queue", _per_class(
                    node.service, node.class_service, classes), 1, "fcfs", node.capacity,
                    failures=_member_failures(node, i), label=node.label))
        elif isinstance(node, DelayNode):
            stations.append(Station(name, name, "delay", _per_class(
                node.service, node.class_service, classes), INFINITE, "fcfs", label=node.label))
        elif isinstance(node, BatcherNode):
            zero = Deterministic(0.0)
            batch = Batch(node.interval, node.batch_size, node.fixed or zero,
                          node.per_item or zero, node.window,
                          (node.slide or node.interval) if node.window else None)
            stations.append(Station(name, name, "batcher", {}, node.servers, "fcfs",
                                    batch=batch, label=node.label))
        elif isinstance(node, ForkNode):
            service = _per_class(node.task_service, node.class_task_service, classes)
            stations.append(Station(
                name, name, "fork", service, node.slots if node.tasks else INFINITE, "fcfs",
                tasks=node.tasks or len(node.branches), join=node.join,
                branches=tuple(node.branches or ()), label=node.label))
        elif isinstance(node, JoinNode):
            stations.append(Station(name, name, "join", {}, INFINITE, "fcfs", label=node.label,
                                    quorum=node.quorum))
        else:
            stations.append(_queue_station(name, name, node, classes))
    return stations, routers


def _queue_station(name: str, component: str, node, classes: list[str],
                   member: int = 0) -> Station:
    kind = "delay" if math.isinf(node.servers) else "queue"
    return Station(name, component, kind, _per_class(node.service, node.class_service, classes),
                   node.servers, node.discipline, node.capacity, node.mlfq,
                   _member_failures(node, member), node.on_full, label=node.label,
                   calls=tuple(node.calls), call_order=node.call_order,
                   after=node.service_after, pool=node.pool, patience=node.patience,
                   balk=node.balk)


def _member_failures(node, member: int) -> tuple[Failures, ...] | None:
    """The failure blocks that fail member ``member`` of ``node`` (None: it never fails)."""
    blocks = tuple(b for b in failure_blocks(node) if b.members is None or member in b.members)
    return blocks or None


def _rebalance(value: float | Rebalance | None, clusters: int | None) -> Rebalance | None:
    """``rebalance`` in its full form (a bare duration is the period); its groups are
    the ``clusters`` unless given."""
    full = Rebalance(period=value) if isinstance(value, float) else value
    if full is not None and full.groups is None:
        full = full.model_copy(update={"groups": clusters or 1})
    return full


def _broker_router(name: str, node: BrokerNode) -> Router:
    p, g = node.partitions, node.consumers
    if node.assignment == "range":
        # Kafka's RangeAssignor: the first p % g consumers get one extra partition.
        base, extra = divmod(p, g)
        owner = []
        for consumer in range(g):
            owner += [consumer] * (base + (1 if consumer < extra else 0))
    else:
        owner = [i % g for i in range(p)]
    pw = tuple(node.partition_weights or [1.0] * p)
    weights = [0.0] * g
    for partition, consumer in enumerate(owner):
        weights[consumer] += pw[partition]
    members = tuple(f"{name}-{i}" for i in range(g))
    return Router(name, "partition", members, tuple(weights), pw, tuple(owner))


__all__ = ["Network", "Station", "JobClass", "Router", "Batch", "build_network"]
