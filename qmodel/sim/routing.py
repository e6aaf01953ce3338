"""Moving jobs: per-class routing rows, entry vectors, and routers in front of members.

The network's routing matrices are per station; here each row is folded back to
components (a shards or broker component is one target) and turned into a function that
sends a job on: to one target, to a random one, or out of the system. A
:class:`RouterComponent` then picks the member: by weights (``hash``, ``random``), by
partition and its owner (broker), in turn (``round_robin``) or the member with the fewest
jobs (``jsq``, ties broken in turn). ``rebalance`` periodically moves waiting jobs from the
fullest member to the emptiest one until they differ by at most one job.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..model.network import Router
from .jobs import Job
from .stations import Periodic, Station

if TYPE_CHECKING:
    from .engine import Engine

Send = Callable[[Job], None]


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
        elif router.policy == "round_robin":
            self.accept = self._round_robin
        else:
            self.accept = self._jsq
        if router.rebalance:
            self.balancer = Periodic(self.env, router.rebalance, self._rebalance,
                                     lambda: all(m.n == 0 for m in members))
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

    def alive(self, exclude: Station) -> Station | None:
        """The working member (other than ``exclude``) with the fewest jobs, if any."""
        up = [m for m in self.members if m is not exclude and not m.down]
        return min(up, key=lambda m: m.n) if up else None

    def _rebalance(self) -> None:
        up = [m for m in self.members if not m.down]
        while len(up) > 1:
            longest = max(up, key=lambda m: m.n)
            shortest = min(up, key=lambda m: m.n)
            if longest.n - shortest.n <= 1:
                break
            job = longest.pop_waiting()
            if job is None:
                break
            longest.tick()
            longest.n -= 1
            shortest.take(job)


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
