"""The job: one customer (or one task of a forked customer) moving through the network."""

from __future__ import annotations

QUEUE, POOL, SERVICE, CALLS, AFTER = range(5)
"""Where a job is in a held visit (:mod:`.held`): ``job.stage``."""


class Job:
    """A job; a task of a forked job has ``parent`` set and ``task`` >= 0.

    Stations keep their per-visit bookkeeping on it (arrival and start times, service
    requirement, the pending completion event, MLFQ level…).
    """

    __slots__ = ("id", "ci", "prio", "born", "t_arr", "start", "service", "remaining", "ev",
                 "pending", "level", "used", "slice", "t_slice", "at", "__dict__")

    # Rarely set (forks, losses): class defaults, stored per job only when set.
    parent: Job | None = None
    task = -1
    lost = False
    join = None
    arrived = 0
    quorum = 0
    # Clients and held threads (:mod:`.held`, :mod:`.clients`): the call a sub-visit
    # answers, the client request an attempt belongs to, and the attempt whose work it is.
    call = None
    request = None
    track = None

    def __init__(self, jid: int, ci: int, prio: int, born: float):
        self.id = jid
        self.ci = ci
        self.prio = prio
        self.born = born
        self.at = None  # the station it is at (set on arrival)

    def task_of(self, index: int) -> Job:
        """A new task of this job (same id, class and birth)."""
        task = Job(self.id, self.ci, self.prio, self.born)
        task.parent = self
        task.task = index
        return task

    def successor(self) -> Job:
        """A copy that goes on in this job's place while its late tasks (past a join's
        quorum) still point here, so the job can fork again meanwhile."""
        job = Job(self.id, self.ci, self.prio, self.born)
        job.t_arr, job.start = self.t_arr, self.start
        if self.parent is not None:
            job.parent, job.task = self.parent, self.task
        for name in ("call", "request", "track"):
            if name in self.__dict__:
                setattr(job, name, self.__dict__[name])
        return job
