"""Failures and repairs of stations (``failures`` in the model).

Each failure block of a component fails its ``members`` (default: every member) at each
time in ``at`` for ``duration``, and/or alternately lets them work for an exponential
time of mean ``mttf`` and keeps them down for an exponential time of mean ``mttr``. Each
member has its own failure process, or, with ``together``, the members are one unit (a
cluster) that fails and recovers at the same instants. While a station is down nothing
is served there. ``policy`` says what happens to its jobs:

- ``lost``: the jobs in it and those arriving while it is down are lost;
- ``retry``: interrupted jobs restart (the same work) after the repair, waiting jobs and
  new arrivals wait;
- ``migrate``: its jobs are dealt one by one to the least loaded working member of the
  same shards or broker (interrupted work restarts there: the failed member's memory is
  lost), and arrivals go there too; with no working member, as ``retry``.

Jobs held back by ``capacity`` with ``on_full: block`` move with ``migrate`` (the
receivers admit or hold them by their own capacity); otherwise they stay held and are
admitted after the repair, up to the capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from simpy.events import Timeout

from ..errors import UnsupportedError
from ..model.network import Network

if TYPE_CHECKING:
    import numpy as np

    from ..model.spec import Failures
    from .engine import Engine
    from .routing import RouterComponent
    from .stations import Station


def check_failures(network: Network) -> None:
    """Raise :class:`UnsupportedError` for a failure block the simulator cannot run."""
    for component, blocks in network.failures.items():
        for f in blocks:
            where = f"nodes.{component}.failures"
            if f.at and f.duration is None and f.mttr is None:
                raise UnsupportedError("simulation", f"{where}: failures at given times need "
                                                     "a duration (or mttr)")
            if (f.mttf is None) != (f.mttr is None) and not f.at:
                raise UnsupportedError("simulation", f"{where}: give both mttf and mttr")


def start_failures(engine: Engine) -> None:
    """Start one failure process per failing member, or per group failing together."""
    for component, blocks in engine.network.failures.items():
        members = [engine.stations[i] for i in engine.member_index[component]]
        for i, block in enumerate(blocks):
            chosen = members if block.members is None else [members[k] for k in block.members]
            if block.together:
                _start(engine, block, chosen, ("failures", component, "together", str(i)))
                continue
            for station in chosen:  # the first block keeps the stream it always had
                _start(engine, block, [station],
                       ("failures", station.name) + ((str(i),) if i else ()))


def _start(engine: Engine, block: Failures, group: list[Station], key: tuple[str, ...]) -> None:
    for t in block.at:
        _after(engine, t, lambda ev: _fail(engine, group, block.policy,
                                           block.duration or block.mttr))
    if block.mttf is not None and block.mttr is not None:
        _cycle(engine, block, group, engine.streams.generator(*key))


def _after(engine: Engine, delay: float, fn: Callable) -> None:
    ev = Timeout(engine.env, delay)
    ev.callbacks.append(fn)


def _cycle(engine: Engine, block: Failures, group: list[Station],
           rng: np.random.Generator) -> None:
    def fail(ev: Timeout) -> None:
        _fail(engine, group, block.policy, rng.exponential(block.mttr),
              then=lambda: _cycle(engine, block, group, rng))

    _after(engine, rng.exponential(block.mttf), fail)


def _fail(engine: Engine, group: list[Station], policy: str, duration: float,
          then: Callable[[], None] | None = None) -> None:
    """Take ``group`` down for ``duration``; every member is down before any work moves,
    so a failed group's work goes to the members still working."""
    failing = [s for s in group if not s.down]
    for station in group:
        station.down += 1
    for station in failing:
        station.failure_policy = policy
        _empty(station, policy)

    def repair(ev: Timeout) -> None:
        for station in group:
            station.down -= 1
            if not station.down:
                station.resume()
                station.admit_held()
        if then is not None:
            then()

    _after(engine, duration, repair)


def _empty(station: Station, policy: str) -> None:
    """What a failure does to the jobs in ``station``."""
    router = station.router
    if policy == "lost":
        for job in station.evict():
            station.drop(job)
    elif policy == "migrate" and router is not None and router.least_loaded() is not None:
        _migrate(station, router)
    else:
        station.requeue(station.interrupt())


def _migrate(station: Station, router: RouterComponent) -> None:
    """Deal the station's jobs, then its held ones, to the least loaded working members."""
    for job in station.evict():
        job.remaining = job.service  # the work done in the failed member is lost
        router.least_loaded().take(job)
    while station.blocked:
        router.least_loaded().take(station.blocked.popleft())
