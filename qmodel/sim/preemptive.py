"""Stations whose jobs share or lose their server before finishing: processor sharing,
LCFS preemptive-resume, preemptive-resume priority and the multi-level feedback queue.

A job's ``remaining`` work is charged for the time it ran whenever it is stopped, so
preemption loses no work (preemptive *resume*); a job moved to a sibling by rebalancing
keeps its progress (and MLFQ level). A failure restarts the interrupted work.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING

from simpy.events import Timeout

from .simpy_fields import event_value
from .stations import Periodic, Station

if TYPE_CHECKING:
    from .engine import Job


class PS(Station):
    """Egalitarian processor sharing over ``c`` servers: with ``n`` jobs present each is
    served at rate ``min(1, c/n)``.

    Uses virtual time: ``V`` grows at the per-job service rate, a job finishes when ``V``
    reaches its tag (``V`` at arrival + its service time), so only the next departure is
    scheduled.
    """

    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        self.V = 0.0
        self.vt = 0.0
        self.heap: list = []
        self.seq = 0
        self.ev = None

    def _advance(self) -> None:
        now = self.env.now
        if self.heap and not self.down:
            self.V += (now - self.vt) * min(1.0, self.c / len(self.heap))
        self.vt = now

    def _push(self, job: Job) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (self.V + job.service, self.seq, job))

    def _reschedule(self) -> None:
        self.busy = 0 if self.down else min(len(self.heap), self.c)
        if self.heap and not self.down:
            rate = min(1.0, self.c / len(self.heap))
            ev = self.ev = Timeout(self.env, max(0.0, (self.heap[0][0] - self.V) / rate))
            ev.callbacks.append(self._done)
        else:
            self.ev = None

    def enter(self, job: Job) -> None:
        self._advance()
        if len(self.heap) >= self.c:
            self.waited += 1
        job.start = self.env.now
        if job.service is None:
            job.service = next(self.service[job.ci])
        self._push(job)
        self._reschedule()

    def _done(self, ev: Timeout) -> None:
        if ev is not self.ev:
            return
        self._advance()
        self.tick()
        tag, _, job = heapq.heappop(self.heap)
        self.V = max(self.V, tag)
        done = [job]
        eps = 1e-12 * max(1.0, abs(self.V))
        while self.heap and self.heap[0][0] <= self.V + eps:
            done.append(heapq.heappop(self.heap)[2])
        self.n -= len(done)
        self._reschedule()
        now = self.env.now
        for job in done:
            self.finish(job, now - job.t_arr - job.service)

    def interrupt(self) -> list[Job]:
        self._advance()
        self.tick()
        jobs = [item[2] for item in sorted(self.heap)]
        self.heap = []
        self.ev = None
        self.busy = 0
        return jobs

    def requeue(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._push(job)

    def resume(self) -> None:
        self.tick()
        self.vt = self.env.now
        self._reschedule()


class Preemptive(Station):
    """``c`` servers run the jobs a subclass picks; an arrival may preempt one of them.

    Subclasses define where waiting jobs wait (``_wait``, ``_front``, ``_pick``,
    ``pop_waiting``), which running job an arrival preempts (``_victim``), how long a job
    runs before the scheduler looks again (``_slice``) and what happens to a job whose
    slice ended unfinished (``_expired``).
    """

    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        self.running: list = []

    def enter(self, job: Job) -> None:
        if job.service is None:  # a new visit; a job moved here keeps its progress
            job.service = job.remaining = next(self.service[job.ci])
            job.used = 0.0
            job.level = 0
        job.start = None
        if len(self.running) >= self.c:
            self.waited += 1
        if self.down:
            self._wait(job)
        elif len(self.running) < self.c:
            self._run(job)
        else:
            victim = self._victim(job)
            if victim is None:
                self._wait(job)
            else:
                self._preempt(victim)
                self._run(job)

    def _run(self, job: Job) -> None:
        now = self.env.now
        if job.start is None:
            job.start = now
        self.running.append(job)
        self.busy = len(self.running)
        job.slice = self._slice(job)
        job.t_slice = now
        ev = job.ev = Timeout(self.env, job.slice, job)
        ev.callbacks.append(self._done)

    def _charge(self, job: Job) -> None:
        elapsed = self.env.now - job.t_slice
        job.remaining -= elapsed
        job.used += elapsed
        job.ev = None
        self.running.remove(job)

    def _preempt(self, job: Job) -> None:
        self._charge(job)
        self.busy = len(self.running)
        self._front(job)

    def _done(self, ev: Timeout) -> None:
        job = event_value(ev)
        if job.ev is not ev:
            return
        self.tick()
        self.running.remove(job)
        job.ev = None
        job.remaining -= job.slice
        job.used += job.slice
        finished = job.remaining <= 1e-9 * job.service
        if finished:
            self.n -= 1
        else:
            self._expired(job)
        self._dispatch()
        if finished:
            self.finish(job, self.env.now - job.t_arr - job.service)

    def _dispatch(self) -> None:
        while not self.down and len(self.running) < self.c:
            job = self._pick()
            if job is None:
                break
            self._run(job)
        self.busy = len(self.running)

    def interrupt(self) -> list[Job]:
        self.tick()
        jobs = sorted(self.running, key=lambda j: j.t_slice)
        for job in jobs:
            self._charge(job)
        self.busy = 0
        return jobs

    def requeue(self, jobs: list[Job]) -> None:
        for job in reversed(jobs):
            job.remaining = job.service
            job.used = 0.0
            self._front(job)

    def resume(self) -> None:
        self.tick()
        self._dispatch()

    def _slice(self, job: Job) -> float:
        return job.remaining

    def _expired(self, job: Job) -> None:
        self._front(job)


class LCFSPR(Preemptive):
    """Last come, first served, preemptive resume: an arrival preempts the running job
    that arrived first; preempted jobs resume in last-in, first-out order."""

    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        self.stack: list = []

    def _wait(self, job: Job) -> None:
        self.stack.append(job)

    _front = _wait

    def _pick(self) -> Job | None:
        return self.stack.pop() if self.stack else None

    def pop_waiting(self) -> Job | None:
        return self._pick()

    def _victim(self, job: Job) -> Job | None:
        return min(self.running, key=lambda j: j.t_arr)


class PreemptivePriority(Preemptive):
    """Preemptive-resume priority (class ``priority``, 0 first; FCFS within a priority):
    an arrival preempts the lowest-priority running job if that one is of lower priority."""

    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        prios = sorted({c.priority for c in engine.network.classes})
        self.queues = {p: deque() for p in prios}

    def _wait(self, job: Job) -> None:
        self.queues[job.prio].append(job)

    def _front(self, job: Job) -> None:
        self.queues[job.prio].appendleft(job)

    def _pick(self) -> Job | None:
        for q in self.queues.values():
            if q:
                return q.popleft()
        return None

    def pop_waiting(self) -> Job | None:
        for q in reversed(self.queues.values()):
            if q:
                return q.pop()
        return None

    def _victim(self, job: Job) -> Job | None:
        worst = max(self.running, key=lambda j: (j.prio, j.t_slice))
        return worst if worst.prio > job.prio else None


class MLFQ(Preemptive):
    """Multi-level feedback queue (the node scheduler of BRKSS-style systems).

    Jobs enter at level 0 (served first). In every level but the last, jobs take turns
    (round robin) for at most ``quantum`` at a time; a job that has used its level's
    ``allotment`` of service (default: one quantum) moves one level down. The last level
    is FCFS and runs a job until it finishes or is preempted. An arrival preempts the
    running job of the lowest level (it resumes at the head of its level). Every
    ``boost`` all jobs go back to level 0.
    """

    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        cfg = spec.mlfq
        self.L = cfg.levels
        upper = max(self.L - 1, 1)
        self.quantum = _per_level(cfg.quantum, upper)
        self.allotment = self.quantum if cfg.allotment is None else _per_level(cfg.allotment, upper)
        self.levels = [deque() for _ in range(self.L)]
        self.booster = Periodic(self.env, cfg.boost, self._boost,
                                lambda: self.n == 0) if cfg.boost else None

    def enter(self, job: Job) -> None:
        if self.booster is not None:
            self.booster.wake()
        super().enter(job)

    def _slice(self, job: Job) -> float:
        while job.level < self.L - 1 and job.used >= self.allotment[job.level] * (1 - 1e-12):
            job.level += 1
            job.used = 0.0
        level = job.level
        if level == self.L - 1:
            return job.remaining
        return min(job.remaining, self.quantum[level], self.allotment[level] - job.used)

    def _expired(self, job: Job) -> None:
        if job.used >= self.allotment[job.level] * (1 - 1e-12):
            job.level += 1
            job.used = 0.0
        self.levels[job.level].append(job)

    def _wait(self, job: Job) -> None:
        self.levels[job.level].append(job)

    def _front(self, job: Job) -> None:
        self.levels[job.level].appendleft(job)

    def _pick(self) -> Job | None:
        for q in self.levels:
            if q:
                return q.popleft()
        return None

    def pop_waiting(self) -> Job | None:
        for q in reversed(self.levels):
            if q:
                return q.pop()
        return None

    def _victim(self, job: Job) -> Job | None:
        lower = [j for j in self.running if j.level > job.level]
        return max(lower, key=lambda j: (j.level, j.t_slice)) if lower else None

    def _boost(self) -> None:
        self.tick()
        jobs = sorted(self.running, key=lambda j: j.t_slice)
        for job in jobs:
            self._charge(job)
        for q in self.levels:
            jobs.extend(q)
            q.clear()
        for job in jobs:
            job.level = 0
            job.used = 0.0
        self.levels[0].extend(jobs)
        self._dispatch()


def _per_level(value, n: int) -> list[float]:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    return [float(v) for v in values[:n]] + [float(values[-1])] * max(0, n - len(values))
