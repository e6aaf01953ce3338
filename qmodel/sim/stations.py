"""Stations: what every station counts, and the FCFS family (FCFS, infinite servers,
non-preemptive priority).

A station counts arrivals, losses, completed visits (with their response and wait times),
and the time integrals of the number of jobs present and of busy servers. ``wait`` is the
time of a visit not spent in service (response minus service). ``waited`` counts accepted
arrivals that found every server busy (Erlang C's P(wait)), once each. Jobs moved in by
rebalancing or failure migration keep their arrival time and are not counted as new
arrivals.

With ``capacity`` and ``on_full: block``, jobs beyond the capacity are held (``blocked``)
and admitted in order as room appears: when a job completes, after a repair, or on
arrival at a sibling they are moved to. A held job is at the station: its visit starts
when it is routed here, it counts as present (``area_n``) and as having waited. ``n``
(what capacity, JSQ and idle servers look at) counts the admitted jobs only; ``load``
counts both.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import TYPE_CHECKING

from simpy.events import Timeout

from ..model.network import Station as StationSpec
from .pools import charge
from .simpy_fields import event_value, sim_time
from .stats import SampleStore

if TYPE_CHECKING:
    from .engine import Engine
    from .jobs import Job


class Station:
    """Counters, capacity, failures and the hand-off to routing; subclasses schedule."""

    reneged = balked = 0  # counted by held stations (:mod:`.held`)
    call_counts = (0, 0, 0, 0, 0.0)  # and their calls' client counters
    charges = True  # Station.finish charges a visit's service to its attempt (wasted work)

    def __init__(self, engine: Engine, spec: StationSpec, index: int):
        self.engine = engine
        self.env = engine.env
        self.spec = spec
        self.name = spec.name
        self.index = index
        self.c = spec.servers
        self.capacity = spec.capacity
        self.block = spec.on_full == "block"
        self.blocked: deque = deque()
        self.failures = spec.failures
        self.down = 0
        self.failure_policy: str | None = None  # of the failure that took it down
        self.router = None
        self.next: list = []
        classes = engine.network.classes
        self.service = [engine.streams.draws(spec.service[c.name], "service", spec.name, c.name)
                        if c.name in spec.service else None for c in classes]
        # plain: nothing is ever held or cancelled (the FCFS family's fast path)
        self.plain = self.capacity is None and self.failures is None and \
            not engine.network.behaviours
        self.trace = engine.trace
        self.samples = SampleStore()
        self.arrivals = self.losses = self.completions = self.waited = 0
        self.sum_resp = self.sum_wait = self.area_n = self.area_busy = self.idle = 0.0
        self.n = 0
        self.busy = 0
        self.last = 0.0

    # ----- counting --------------------------------------------------------------------
    def tick(self) -> None:
        now = self.env.now
        dt = now - self.last
        if dt:
            self.area_n += (self.n + len(self.blocked)) * dt
            self.area_busy += self.busy * dt
            if not self.busy:
                self.idle += dt
            self.last = now

    def counters(self) -> list[float]:
        self.tick()
        return [self.arrivals, self.losses, self.completions, self.sum_resp, self.sum_wait,
                self.waited, self.area_n, self.area_busy, self.idle, self.samples.seen]

    def finish(self, job: Job, wait: float) -> None:
        """Record a completed visit (``n`` already decreased) and send the job on."""
        now = self.env.now
        r = now - job.t_arr
        self.completions += 1
        self.sum_resp += r
        self.sum_wait += wait
        self.samples.add(r)
        if job.track is not None and self.charges and job.service is not None:
            charge(self.engine, job, job.service)
        if self.trace is not None:
            self.trace.visit(job, self.name, job.t_arr, job.start, now)
        if self.blocked:
            self.admit_held()
        self.next[job.ci](job)

    # ----- arriving -------------------------------------------------------------------
    @property
    def load(self) -> int:
        """Jobs admitted and held: what failover and rebalancing even out."""
        return self.n + len(self.blocked)

    def full(self) -> bool:
        return self.capacity is not None and self.n >= self.capacity

    def accept(self, job: Job) -> None:
        """A job routed here: lost, held (full, ``on_full: block``) or admitted; while the
        station is down after a ``migrate`` failure, it goes to the least loaded working
        sibling instead."""
        if self.down and self.failure_policy == "migrate" and self.router is not None:
            sibling = self.router.least_loaded()
            if sibling is not None:
                return sibling.accept(job)
        self.tick()
        self.arrivals += 1
        job.at = self
        job.t_arr = self.env.now
        job.service = None
        if self.down and self.failure_policy == "lost":
            return self.drop(job)
        if self.full():
            if self.block:
                self.waited += 1
                self.blocked.append(job)
                return None
            return self.drop(job)
        self._admit(job)
        return None

    def _admit(self, job: Job) -> None:
        self.tick()
        self.n += 1
        self.enter(job)

    def _admit_counted(self, job: Job) -> None:
        """Admit a job already counted (as waiting or not) where it arrived."""
        waited = self.waited
        self._admit(job)
        self.waited = waited

    def admit_held(self) -> None:
        """Admit held jobs, oldest first, while there is room."""
        self.tick()
        while self.blocked and not self.full():
            self._admit_counted(self.blocked.popleft())

    def take(self, job: Job) -> None:
        """A job moved here from a sibling (rebalance, failure), not counted as an arrival
        and keeping its arrival time: held while this station is full and blocks, else
        admitted."""
        if self.block and self.full():
            self.tick()
            self.blocked.append(job)
        else:
            self._admit_counted(job)

    def send_one(self, to: Station) -> bool:
        """Move a job that has not started to ``to``: the last held job, else the most
        recently queued waiting one. False when there is none."""
        self.tick()
        if self.blocked:
            to.take(self.blocked.pop())
            return True
        job = self.pop_waiting()
        if job is None:
            return False
        self.n -= 1
        to.take(job)
        return True

    def drop(self, job: Job) -> None:
        self.losses += 1
        if self.trace is not None:
            now = self.env.now
            self.trace.visit(job, self.name, now, math.nan, now, lost=True)
        self.engine.lose(job)

    def enter(self, job: Job) -> None:
        raise NotImplementedError

    def withdraw(self, job: Job) -> None:
        """Cancel ``job``'s visit (a client gave up on it): :mod:`.held` and FCFS do."""
        raise NotImplementedError

    # ----- failures and migration (see :mod:`.failures`) -------------------------------------
    def pop_waiting(self) -> Job | None:
        """Remove and return the most recently queued waiting job (for rebalancing)."""
        return None

    def interrupt(self) -> list[Job]:
        """Stop every job in service; they are returned and no longer counted as busy."""
        raise NotImplementedError

    def requeue(self, jobs: list[Job]) -> None:
        """Put interrupted jobs back at the head of the queue, to restart after repair."""
        raise NotImplementedError

    def evict(self) -> list[Job]:
        """Remove every admitted job: the interrupted ones, then the waiting ones from the
        front of the queue; ``n`` is reduced accordingly. Held jobs stay."""
        jobs = self.interrupt()
        waiting = []
        while (job := self.pop_waiting()) is not None:
            waiting.append(job)
        jobs += reversed(waiting)
        self.tick()
        self.n -= len(jobs)
        return jobs

    def resume(self) -> None:
        """Start serving again after a repair."""
        raise NotImplementedError


