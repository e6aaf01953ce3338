"""The working parts of the system: pools of servers, broker consumers, micro-batchers,
fork (map tasks over slots) and join (shuffle and reduce).

Each part measures enqueue, start and end of every item it serves and writes them to the
process's trace, and, when tracing is on, the same service as a visit span
(:mod:`.otel`). What an item does after a part is the ``after`` callback's business.

A service starts at the *hand-off*: the moment the item is in this process's queue and a
server is free (``max(arrival here, server free)``), not when the worker's coroutine is
next scheduled by the event loop. The scheduling delay of the emulator (a ready coroutine
waiting for the loop, most of it when the machine is loaded) is thereby part of the
service the padding tops up, like the sleep's own overshoot, instead of an extra wait
that the model has no station for. Times from another process (a broker's publish time)
are not hand-offs: the transit stays in the measured waiting time.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from qmodel.distributions import Distribution
from qmodel.model.network import Station

from .broker import Broker, Message
from .items import BalkedError, CancelledItemError, Item, RenegedError, StationFullError
from .timing import ServiceClock
from .trace import TraceWriter

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported only when tracing is on
    from .held import Held
    from .otel import Tracing

RETRY_S = 0.1  # a consumer whose broker is away reads again after this
Work = Callable[[Item], Awaitable[None]]
After = Callable[[Item], Awaitable[None]]


def mean_service(station: Station) -> float:
    """The largest mean service time over classes (0 when the station has none)."""
    return max((d.mean for d in station.service.values()), default=0.0)


def draw(dist: Distribution | None, rng: np.random.Generator) -> float:
    return 0.0 if dist is None else max(0.0, float(dist.sample(rng)))


def handed_off(handed: float) -> tuple[float, float]:
    """The service's start as (epoch seconds, ``perf_counter`` time): the hand-off, or
    now if that is in the future (clocks of other processes)."""
    now, perf = time.time(), time.perf_counter()
    start = min(handed, now)
    return start, perf - (now - start)


class Pool:
    """A station with ``servers`` concurrent workers (infinitely many when inf) behind a
    FIFO queue; at most ``capacity`` items inside, beyond which it rejects or blocks.

    With ``held`` (:mod:`.held`): a server also takes the station's ``pool`` before its
    service, makes the station's ``calls`` after ``service`` and then serves
    ``service_after``, holding itself all along; a queued item whose ``patience`` runs out
    leaves (:class:`.items.RenegedError`); an arrival balks (``balk``, counted by the
    items waiting); an item can be withdrawn (:meth:`.held.Held.cancel`). The trace row's
    start and end span the whole visit (the server is busy), its target and service are
    the station's own work (``service`` + ``service_after``, drawn and delivered)."""

    def __init__(self, station: Station, trace: TraceWriter, rng: np.random.Generator,
                 work: Work | None, after: After, on_error: Callable[[Item, Exception], None],
                 service: Callable[[Item], Distribution | None] | None = None, *,
                 tracing: Tracing | None = None, held: Held | None = None):
        self.station = station
        self.held = held
        self._queued: dict[str, Item] = {}  # waiting, by id (insertion order: FIFO)
        self._patience: dict[str, asyncio.TimerHandle] = {}
        self.trace = trace
        self.tracing = tracing
        self.rng = rng
        self.work = work
        self.after = after
        self.on_error = on_error
        self.service = service or (lambda item: station.service.get(item.cls))
        # One clock per server: a debt is a server's own. Shared by concurrent servers it
        # is a feedback loop whose gain is their number (all of them repay one debt at
        # once, overshoot, and swing the other way): measured here, an 8-server pool's
        # delivered service times swung by ±50 ms around their draws (CV 1.2 instead of
        # 1) and waited three times as long as an M/M/8. Infinite servers carry no debt.
        mean = mean_service(station)
        self.pooled = math.isfinite(station.servers)
        self.clocks = [ServiceClock(mean) for _ in range(station.servers if self.pooled else 1)]
        if not self.pooled:
            self.clocks[0].max_debt_s = 0.0
        self.clock = self.clocks[0]
        self.queue: asyncio.Queue[tuple[Item, float]] = asyncio.Queue()
        self.inside = 0
        self.busy = 0
        self._space = asyncio.Condition()
        self._tasks: list[asyncio.Task] = []

    @property
    def name(self) -> str:
        return self.station.name

    def start(self) -> None:
        if self.pooled:
            self._tasks = [asyncio.create_task(self._worker(clock)) for clock in self.clocks]
        else:
            self._tasks = [asyncio.create_task(self._dispatcher())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def put(self, item: Item, enqueued: float | None = None, *,
                  admitted: bool = False) -> None:
        """Queue an item; raise :class:`StationFullError` (reject) or wait (block) when full.
        ``admitted``: the capacity was enforced upstream (a worker's input stream)."""
        capacity = None if admitted else self.station.capacity
        balk = self.station.balk
        if balk is not None and self.rng.random() >= balk.joins(self.waiting):
            self.trace.rejected(item.id, item.cls, self.station.component, self.name)
            raise BalkedError(self.name)
        if capacity is not None and self.inside >= capacity:
            if self.station.on_full == "reject":
                self.trace.rejected(item.id, item.cls, self.station.component, self.name)
                raise StationFullError(self.name)
            async with self._space:
                await self._space.wait_for(lambda: self.inside < capacity)
        self.inside += 1
        arrived = time.time()
        item.t_enq = enqueued if enqueued is not None else arrived
        self._queued[item.id] = item
        if self.held is not None:
            self.held.enqueued(item, self)
        if self.station.patience is not None:
            self._patience[item.id] = asyncio.get_running_loop().call_later(
                draw(self.station.patience, self.rng), self._renege, item.id)
        self.queue.put_nowait((item, arrived))

    @property
    def waiting(self) -> int:
        """Items in the queue, not yet served nor gone (what balking counts)."""
        return len(self._queued)

    def _renege(self, item_id: str) -> None:
        """The item's patience ran out in the queue: it leaves (its request is answered)."""
        item = self._queued[item_id]
        self.trace.rejected(item.id, item.cls, self.station.component, self.name)
        self._drop(item, RenegedError(self.name))

    def withdraw(self, item_id: str) -> bool:
        """Take a queued item out now (its caller cancelled it); False if not queued."""
        item = self._queued.get(item_id)
        if item is not None:
            self._drop(item, CancelledItemError(f"{item_id}: cancelled by its caller"))
        return item is not None

    def _drop(self, item: Item, reason: Exception) -> None:
        """A queued item leaves without service (skipped when a server reaches it)."""
        del self._queued[item.id]
        timer = self._patience.pop(item.id, None)
        if timer is not None:
            timer.cancel()
        if self.held is not None:
            self.held.picked(item)
        asyncio.ensure_future(self._leave())
        self.on_error(item, reason)

    def _picked(self, item: Item) -> bool:
        """The item leaves the queue for a server; False if it left it already (reneged,
        withdrawn)."""
        if self._queued.pop(item.id, None) is None:
            return False
        timer = self._patience.pop(item.id, None)
        if timer is not None:
            timer.cancel()
        if self.held is not None:
            self.held.picked(item)
        return True

    async def _worker(self, clock: ServiceClock) -> None:
        free_since = 0.0
        while True:
            item, arrived = await self.queue.get()
            if self._picked(item):
                await self._serve(item, max(arrived, free_since), clock)
                free_since = time.time()

    async def _dispatcher(self) -> None:
        while True:
            item, arrived = await self.queue.get()
            if self._picked(item):
                asyncio.create_task(self._serve(item, arrived, self.clock))

    async def _serve(self, item: Item, handed: float, clock: ServiceClock) -> None:
        """Serve ``item``, handed to a free server at ``handed`` (epoch seconds), timed by
        that server's ``clock``."""
        self.busy += 1
        pool = self.held.pools[self.station.pool] if self.station.pool else None
        if pool is not None:  # the visit's pool, after the server (both held to the end)
            await pool.acquire()
            handed = max(handed, time.time())
        start, started = handed_off(handed)
        target = draw(self.service(item), self.rng)
        after = draw(self.station.after, self.rng)
        try:
            body = self._body(item, target, after, started, clock)
            delivered = await (body if self.held is None else self.held.serve(item, body))
        except Exception as exc:  # a failed item is reported, never dropped silently
            self.busy -= 1
            await self._leave()
            self.on_error(item, exc)
            return
        finally:
            if pool is not None:
                pool.release()
        # a held visit spans its calls too (the server was busy all along); any other
        # ends with its delivered service, as its trace row and span always have
        end = start + (time.perf_counter() - started if self.station.calls else delivered)
        self.trace.service(item.id, item.cls, self.station.component, self.name, item.t_enq,
                           start, end, target + after, delivered)
        if self.tracing is not None:
            self.tracing.visit(item, item.headers, self.station.component, self.name, start,
                               end, target + after)
        self.busy -= 1
        await self._leave()
        await self.after(item)

    async def _body(self, item: Item, target: float, after: float, started: float,
                    clock: ServiceClock) -> float:
        """The work of one visit: ``service``, the calls, ``service_after``; returns the
        station's own time (the calls' time excluded)."""
        if self.work is not None:
            await self.work(item)
        delivered = await clock.pad(target, started)
        if not self.station.calls:
            return delivered
        await self.held.make_calls(self.station, item)
        if self.station.after is not None:
            delivered += await clock.pad(after, time.perf_counter())
        return delivered

    async def _leave(self) -> None:
        self.inside -= 1
        if self.station.capacity is not None:
            async with self._space:
                self._space.notify()


class Consumer:
    """One consumer of a broker's group: a single server reading its partitions.

    Its service includes handing the message on and acknowledging it (with Redis: round
    trips, ~1 ms each here), as a real consumer's does: the pad leaves room for the
    hand-off's learned mean (at most half the mean service), so the whole still lasts
    the drawn time, and the trace's end is when the consumer is free again.
    """

    def __init__(self, station: Station, name: str, broker: Broker, partitions: list[int],
                 trace: TraceWriter, rng: np.random.Generator, work: Work,
                 after: Callable[[Item, Message], Awaitable[None]], min_idle_s: float = 3.0,
                 *, tracing: Tracing | None = None):
        self.station = station
        self.name = name
        self.broker = broker
        self.partitions = partitions
        self.trace = trace
        self.tracing = tracing
        self.rng = rng
        self.work = work
        self.after = after
        self.min_idle_s = min_idle_s
        self.clock = ServiceClock(mean_service(station))
        self.stopping = False
        self._free_since = 0.0
        self.handoff_s = 0.0  # learned mean time of ``after`` (hand on + acknowledge)
        self._max_reserve_s = 0.5 * mean_service(station)

    async def run(self) -> None:
        last_claim = 0.0
        while not self.stopping:
            messages: list[Message] = []
            try:
                if time.monotonic() - last_claim > self.min_idle_s:
                    messages = await self.broker.claim(self.name, self.partitions,
                                                       self.min_idle_s)
                    last_claim = time.monotonic()
                if not messages:
                    messages = await self.broker.read(self.name, self.partitions, 1, 0.5)
            except self.broker.transient:  # the broker restarts: read again soon
                await asyncio.sleep(RETRY_S)
                continue
            received = time.time()
            for message in messages:
                # an in-process broker's publish time is a hand-off; another process's is not
                arrived = message.item.t_enq if self.broker.in_process else received
                await self._serve(message, max(arrived, self._free_since))
                self._free_since = time.time()

    async def _serve(self, message: Message, handed: float) -> None:
        item = message.item
        enqueued = item.t_enq  # handing on re-stamps it for the next station
        start, started = handed_off(handed)
        target = draw(self.station.service.get(item.cls), self.rng)
        span = None if self.tracing is None else self.tracing.start_visit(
            item, item.headers, self.station.component, self.station.name, start,
            target)  # open now: the hand-off below, inside the service, is its child
        await self.work(item)
        reserve = min(self.handoff_s, self._max_reserve_s, target)
        await self.clock.pad(target, started, reserve, settle=False)
        before = time.perf_counter()
        await self.after(item, message)
        done = time.perf_counter()
        self.handoff_s += self.clock.alpha * ((done - before) - self.handoff_s)
        delivered = done - started
        self.clock.settle(target, delivered)
        self.trace.service(item.id, item.cls, self.station.component, self.station.name,
                           enqueued, start, start + delivered, target, delivered)
        if span is not None:
            self.tracing.end_visit(span, start + delivered)


class Batcher:
    """Micro-batches, as the model defines them (:mod:`qmodel.solvers.microbatch`): with
    an ``interval`` alone, a batch of what came since the last tick at every tick of a
    periodic clock (``interval``, 2·``interval``, …), even an empty one; with a
    ``batch_size`` alone, a batch at every ``batch_size``-th item; with both, a batch
    opens with its first item and is released at its ``batch_size``-th item or
    ``interval`` after it opened (a linger timer). Up to ``servers`` batches are
    processed at once, each in ``fixed`` + one ``per_item`` draw per item."""

    def __init__(self, station: Station, trace: TraceWriter, rng: np.random.Generator,
                 work: Callable[[list[Item]], Awaitable[None]],
                 after: Callable[[list[Item]], Awaitable[None]], *,
                 tracing: Tracing | None = None):
        assert station.batch is not None
        self.station = station
        self.batch = station.batch
        self.trace = trace
        self.tracing = tracing
        self.rng = rng
        self.work = work
        self.after = after
        self.clock = ServiceClock(self.batch.fixed.mean)  # the ticker's and the linger's
        self.buffer: list[Item] = []
        # up to ``servers`` batches at once, each slot with its own clock (its own debt)
        self._slots: asyncio.Queue[ServiceClock] = asyncio.Queue()
        for _ in range(station.servers):  # a batcher's servers are a positive count
            self._slots.put_nowait(ServiceClock(self.batch.fixed.mean))
        self._running: set[asyncio.Task] = set()
        self._ticker: asyncio.Task | None = None
        self._linger: asyncio.Task | None = None
        self.lingers = bool(self.batch.interval and self.batch.size)  # both triggers

    def start(self) -> None:
        if self.batch.interval and not self.lingers:
            self._ticker = asyncio.create_task(self._tick(self.batch.interval))

    async def stop(self) -> None:
        timers = [t for t in (self._ticker, self._linger) if t is not None]
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    async def put(self, item: Item, enqueued: float | None = None, *,
                  admitted: bool = False) -> None:
        item.t_enq = enqueued if enqueued is not None else time.time()
        self.buffer.append(item)
        if self.batch.size is not None and len(self.buffer) >= self.batch.size:
            self._release()
        elif len(self.buffer) == 1 and self.lingers:
            self._linger = asyncio.create_task(self._linger_release(self.batch.interval))

    async def _tick(self, interval: float) -> None:
        """Release the buffer, even empty, on a drift-free periodic schedule."""
        origin = time.perf_counter()
        for k in itertools.count(1):
            await self._sleep_until(origin + k * interval)
            self._release()

    async def _linger_release(self, interval: float) -> None:
        """Release the batch ``interval`` after its first item (cancelled if it fills)."""
        await self._sleep_until(time.perf_counter() + interval)
        self._linger = None
        self._release()

    async def _sleep_until(self, due: float) -> None:
        """Sleep until ``due`` (``time.perf_counter``), less the learned overshoot."""
        request = due - time.perf_counter() - self.clock.overshoot_s
        if request > 0:
            before = time.perf_counter()
            await asyncio.sleep(request)
            self.clock.observe_sleep(request, time.perf_counter() - before)

    def _release(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        batch, self.buffer = self.buffer, []
        task = asyncio.create_task(self._process(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _process(self, batch: list[Item]) -> None:
        clock = await self._slots.get()
        try:
            start, started = time.time(), time.perf_counter()
            target = draw(self.batch.fixed, self.rng) + sum(
                draw(self.batch.per_item, self.rng) for _ in batch)
            await self.work(batch)
            delivered = await clock.pad(target, started)
            for item in batch:
                self.trace.service(item.id, item.cls, self.station.component,
                                   self.station.name, item.t_enq, start, start + delivered,
                                   target, delivered)
                if self.tracing is not None:
                    self.tracing.visit(item, item.headers, self.station.component,
                                       self.station.name, start, start + delivered, target)
        finally:
            self._slots.put_nowait(clock)
        await self.after(batch)

    async def drain(self) -> None:
        if self.buffer:
            self._release()
        await asyncio.gather(*self._running, return_exceptions=True)


class Join:
    """Collects the tasks of each job; when all ``tasks`` are in, runs ``merge`` (shuffle
    and reduce) and releases the job."""

    def __init__(self, station: Station, tasks: int, trace: TraceWriter,
                 merge: Callable[[Item, list[Item]], Awaitable[None]], after: After, *,
                 tracing: Tracing | None = None):
        self.station = station
        self.tasks = tasks
        self.trace = trace
        self.tracing = tracing
        self.merge = merge
        self.after = after
        self.jobs: dict[str, tuple[Item, float, list[Item]]] = {}

    def expect(self, job: Item) -> None:
        self.jobs[job.id] = (job, 0.0, [])

    async def put(self, task: Item, enqueued: float | None = None) -> None:
        job, first, done = self.jobs[task.job]
        done.append(task)
        first = first or time.time()
        self.jobs[task.job] = (job, first, done)
        if len(done) < self.tasks:
            return
        del self.jobs[task.job]
        start = time.time()
        await self.merge(job, done)
        end = time.time()
        # the join's own time is the shuffle and reduce (the model has none); the tasks'
        # wait for each other is in the fork's time (per job: arrival to last task done)
        self.trace.service(job.id, job.cls, self.station.component, self.station.name, start,
                           start, end, 0.0, end - start)
        if self.tracing is not None:
            self.tracing.visit(job, job.headers, self.station.component, self.station.name,
                               start, end, 0.0)
        await self.after(job)


def split(job: Item, tasks: int) -> list[Item]:
    """The tasks of a job (``job`` field set, ``task`` numbered)."""
    return [replace(job, id=f"{job.id}/{i}", job=job.id, task=i, data={},
                    headers=dict(job.headers)) for i in range(tasks)]
