"""Failures and repairs of stations (``failures`` in the model).

A station fails at each time in ``at`` for ``duration``, and/or alternately works for an
exponential time of mean ``mttf`` and is down for an exponential time of mean ``mttr``.
While it is down nothing is served. ``policy`` says what happens to its jobs:

- ``lost``: the jobs in it and those arriving while it is down are lost;
- ``retry``: interrupted jobs restart (the same work) after the repair, waiting jobs and
  new arrivals wait;
- ``migrate``: its jobs move to a working sibling member of the same shards or broker
  (interrupted work restarts there) and arrivals go there too; with no working sibling,
  as ``retry``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simpy.events import Timeout

from ..errors import UnsupportedError
from ..model.network import Network

if TYPE_CHECKING:
    from .engine import Engine
    from .stations import Station


def check_failures(network: Network) -> None:
    """Raise :class:`UnsupportedError` for a failure block the simulator cannot run."""
    for s in network.stations:
        f = s.failures
        if f is None:
            continue
        where = f"nodes.{s.component}.failures"
        if f.at and f.duration is None and f.mttr is None:
            raise UnsupportedError("simulation", f"{where}: failures at given times need a "
                                                 "duration (or mttr)")
        if (f.mttf is None) != (f.mttr is None) and not f.at:
            raise UnsupportedError("simulation", f"{where}: give both mttf and mttr")


def start_failures(engine: Engine) -> None:
    for station in engine.stations:
        f = station.failures
        if f is None:
            continue
        for t in f.at:
            _after(engine, t, lambda ev, s=station, d=f.duration or f.mttr: _fail(engine, s, d))
        if f.mttf is not None and f.mttr is not None:
            rng = engine.streams.generator("failures", station.name)
            _cycle(engine, station, rng, first=True)


def _after(engine: Engine, delay: float, fn) -> None:
    ev = Timeout(engine.env, delay)
    ev.callbacks.append(fn)


def _cycle(engine: Engine, station: Station, rng, first: bool = False) -> None:
    f = station.failures
    up = rng.exponential(f.mttf)

    def fail(ev):
        down = rng.exponential(f.mttr)
        _fail(engine, station, down, then=lambda: _cycle(engine, station, rng))

    _after(engine, up, fail)


def _fail(engine: Engine, station: Station, duration: float, then=None) -> None:
    station.down += 1
    if station.down == 1:
        policy = station.failures.policy
        router = station.router
        if policy == "lost":
            for job in station.evict():
                station.drop(job)
        elif policy == "migrate" and router is not None and router.alive(station) is not None:
            for job in station.evict():
                job.remaining = job.service  # the work in the failed member is lost
                router.alive(station).take(job)
        else:
            station.requeue(station.interrupt())

    def repair(ev):
        station.down -= 1
        if station.down == 0:
            station.resume()
        if then is not None:
            then()

    _after(engine, duration, repair)
