"""The simpy engine: one replication of any network.

Events are simpy ``Timeout`` events with plain callbacks (no generator process per job),
which keeps the engine several times faster than process-per-customer simulators. The
engine owns the clock, the job sources (open arrivals, closed users, batches), the
system-level counters, the checkpoints and the stopping rule (a model of batches only
stops when the last batch job has left; any run stops, partial, once it has processed
``max_events`` events: :mod:`.budget`); stations (:mod:`.stations`,
:mod:`.preemptive`, :mod:`.forkjoin`, :mod:`.batcher`) own their queues, and
:mod:`.routing` moves jobs between them.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable

import numpy as np
import simpy
from simpy.core import StopSimulation
from simpy.events import Timeout

from ..model.network import Network
from ..model.network import Station as StationSpec
from . import arrivals, held, routing
from .batcher import Batcher
from .budget import MAX_JOBS_PRESENT, crowded_note, run_events
from .clients import ClassClient
from .failures import start_failures
from .forkjoin import ForkBranches, ForkPool, Join
from .jobs import Job
from .pools import Pool
from .preemptive import LCFSPR, MLFQ, PS, PreemptivePriority
from .record import MAX_ROWS, Replication, Samples
from .simpy_fields import event_value, sim_time
from .stations import FCFS, Station
from .stats import BatchSeries, SampleStore
from .streams import Streams
from .trace import TraceRecorder

FIRST_CHECKPOINT_EVERY = 64


class Engine:
    """One replication of ``network``; :meth:`run` returns its :class:`Replication`."""

    def __init__(self, network: Network, streams: Streams, *, customers: int | None,
                 horizon: float | None, warmup: float | None, min_time: float = 0.0,
                 trace: TraceRecorder | None = None,
                 progress: Callable[[float], None] | None = None,
                 max_events: int | None = None):
        self.env = simpy.Environment()
        self.max_events = max_events
        self.network = network
        self.streams = streams
        self.trace = trace
        self.progress = progress
        self.target = customers if customers is not None else math.inf
        self.horizon = horizon
        self.warmup = warmup
        self.min_time = min_time
        k = len(network.classes)
        self.behaviours = bool(network.behaviours)
        self.pools = {name: Pool(self.env, size) for name, size in network.pools.items()}
        self.client = [[0, 0, 0, 0, 0.0] for _ in range(k)]  # .pools.CLIENT_FIELDS
        self.failed = 0  # client requests that gave up, jobs that reneged or balked
        self.stations = [make_station(self, s, i) for i, s in enumerate(network.stations)]
        self.components = routing.build_components(self)
        routing.wire(self)
        if self.behaviours:
            held.wire(self)
            self.entries = [ClassClient(self, i, c.client, c.name).send if c.kind == "open"
                            else send for i, (c, send) in enumerate(zip(network.classes,
                                                                        self.entries))]
        # system counters
        self.done = 0
        self.arrivals = 0
        self.losses = 0
        self.sum_resp = 0.0
        self.jobs = 0
        self.area_jobs = 0.0
        self.last = 0.0
        self.samples = SampleStore()
        self.series = BatchSeries()
        self.class_done = [0] * k
        self.class_sum = [0.0] * k
        self.class_samples = [SampleStore() for _ in range(k)]
        self.class_failed = [0] * k
        self.multiclass = k > 1
        self.closed = bool(network.closed_classes)
        batches = network.batch_classes
        self.batch_classes = {i for i, c in enumerate(network.classes) if c.kind == "batch"}
        self.batch_total = self.batch_left = sum(c.size * c.count for c in batches)
        self.batch_only = len(batches) == k  # the run ends when the batches are done
        self.batch_start = min((c.at for c in batches), default=0.0)
        self.batch_end: float | None = None
        self.next_id = 0
        self.every = FIRST_CHECKPOINT_EVERY
        self.next_checkpoint = min(self.every, self.target)
        self.rows: list[list[float]] = []
        self.thinks: dict[int, object] = {}
        self.warm_row: list[float] | None = None
        self.arrival_cb = self._arrival  # one bound method, not a new one per event

    # ----- job sources -------------------------------------------------------------
    # Hot paths read the clock and event values through :mod:`.simpy_fields` (fast getters
    # of simpy's fields): the public properties cost a third of the engine's time.
    def _start_sources(self) -> None:
        for k, cls in enumerate(self.network.classes):
            if cls.kind == "open":
                gaps = arrivals.gaps(self.streams, cls)
                self._schedule(next(gaps), self._arrival, (k, gaps, cls.priority,
                                                           self.entries[k]))
            elif cls.kind == "batch":
                self._schedule(cls.at, self._inject, (k, 0))
            else:
                think = self.streams.draws(cls.think, "think", cls.name)
                self.thinks[k] = think
                for _ in range(cls.population):
                    self._schedule(next(think), self._issue, k)

    def _schedule(self, delay: float, fn: Callable, value) -> Timeout:
        ev = Timeout(self.env, delay, value)
        ev.callbacks.append(fn)
        return ev

    def _arrival(self, ev: Timeout) -> None:
        value = event_value(ev)
        k, gaps, prio, send = value
        env = self.env
        ev = Timeout(env, next(gaps), value)
        ev.callbacks.append(self.arrival_cb)
        now = sim_time(env)
        self.area_jobs += self.jobs * (now - self.last)
        self.last = now
        self.jobs += 1
        self.arrivals += 1
        jid = self.next_id
        self.next_id = jid + 1
        send(Job(jid, k, prio, now))

    def _issue(self, ev: Timeout) -> None:
        k = event_value(ev)
        now = sim_time(self.env)
        jid = self._enter(1, now)
        self.entries[k](Job(jid, k, self.network.classes[k].priority, now))

    def _enter(self, n: int, now: float) -> int:
        """Count ``n`` jobs entering the system at ``now``; returns the first one's id.
        (:meth:`_arrival`, the hot path, does the same inline.)"""
        self.area_jobs += self.jobs * (now - self.last)
        self.last = now
        self.jobs += n
        self.arrivals += n
        first = self.next_id
        self.next_id = first + n
        return first

    def _inject(self, ev: Timeout) -> None:
        """Batch ``j`` of class ``k`` arrives: its ``size`` jobs enter at once."""
        k, j = event_value(ev)
        cls = self.network.classes[k]
        now = sim_time(self.env)
        if j + 1 < cls.count:
            self._schedule(cls.at + (j + 1) * cls.every - now, self._inject, (k, j + 1))
        first = self._enter(cls.size, now)
        send = self.entries[k]
        for jid in range(first, first + cls.size):
            send(Job(jid, k, cls.priority, now))

    # ----- leaving the system ------------------------------------------------------
    def exit(self, job: Job) -> None:
        """A job leaves the system (or a closed class's job returns to think); an attempt
        of a client's request answers it (or is ignored: the client no longer waits)."""
        request = job.request
        if request is not None and not request.answered(job):
            return
        now = sim_time(self.env)
        self.area_jobs += self.jobs * (now - self.last)
        self.last = now
        self.jobs -= 1
        r = now - job.born
        self.done += 1
        self.sum_resp += r
        store = self.samples
        i = store.seen
        store.seen = i + 1
        if not i & store.mask:
            store.values.append(r)
            if len(store.values) >= store.cap:
                store.thin()
        series = self.series
        series.total += r
        series.count += 1
        if series.count == series.size:
            series.flush()
        ci = job.ci
        if self.multiclass:
            self.class_done[ci] += 1
            self.class_sum[ci] += r
            self.class_samples[ci].add(r)
        if self.closed and ci in self.thinks:
            ev = Timeout(self.env, next(self.thinks[ci]), ci)
            ev.callbacks.append(self._issue)
        if ci in self.batch_classes:
            self._batch_job_left()
        if self.done + self.failed >= self.next_checkpoint:
            self._checkpoint()

    def attempt_sent(self) -> None:
        """An open class's client sent an attempt (a run logged over time counts them)."""

    def gave_up(self, job: Job) -> None:
        """A client's request failed (its last attempt timed out or was rejected)."""
        now = self.env.now
        self.area_jobs += self.jobs * (now - self.last)
        self.last = now
        self.jobs -= 1
        self.losses += 1
        self.failed += 1
        if self.done + self.failed >= self.next_checkpoint:
            self._checkpoint()

    def lose(self, job: Job, *, ends: bool = False) -> None:
        """A job is lost (full buffer, failure); a lost task loses its job only when the
        job's join can no longer reach its quorum (:meth:`.forkjoin.Join.task_lost`).
        ``ends``: a job that left unserved by its own choice (reneged, balked) counts
        towards the run's end like a request that gave up, so a run whose jobs all leave
        still ends."""
        while job.parent is not None:
            job = job.parent
            if not job.join.task_lost(job):
                return
        if job.call is not None:  # a call's sub-visit: its caller hears of it
            return job.call.rejected(job)
        if job.request is not None:  # an attempt: its client may retry
            return job.request.rejected(job)
        now = self.env.now
        self.area_jobs += self.jobs * (now - self.last)
        self.last = now
        self.jobs -= 1
        self.losses += 1
        if job.ci in self.thinks:
            self._schedule(next(self.thinks[job.ci]), self._issue, job.ci)
        if job.ci in self.batch_classes:
            self._batch_job_left()
        if ends:
            self.failed += 1
            if self.done + self.failed >= self.next_checkpoint:
                self._checkpoint()

    def _batch_job_left(self) -> None:
        """A batch job completed or was lost; the last one ends a run of batches only."""
        self.batch_left -= 1
        if not self.batch_left:
            self.batch_end = self.env.now
            if self.batch_only:
                raise StopSimulation(None)

    # ----- checkpoints and the run ----------------------------------------------------
    def row(self) -> list[float]:
        now = self.env.now
        self.area_jobs += self.jobs * (now - self.last)
        self.last = now
        row = [now, self.done, self.arrivals, self.losses, self.sum_resp, self.area_jobs,
               self.samples.seen]
        for s in self.stations:
            row += s.counters()
        if not self.multiclass:
            row += [self.done, self.sum_resp, self.samples.seen]
            return row + self._behaviour_counters() if self.behaviours else row
        for k in range(len(self.class_done)):
            row += [self.class_done[k], self.class_sum[k], self.class_samples[k].seen]
        return row + self._behaviour_counters() if self.behaviours else row

    def _behaviour_counters(self) -> list[float]:
        """Per class the client counters, per station reneged and balked, per pool its
        counters (:class:`.record.Layout`)."""
        row = [x for counts in self.client for x in counts]
        for s in self.stations:
            row += [s.reneged, s.balked, *s.call_counts[:4]]
        for pool in self.pools.values():
            row += pool.counters()
        return row

    def _checkpoint(self) -> None:
        self.rows.append(self.row())
        if len(self.rows) > MAX_ROWS:  # keep every other checkpoint (row 0 stays)
            self.rows = self.rows[::2]
            self.every *= 2
        ended = self.done + self.failed  # failed requests end too: a retry storm stops
        self.next_checkpoint = ended - ended % self.every + self.every
        if ended < self.target:
            self.next_checkpoint = min(self.next_checkpoint, self.target)
        if self.progress is not None:
            self.progress(self.fraction_done())
        if ended >= self.target and self.env.now >= self.min_time:
            raise StopSimulation(None)

    def fraction_done(self) -> float:
        parts = [(self.done + self.failed) / self.target if self.target < math.inf else 0.0]
        if self.min_time:
            parts[0] = min(parts[0], self.env.now / self.min_time)
        if self.horizon is not None:
            parts.append(self.env.now / self.horizon)
        if self.batch_only:
            parts.append(1.0 - self.batch_left / self.batch_total)
        return min(1.0, max(parts))

    def _warm(self, ev: Timeout) -> None:
        self.warm_row = self.row()

    def run(self) -> Replication:
        """Run to the stopping rule; a KeyboardInterrupt leaves :meth:`record` usable.
        Once ``max_events`` events have been processed, or more than
        :data:`~.budget.MAX_JOBS_PRESENT` jobs are in the system at once, the run stops:
        its record is partial, says ``out_of_events`` and, for the jobs, has a note."""
        self.rows = [self.row()]
        if self.horizon is not None:  # the first event at its time: it stops the run first
            self.env.timeout(self.horizon).callbacks.append(StopSimulation.callback)
        if self.warmup is not None:
            self._schedule(self.warmup, self._warm, None)
        # Events and jobs are freed by reference counting; the cyclic collector would
        # only rescan the ever larger set of live objects (quadratic in long queues).
        enabled = gc.isenabled()
        gc.disable()
        try:
            start_failures(self)
            self._start_sources()
            stopped = run_events(self.env, self.max_events,
                                 lambda: self.jobs > MAX_JOBS_PRESENT)
            if stopped is not None:
                record = self.record(partial=True, out_of_events=True)
                if stopped == "jobs":
                    record.notes.append(crowded_note(self.jobs))
                return record
        finally:
            if enabled:
                gc.enable()
        return self.record()

    def record(self, partial: bool = False, out_of_events: bool = False) -> Replication:
        """What the replication measured up to now."""
        classes = self.class_samples if self.multiclass else [self.samples]
        samples = [self.samples] + [s.samples for s in self.stations] + classes
        return Replication(
            rows=np.array(self.rows, dtype=float), final=np.array(self.row(), dtype=float),
            warm=None if self.warm_row is None else np.array(self.warm_row, dtype=float),
            batch_means=np.array(self.series.means, dtype=float), batch_size=self.series.size,
            samples=[Samples(np.frombuffer(s.values, dtype=float).copy(), s.stride)
                     for s in samples],
            partial=partial, out_of_events=out_of_events,
            makespan=None if self.batch_end is None else self.batch_end - self.batch_start)


def make_station(engine: Engine, spec: StationSpec, index: int) -> Station:
    """The station object that simulates ``spec`` (by kind and discipline)."""
    if spec.kind == "batcher":
        return Batcher(engine, spec, index)
    if spec.kind == "fork":
        return ForkBranches(engine, spec, index) if spec.branches else ForkPool(engine, spec, index)
    if spec.kind == "join":
        return Join(engine, spec, index)
    if held.is_held(spec):
        return held.Held(engine, spec, index)
    if spec.kind == "delay" or math.isinf(spec.servers):
        return FCFS(engine, spec, index)
    kinds = {"fcfs": FCFS, "ps": PS, "lcfs-pr": LCFSPR,
             "priority-preemptive": PreemptivePriority, "mlfq": MLFQ}
    if spec.discipline == "priority":
        return FCFS(engine, spec, index, priority=True)
    return kinds[spec.discipline](engine, spec, index)