class Periodic:
    """Calls ``fn`` at every multiple of ``period`` (``period``, ``2·period``, …), but
    sleeps while ``idle()`` says there is nothing to do, and is woken by :meth:`wake`.

    Sleeping skips only ticks that would do nothing (a boost, batch release or rebalance
    of an empty station), so results are the same as with a clock that never stops, and
    long idle stretches (a batch submitted after a day) cost no events.
    """

    def __init__(self, env, period: float, fn, idle):
        self.env = env
        self.period = period
        self.fn = fn
        self.idle = idle
        self.pending = False

    def wake(self) -> None:
        if not self.pending:
            self.pending = True
            now = self.env.now
            tick = math.floor(now / self.period) + 1
            if tick * self.period <= now:  # now / period rounded down, at a tick (4.3 / 0.1)
                tick += 1
            ev = Timeout(self.env, tick * self.period - now)
            ev.callbacks.append(self._fire)

    def _fire(self, ev: Timeout) -> None:
        self.pending = False
        self.fn()
        if not self.idle():
            self.wake()


class PriorityQueue:
    """A queue served by class priority (0 first), FCFS within a priority."""

    def __init__(self) -> None:
        self.heap: list = []
        self.seq = 0

    def append(self, job: Job) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (job.prio, self.seq, job))

    def appendleft(self, job: Job) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (job.prio, -self.seq, job))

    def popleft(self) -> Job:
        return heapq.heappop(self.heap)[2]

    def remove(self, job: Job) -> None:
        self.heap = [item for item in self.heap if item[2] is not job]
        heapq.heapify(self.heap)

    def pop(self) -> Job:
        worst = max(range(len(self.heap)), key=lambda i: self.heap[i][:2])
        item = self.heap.pop(worst)
        heapq.heapify(self.heap)
        return item[2]

    def __len__(self) -> int:
        return len(self.heap)


