"""Patience and balking in a held station's queue (:mod:`.held`).

Each job that has to wait draws a patience from the station's ``patience`` law; if it
is still waiting for a server when that runs out, it leaves unserved (reneging: counted
as abandoned, and lost to the system). An arrival finding ``n`` jobs waiting joins with
probability ``balk.joins(n)`` (``above: k``: never at k or more); one that does not is
counted as balked and lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simpy.events import Timeout

from .jobs import QUEUE
from .simpy_fields import event_value

if TYPE_CHECKING:
    from .engine import Engine
    from .held import Held
    from .jobs import Job


class Impatience:
    """The patience draws and balking decisions of one station."""

    def __init__(self, engine: Engine, station: Held):
        spec = station.spec
        self.env = engine.env
        self.station = station
        self.patience = (engine.streams.draws(spec.patience, "patience", spec.name)
                         if spec.patience is not None else None)
        self.balk = spec.balk
        self.u = engine.streams.uniforms("balk", spec.name)

    def balks(self, waiting: int) -> bool:
        """Whether an arrival finding ``waiting`` jobs in queue does not join."""
        if self.balk is None:
            return False
        p = self.balk.joins(waiting)
        return p <= 0 or (p < 1 and next(self.u) >= p)

    def wait(self, job: Job) -> None:
        """``job`` starts waiting: it leaves if still waiting when its patience ends."""
        if self.patience is None:
            return
        ev = job.patience = Timeout(self.env, next(self.patience), job)
        ev.callbacks.append(self._out_of_patience)

    def _out_of_patience(self, ev: Timeout) -> None:
        job = event_value(ev)
        if job.patience is ev and getattr(job, "stage", None) == QUEUE \
                and job.at is self.station:
            self.station.renege(job)
