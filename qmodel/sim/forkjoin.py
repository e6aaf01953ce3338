"""Fork and join stations.

Branch form: a job arriving at the fork sends one task into each branch; tasks follow the
routing until they reach the join, which releases the job when its last task arrives (the
join's visit is that synchronisation wait). Pool form: the job's ``tasks`` tasks queue
FCFS (across jobs) for a shared pool of ``slots`` (unlimited when None); the job leaves
when its last task finishes, so with more tasks than free slots it runs in waves.
"""

from __future__ import annotations

from collections import deque

from simpy.events import Timeout

from .jobs import Job
from .stations import Station


class ForkBranches(Station):
    """Splits each job into one task per branch (no delay here)."""

    def enter(self, job: Job) -> None:
        self.n -= 1
        job.start = job.t_arr
        self.completions += 1
        self.samples.add(0.0)
        if self.trace is not None:
            self.trace.visit(job, self.name, job.t_arr, job.t_arr, job.t_arr)
        job.pending = len(self.branches)
        job.arrived = 0
        job.join = self.join
        for b, target in enumerate(self.branches):
            target(job.task_of(b))


class Join(Station):
    """Holds a forked job until all its tasks have arrived, then sends the job on."""

    def accept(self, job: Job) -> None:
        self.tick()
        parent = job.parent
        if parent is None or parent.join is not self:
            self.arrivals += 1
            job.t_arr = job.start = self.env.now
            self.finish(job, 0.0)
            return
        if parent.lost:
            self.abandon(parent)
            return
        if parent.arrived == 0:
            self.arrivals += 1
            self.n += 1
            parent.t_arr = parent.start = self.env.now
        parent.arrived += 1
        if parent.arrived == parent.pending:
            self.n -= 1
            parent.join = None
            self.finish(parent, self.env.now - parent.t_arr)

    def abandon(self, parent: Job) -> None:
        """A job one of whose tasks was lost: stop waiting for the others."""
        if parent.arrived > 0:
            self.tick()
            self.n -= 1
        parent.arrived = -1


class ForkPool(Station):
    """Runs ``tasks`` tasks per job on a pool of ``servers`` slots, FCFS across jobs.

    A visit lasts from the job's arrival to its last task's end; its wait is the time
    until its first task started.
    """

    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        self.queue: deque = deque()

    def enter(self, job: Job) -> None:
        if self.busy >= self.c:
            self.waited += 1
        job.pending = self.spec.tasks
        job.start = None
        for t in range(self.spec.tasks):
            task = job.task_of(t)
            if self.busy < self.c:
                self.busy += 1
                self._serve(task)
            else:
                self.queue.append(task)

    def _serve(self, task: Job) -> None:
        parent = task.parent
        if parent.start is None:
            parent.start = self.env.now
        ev = Timeout(self.env, next(self.service[task.ci]), task)
        ev.callbacks.append(self._done)

    def _done(self, ev: Timeout) -> None:
        self.tick()
        parent = ev._value.parent
        parent.pending -= 1
        if self.queue:
            self._serve(self.queue.popleft())
        else:
            self.busy -= 1
        if parent.pending == 0:
            self.n -= 1
            self.finish(parent, parent.start - parent.t_arr)