class FCFS(Station):
    """``c`` servers (``inf``: a delay station) serving one queue in order; with
    ``priority`` the queue is ordered by class priority (non-preemptive)."""

    def __init__(self, engine: Engine, spec: StationSpec, index: int, priority: bool = False):
        super().__init__(engine, spec, index)
        self.queue = PriorityQueue() if priority else deque()
        self.serving: dict = {}  # jobs in service (with failures), in start order
        self.track = self.failures is not None
        self.quick = self.plain and self.trace is None  # no capacity, failures or trace
        self.done_cb = self._done  # one bound method, not a new one per event

    def accept(self, job: Job) -> None:
        if not self.plain:
            return super().accept(job)
        env = self.env  # plain: nothing is ever held
        now = sim_time(env)
        dt = now - self.last
        if dt:
            self.area_n += self.n * dt
            self.area_busy += self.busy * dt
            if not self.busy:
                self.idle += dt
            self.last = now
        self.arrivals += 1
        self.n += 1
        job.t_arr = now
        if self.busy < self.c:
            self.busy += 1
            job.start = now
            s = job.service = next(self.service[job.ci])
            ev = job.ev = Timeout(env, s, job)
            ev.callbacks.append(self.done_cb)
        else:
            self.waited += 1
            job.service = None
            self.queue.append(job)
        return None

    def enter(self, job: Job) -> None:
        if self.busy < self.c and not self.down:
            self.busy += 1
            self._serve(job)
        else:
            self.waited += 1
            self.queue.append(job)

    def _serve(self, job: Job) -> None:
        job.start = self.env.now
        s = job.service
        if s is None:
            s = job.service = next(self.service[job.ci])
        ev = job.ev = Timeout(self.env, s, job)
        ev.callbacks.append(self.done_cb)
        if self.track:
            self.serving[job] = None

    def _done(self, ev: Timeout) -> None:
        job = event_value(ev)
        if job.ev is not ev:
            return
        if not self.quick:
            self.tick()
            self.n -= 1
            self._free_server(job)
            return self.finish(job, job.start - job.t_arr)
        now = sim_time(self.env)  # quick: no capacity, so nothing is held
        dt = now - self.last
        if dt:
            self.area_n += self.n * dt
            self.area_busy += self.busy * dt
            self.last = now
        self.n -= 1
        if self.queue:
            nxt = self.queue.popleft()
            nxt.start = now
            s = nxt.service = next(self.service[nxt.ci])
            nev = nxt.ev = Timeout(self.env, s, nxt)
            nev.callbacks.append(self.done_cb)
        else:
            self.busy -= 1
        r = now - job.t_arr
        self.completions += 1
        self.sum_resp += r
        self.sum_wait += job.start - job.t_arr
        store = self.samples
        i = store.seen
        store.seen = i + 1
        if not i & store.mask:
            store.values.append(r)
            if len(store.values) >= store.cap:
                store.thin()
        self.next[job.ci](job)
        return None

    def pop_waiting(self) -> Job | None:
        return self.queue.pop() if self.queue else None

    def _free_server(self, job: Job) -> None:
        """``job`` leaves its server, which takes the next waiting job or goes idle."""
        self.serving.pop(job, None)
        if self.queue and not self.down:
            self._serve(self.queue.popleft())
        else:
            self.busy -= 1

    def withdraw(self, job: Job) -> None:
        """Cancel ``job``'s visit: out of the queue, or out of service (its server takes
        the next job; the part served counts as work done for it)."""
        self.tick()
        if job in self.blocked:
            self.blocked.remove(job)
            return
        if job.service is None or job.ev is None:  # waiting
            self.queue.remove(job)
            self.n -= 1
            return
        charge(self.engine, job, self.env.now - job.start)
        job.ev = None
        self.n -= 1
        self._free_server(job)
        if self.blocked:
            self.admit_held()

    def interrupt(self) -> list[Job]:
        self.tick()
        jobs = list(self.serving)
        for job in jobs:
            job.ev = None
        self.serving.clear()
        self.busy = 0
        return jobs

    def requeue(self, jobs: list[Job]) -> None:
        for job in reversed(jobs):
            self.queue.appendleft(job)

    def resume(self) -> None:
        self.tick()
        while self.queue and self.busy < self.c:
            self.busy += 1
            self._serve(self.queue.popleft())

