"""Fork and join stations.

Branch form: a job arriving at the fork sends one task into each branch; tasks follow the
routing until they reach the join, which releases the job when its last task arrives (the
join's visit is that synchronisation wait). Pool form: the job's ``tasks`` tasks queue
FCFS (across jobs) for a shared pool of ``slots`` (unlimited when None); the job leaves
when its last task finishes, so with more tasks than free slots it runs in waves.

A join with a ``quorum`` R releases the job at its R-th task instead (the pool at its
R-th finished task). The other tasks still run, holding their servers or slots, and are
discarded when they arrive (counted in ``discarded``); the job goes on as a
:meth:`~.jobs.Job.successor`, as the late tasks still point to it. A lost task (full
buffer, failure) loses its job only when the quorum can no longer be reached: of N tasks,
at the (N - R + 1)-th loss before the release; a late task's loss only drops the task.
"""

from __future__ import annotations

from collections import deque

from simpy.events import Timeout

from .jobs import Job
from .simpy_fields import event_value
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
        self.join.open(job, len(self.branches))
        for b, target in enumerate(self.branches):
            target(job.task_of(b))


class Join(Station):
    """Holds a forked job until its quorum of tasks (default: all) has arrived, then sends
    the job on; discards the tasks that arrive later."""

    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        self.discarded = 0

    def open(self, job: Job, tasks: int) -> None:
        """Start a round: ``job`` is forked into ``tasks`` tasks that come here."""
        job.pending = tasks
        job.arrived = 0
        job.quorum = self.spec.quorum or tasks
        job.join = self

    def accept(self, job: Job) -> None:
        self.tick()
        parent = job.parent
        if parent is None or parent.join is not self:
            self.arrivals += 1
            job.t_arr = job.start = self.env.now
            self.finish(job, 0.0)
            return
        parent.pending -= 1
        if parent.lost:
            return
        if parent.arrived == parent.quorum:
            self.discarded += 1
            return
        if parent.arrived == 0:
            self.arrivals += 1
            self.n += 1
            parent.t_arr = parent.start = self.env.now
        parent.arrived += 1
        if parent.arrived == parent.quorum:
            self.n -= 1
            self.finish(release(parent), self.env.now - parent.t_arr)

    def task_lost(self, parent: Job) -> bool:
        """A task of ``parent`` was lost: True when ``parent`` is lost with it, as fewer
        than its quorum of tasks can still arrive."""
        parent.pending -= 1
        if parent.lost or parent.arrived == parent.quorum or \
                parent.arrived + parent.pending >= parent.quorum:
            return False
        if parent.arrived:
            self.tick()
            self.n -= 1
        parent.lost = True
        return True


def release(job: Job) -> Job:
    """The job that leaves a join: ``job`` itself when all its tasks are in, else its
    successor (the late tasks still point to ``job``)."""
    if job.pending:
        return job.successor()
    job.join = None
    return job


class ForkPool(Station):
    """Runs ``tasks`` tasks per job on a pool of ``servers`` slots, FCFS across jobs.

    A visit lasts from the job's arrival to its last task's end (with a quorum, the
    quorum-th); its wait is the time until its first task started.
    """

    def __init__(self, engine, spec, index):
        super().__init__(engine, spec, index)
        self.queue: deque = deque()
        quorum = engine.network.station(spec.join).quorum or spec.tasks
        self.late = spec.tasks - quorum  # tasks still out when the job leaves
        self.discarded = 0

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
        parent = event_value(ev).parent
        parent.pending -= 1
        if self.queue:
            self._serve(self.queue.popleft())
        else:
            self.busy -= 1
        if parent.pending == self.late:
            self.n -= 1
            self.finish(release(parent), parent.start - parent.t_arr)
        elif parent.pending < self.late:
            self.discarded += 1
