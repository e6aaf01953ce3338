"""Moving jobs: per-class routing rows, entry vectors, and routers in front of members.

The network's routing matrices are per station; here each row is folded back to
components (a shards or broker component is one target) and turned into a function that
sends a job on: to one target, to a random one, or out of the system. A
:class:`RouterComponent` then picks the member: by weights (``hash``, ``random``), by
partition and its owner (broker), in turn (``round_robin``), the member with the fewest
jobs (``jsq``, ties broken in turn) or, for ``primary_secondary``, a primary member by
weights, overflowing to the next member when only that one has an idle server (see
:meth:`RouterComponent._primary_secondary`).
``rebalance`` periodically moves jobs that have not started (held ones first) from the
most to the least loaded member of each group until they differ by at most ``threshold``
jobs.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from ..model.network import Router
from .jobs import Job
from .stations import Periodic, Station

if TYPE_CHECKING:
    from .engine import Engine

Send = Callable[[Job], None]
LOAD = attrgetter("load")


class RouterComponent:
    """A component expanded to member stations; ``accept`` picks a member."""

    def __init__(self, engine: Engine, router: Router, members: list[Station]):
        self.env = engine.env
        self.name = router.component
        self.members = members
        self.turn = 0
        for m in members:
            m.router = self
        if router.policy == "partition":
            self.u = engine.streams.uniforms("router", router.component)
            self.cum = _cumulative(router.partition_weights)
            self.owner = [members[o] for o in router.owner]
            self.accept = self._partition
        elif router.policy in ("hash", "random"):
            self.u = engine.streams.uniforms("router", router.component)
            self.cum = _cumulative(router.weights)
            self.accept = self._weighted
        elif router.policy == "primary_secondary":
            self.u = engine.streams.uniforms("router", router.component)
            self.cum = _cumulative(router.weights)
            self.accept = self._primary_secondary
        elif router.policy == "round_robin":
            self.accept = self._round_robin
        else:
            self.accept = self._jsq
        if router.rebalance:
            size = len(members) // router.rebalance.groups
            self.groups = [members[i:i + size] for i in range(0, len(members), size)]
            self.threshold = router.rebalance.threshold
            self.balancer = Periodic(self.env, router.rebalance.period, self._rebalance,
                                     lambda: all(m.load == 0 for m in members))
            self.pick = self.accept
            self.accept = self._accept_and_wake

    def _accept_and_wake(self, job: Job) -> None:
        self.balancer.wake()
        self.pick(job)

    def _weighted(self, job: Job) -> None:
        self.members[bisect_right(self.cum, next(self.u))].accept(job)

    def _partition(self, job: Job) -> None:
        self.owner[bisect_right(self.cum, next(self.u))].accept(job)

    def _round_robin(self, job: Job) -> None:
        i = self.turn
        self.turn = (i + 1) % len(self.members)
        self.members[i].accept(job)

    def _primary_secondary(self, job: Job) -> None:
        """Primary member i by weights; if it has no idle server and member (i + 1) mod n
        has one, the job goes there, else it joins the primary's queue."""
        i = bisect_right(self.cum, next(self.u))
        primary = self.members[i]
        secondary = self.members[(i + 1) % len(self.members)]
        if not _has_idle_server(primary) and _has_idle_server(secondary):
            secondary.accept(job)
        else:
            primary.accept(job)

    def _jsq(self, job: Job) -> None:
        members = self.members
        m = len(members)
        first = self.turn
        self.turn = (first + 1) % m
        best = members[first]
        for j in range(1, m):
            s = members[(first + j) % m]
            if s.n < best.n:
                best = s
        best.accept(job)

    def least_loaded(self) -> Station | None:
        """The working member with the least load (the first of equals), if any."""
        up = [m for m in self.members if not m.down]
        return min(up, key=LOAD) if up else None

    def _rebalance(self) -> None:
        for group in self.groups:
            self._balance([m for m in group if not m.down])

    def _balance(self, up: list[Station]) -> None:
        """Push jobs from the most to the least loaded of ``up`` while they differ by more
        than the threshold and the most loaded has a job that has not started."""
        while len(up) > 1:
            longest = max(up, key=LOAD)
            shortest = min(up, key=LOAD)
            if longest.load - shortest.load <= self.threshold or not longest.send_one(shortest):
                return


def _has_idle_server(station: Station) -> bool:
    """Fewer jobs than servers and working (a work-conserving station has one idle)."""
    return station.n < station.c and not station.down


def _cumulative(weights) -> list[float]:
    cum = list(np.cumsum(weights) / np.sum(weights))
    cum[-1] = 2.0  # never past the last member
    return cum


def build_components(engine: Engine) -> dict:
    """Component name -> its single station or its :class:`RouterComponent`."""
    members: dict[str, list[Station]] = {}
    for station in engine.stations:
        members.setdefault(station.spec.component, []).append(station)
    components = {}
    for name, stations in members.items():
        router = engine.network.routers.get(name)
        components[name] = stations[0] if router is None else RouterComponent(engine, router,
                                                                             stations)
    engine.member_index = {name: [s.index for s in stations] for name, stations in members.items()}
    engine.routers = [c for c in components.values() if isinstance(c, RouterComponent)]
    return components


def wire(engine: Engine) -> None:
    """Give each station its per-class next hop and each class its entry."""
    net = engine.network
    for station in engine.stations:
        spec = station.spec
        station.next = [route(engine, net.routing[c.name][station.index], ("route", spec.name))
                        for c in net.classes]
        if spec.kind == "fork" and spec.branches:
            station.branches = [engine.components[b].accept for b in spec.branches]
            station.join = engine.components[spec.join]
    engine.entries = [route(engine, net.entry[c.name], ("entry", c.name)) for c in net.classes]


def route(engine: Engine, row: np.ndarray, key: tuple[str, ...]) -> Send:
    """A function that sends a job where ``row`` (probabilities over stations) says."""
    targets, probs = [], []
    for name, idx in engine.member_index.items():
        p = float(row[idx].sum())
        if p > 1e-12:
            targets.append(engine.components[name].accept)
            probs.append(p)
    total = sum(probs)
    if not targets:
        return engine.exit
    if len(targets) == 1 and total >= 1 - 1e-9:
        return targets[0]
    cum = list(np.cumsum(probs))
    if total >= 1 - 1e-9:
        cum[-1] = 2.0
    targets.append(engine.exit)
    u = engine.streams.uniforms(*key)

    def send(job: Job) -> None:
        targets[bisect_right(cum, next(u))](job)

    return send
