"""The batcher: collects items into batches and processes each batch as a whole.

The triggers of :mod:`qmodel.solvers.microbatch`: with an ``interval`` alone a clock
ticks at interval, 2·interval, … and each tick releases a batch of what came since the
last one, even nothing (an empty batch costs ``fixed``); with a ``batch_size`` alone a
batch is released at its ``batch_size``-th item; with both, a batch opens with its first
item and is released at its ``batch_size``-th item or ``interval`` after it opened,
whichever comes first. With a ``window`` (an interval alone) the clock ticks every
``slide`` instead, and each tick's job takes the items of the last ``window`` (counted
per batch interval): those since the last tick, which leave with it, and the earlier
ones, which have left already but cost their ``per_item`` again. A released batch waits
FCFS for one of ``servers`` batch processors; its processing time is ``fixed`` plus one
``per_item`` draw per item (of the window), and its new items leave together. An item's
visit lasts from its arrival to its batch's end; its wait is the time until its batch
started processing. ``waited`` counts items whose batch found every processor busy.
:func:`offered_load` is the processors' utilization these rules imply.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from simpy.events import Timeout

from ..model.network import Batch
from .jobs import Job
from .simpy_fields import event_value
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
        self.opened = 0  # batches opened; a linger timer releases only its own batch
        self.clock = None
        self.window = batch.window
        if self.window:      # the window's earlier items, drawn together (there may be many)
            self.item_dist = batch.per_item
            self.carried_rng = engine.streams.generator("batch-window", spec.name)
        self.counts: deque[list[int]] = deque()  # [batch interval index, items], a window's
        if self.interval and not self.size:
            # empty batches cost nothing without a fixed time: the clock may sleep
            costly = batch.fixed.mean > 0
            self.clock = Periodic(self.env, batch.clock, self._tick_release,
                                  lambda: not (costly or self.buffer or self.counts))
            self.clock.wake()

    def _tick_release(self) -> None:
        self.tick()
        self._release()

    def enter(self, job: Job) -> None:
        self.buffer.append(job)
        if self.window:
            index = math.floor(self.env.now / self.interval)
            if self.counts and self.counts[-1][0] == index:
                self.counts[-1][1] += 1
            else:
                self.counts.append([index, 1])
        if self.size and len(self.buffer) >= self.size:
            self._release()
        elif self.clock is not None:
            self.clock.wake()
        elif len(self.buffer) == 1 and self.interval:
            ev = Timeout(self.env, self.interval, self.opened)
            ev.callbacks.append(self._linger_release)

    def _linger_release(self, ev: Timeout) -> None:
        if event_value(ev) == self.opened:
            self.tick()
            self._release()

    def _release(self) -> None:
        self.opened += 1
        batch, self.buffer = self.buffer, []
        carried = 0
        if self.window:      # the batch intervals of the window ending now
            first = round((self.env.now - self.window) / self.interval)
            while self.counts and self.counts[0][0] < first:
                self.counts.popleft()
            carried = sum(n for _, n in self.counts) - len(batch)
        if self.busy < self.c:
            self._process(batch, carried)
        else:
            self.waited += len(batch)
            self.batches.append((batch, carried))

    def _process(self, batch: list[Job], carried: int = 0) -> None:
        self.busy += 1
        now = self.env.now
        work = next(self.fixed)
        for job in batch:
            job.start = now
            work += next(self.per_item)
        if carried:
            work += float(np.sum(self.item_dist.sample(self.carried_rng, carried)))
        ev = Timeout(self.env, work, batch)
        ev.callbacks.append(self._done)

    def _done(self, ev: Timeout) -> None:
        self.tick()
        batch = event_value(ev)
        self.n -= len(batch)
        self.busy -= 1
        if self.batches:
            self._process(*self.batches.popleft())
        for job in batch:
            self.finish(job, job.start - job.t_arr)


def offered_load(batch: Batch, servers: int, lam: float) -> float:
    """Utilization of the batch processors at item rate ``lam`` under these rules
    (:func:`qmodel.solvers.microbatch.offered_load`); 1 or more means the backlog grows."""
    from ..solvers import microbatch  # scipy.stats: only for a model with a batcher

    return microbatch.offered_load(lam, batch.interval, batch.size, batch.fixed,
                                   batch.per_item, servers, batch.window, batch.slide)
