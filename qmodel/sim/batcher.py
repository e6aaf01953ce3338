"""The batcher: collects items into batches and processes each batch as a whole.

A batch is released when ``batch_size`` items have gathered and/or at every tick of a
periodic clock of period ``interval`` (ticks at interval, 2·interval, …; an empty buffer
releases nothing). A released batch waits FCFS for one of ``servers`` batch processors;
its processing time is ``fixed`` plus one ``per_item`` draw per item, and its items leave
together. An item's visit lasts from its arrival to its batch's end; its wait is the time
until its batch started processing. ``waited`` counts items whose batch found every
processor busy.
"""

from __future__ import annotations

from collections import deque

from simpy.events import Timeout

from .jobs import Job
from .stations import Periodic, Station


class Batcher(Station):
    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        batch = spec.batch
        self.interval = batch.interval
        self.size = batch.size
        self.fixed = engine.streams.draws(batch.fixed, "batch-fixed", spec.name)
        self.per_item = engine.streams.draws(batch.per_item, "batch-item", spec.name)
        self.buffer: list[Job] = []
        self.batches: deque = deque()
        self.clock = Periodic(self.env, self.interval, self._tick_release,
                              lambda: not self.buffer) if self.interval else None

    def _tick_release(self) -> None:
        self.tick()
        if self.buffer:
            self._release()

    def enter(self, job: Job) -> None:
        if self.clock is not None:
            self.clock.wake()
        self.buffer.append(job)
        if self.size and len(self.buffer) >= self.size:
            self._release()

    def _release(self) -> None:
        batch, self.buffer = self.buffer, []
        if self.busy < self.c:
            self._process(batch)
        else:
            self.waited += len(batch)
            self.batches.append(batch)

    def _process(self, batch: list[Job]) -> None:
        self.busy += 1
        now = self.env.now
        work = next(self.fixed)
        for job in batch:
            job.start = now
            work += next(self.per_item)
        ev = Timeout(self.env, work, batch)
        ev.callbacks.append(self._done)

    def _done(self, ev: Timeout) -> None:
        self.tick()
        batch = ev._value
        self.n -= len(batch)
        self.busy -= 1
        if self.batches:
            self._process(self.batches.popleft())
        for job in batch:
            self.finish(job, job.start - job.t_arr)
