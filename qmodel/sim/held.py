"""Held threads: a station whose visit holds its server (and its pool) through
synchronous calls to other components, with patience and balking in its queue.

A visit: wait in FCFS order for a server (reneging when the job's patience runs out,
:mod:`.impatience`), then for a unit of the station's ``pool`` (holding the server),
``service``, the calls (in sequence, or all at once and wait for the last), then
``service_after``, then release the server and the pool and follow ``next``. A call is a
sub-visit (:class:`SubVisit`): a unit of the call's pool, then a job sent to the callee
component (routed among its members as any arrival), which returns here when the
callee's visit ends (its ``next`` is not followed). A call with ``timeout``, ``retries``
or ``hedge`` is a client (:mod:`.clients`) whose attempts are sub-visits. A call that
fails (rejected, or gave up after its retries) fails the visit: the server is released
and the job is lost (which its own caller, or client, sees as a rejection).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from simpy.events import Timeout

from ..model.behaviour_spec import Call
from ..model.network import Station as StationSpec
from .clients import Policy, Request
from .impatience import Impatience
from .jobs import AFTER, CALLS, POOL, QUEUE, SERVICE, Job
from .pools import Attempt, charge, waste
from .simpy_fields import event_value
from .stations import Station

if TYPE_CHECKING:
    from .engine import Engine



class Held(Station):
    """FCFS with ``c`` servers held through calls; a pool; patience and balking."""

    charges = False  # charges server time itself (held through calls), in :meth:`_leave`

    def __init__(self, engine: Engine, spec: StationSpec, index: int):
        super().__init__(engine, spec, index)
        self.plain = False
        self.queue: deque = deque()
        self.pool = engine.pools[spec.pool] if spec.pool else None
        self.after = (engine.streams.draws(spec.after, "service_after", spec.name)
                      if spec.after is not None else None)
        self.parallel = spec.call_order == "parallel"
        self.call_counts = [0, 0, 0, 0, 0.0]  # its client calls' (.pools.CLIENT_FIELDS)
        self.sites = [CallSite(engine, self, i, call) for i, call in enumerate(spec.calls)]
        self.u = engine.streams.uniforms("calls", spec.name)
        self.impatience = (Impatience(engine, self)
                           if spec.patience is not None or spec.balk is not None else None)

    # ----- arriving and waiting ---------------------------------------------------------
    def accept(self, job: Job) -> None:
        job.at = self
        imp = self.impatience
        if imp is not None and imp.balks(len(self.queue)):
            self.tick()
            self.arrivals += 1
            self.balked += 1
            job.t_arr = self.env.now
            self.engine.lose(job, ends=True)
            return None
        return super().accept(job)

    def enter(self, job: Job) -> None:
        if self.busy < self.c and not self.down:
            self.busy += 1
            self._start(job)
        else:
            self.waited += 1
            job.stage = QUEUE
            self.queue.append(job)
            if self.impatience is not None:
                self.impatience.wait(job)

    def renege(self, job: Job) -> None:
        """``job``'s patience ran out while it waited: it leaves, unserved."""
        self.queue.remove(job)
        self.tick()
        self.n -= 1
        self.reneged += 1
        job.stage = None
        self.engine.lose(job, ends=True)

    # ----- the visit --------------------------------------------------------------------
    def _start(self, job: Job) -> None:
        job.start = self.env.now
        if self.pool is not None:
            job.stage = POOL
            self.pool.acquire(self._serve, job)
        else:
            self._serve(job)

    def _serve(self, job: Job) -> None:
        job.stage = SERVICE
        ev = job.ev = Timeout(self.env, next(self.service[job.ci]), job)
        ev.callbacks.append(self._served)

    def _served(self, ev: Timeout) -> None:
        job = event_value(ev)
        if job.ev is not ev:
            return
        job.ev = None
        todo = []
        for site in self.sites:
            if site.probability >= 1 or next(self.u) < site.probability:
                todo += [site] * site.count
        if not todo:
            return self._after(job)
        job.stage = CALLS
        job.out = []
        if self.parallel:
            job.left = len(todo)
            for site in todo:
                site.call(job)
        else:
            job.todo = deque(todo)
            self._next_call(job)
        return None

    def _next_call(self, job: Job) -> None:
        if job.todo:
            job.todo.popleft().call(job)
        else:
            self._after(job)

    def call_done(self, job: Job, handle, ok: bool) -> None:
        """A call of ``job`` ended (``ok``: answered)."""
        if job.stage != CALLS or job.at is not self:
            return
        job.out.remove(handle)
        if not ok:
            return self._fail(job)
        if not self.parallel:
            return self._next_call(job)
        job.left -= 1
        if not job.left:
            self._after(job)
        return None

    def _after(self, job: Job) -> None:
        if self.after is None:
            return self._release(job)
        job.stage = AFTER
        ev = job.ev = Timeout(self.env, next(self.after), job)
        ev.callbacks.append(self._after_done)
        return None

    def _after_done(self, ev: Timeout) -> None:
        job = event_value(ev)
        if job.ev is ev:
            job.ev = None
            self._release(job)

    def _release(self, job: Job) -> None:
        self._leave(job)
        self.finish(job, job.start - job.t_arr)

    def _fail(self, job: Job) -> None:
        self._abort_calls(job)
        self._leave(job)
        self.drop(job)

    def _leave(self, job: Job) -> None:
        """``job`` gives back its server (and the pool); the next in queue starts."""
        self.tick()
        self.n -= 1
        if job.track is not None:
            charge(self.engine, job, self.env.now - job.start)
        if job.stage != POOL and self.pool is not None:
            self.pool.release()
        elif job.stage == POOL:
            self.pool.withdraw(job)
        job.stage = None
        if self.queue and not self.down:
            self._start(self.queue.popleft())
        else:
            self.busy -= 1
        if self.blocked:
            self.admit_held()

    def _abort_calls(self, job: Job) -> None:
        out, job.out = job.out, []
        for handle in out:
            handle.abort()

    def withdraw(self, job: Job) -> None:
        """Cancel ``job``'s visit wherever it is: in the queue, waiting for the pool, in
        service or in its calls (which are cancelled too)."""
        if job in self.blocked:
            self.tick()
            self.blocked.remove(job)
            return
        stage = getattr(job, "stage", None)
        if stage is None:
            return
        if stage == QUEUE:
            self.queue.remove(job)
            self.tick()
            self.n -= 1
            job.stage = None
            return
        if stage == CALLS:
            self._abort_calls(job)
        job.ev = None
        self._leave(job)

    def pop_waiting(self) -> Job | None:
        if not self.queue:
            return None
        job = self.queue.pop()
        job.stage = None
        return job


class CallSite:
    """One ``calls:`` entry of a held station: whom it calls, how often, with which pool,
    and (for a call with timeout, retries or hedge) its client policy."""

    def __init__(self, engine: Engine, caller: Held, index: int, call: Call):
        self.engine = engine
        self.caller = caller
        self.to = call.to
        self.target = None  # the callee component (set by :func:`wire`)
        self.count = call.count
        self.probability = call.probability
        self.pool = engine.pools[call.pool] if call.pool else None
        self.policy = (Policy(engine, call, ("call", caller.name, str(index)),
                              caller.call_counts,
                              self._attempt) if call.is_client else None)

    def call(self, job: Job) -> None:
        """``job`` makes this call."""
        if self.policy is None:
            handle = SubVisit(self, job, None, job.track)
            job.out.append(handle)
            handle.go()
        else:
            request = Request(self.policy, self._request_done, job)
            handle = RequestHandle(request)
            request.origin = (job, handle)
            job.out.append(handle)
            request.start()

    def _attempt(self, request: Request) -> SubVisit:
        job, _ = request.origin
        return SubVisit(self, job, request, Attempt(job.track))

    def _request_done(self, request: Request, ok: bool) -> None:
        job, handle = request.origin
        self.caller.call_done(job, handle, ok)


class RequestHandle:
    """A call with a client policy, as its caller sees it."""

    __slots__ = ("request",)

    def __init__(self, request: Request):
        self.request = request

    def abort(self) -> None:
        self.request.abort()


class SubVisit:
    """One sub-visit of a call: a unit of the call's pool, then a job to the callee that
    comes back here. ``request``: the client request it is an attempt of (None: a plain
    call, reported to the caller directly).

    The caller hears of the answer, and a cancelled callee is withdrawn, by an event at
    the same instant rather than by a nested call: a chain of calls hundreds of stations
    deep then answers, fails or is cancelled one level per event, not by recursion."""

    __slots__ = ("site", "caller", "request", "child", "holding", "open", "finished")

    def __init__(self, site: CallSite, caller: Job, request: Request | None,
                 track: Attempt | None):
        self.site = site
        self.caller = caller
        self.request = request
        child = self.child = Job(caller.id, caller.ci, caller.prio, caller.born)
        child.call = self
        child.track = track
        self.holding = False
        self.open = True
        self.finished = False  # the callee's visit ended (answered, rejected, withdrawn)

    def go(self) -> None:
        pool = self.site.pool
        if pool is None:
            self._send(None)
        else:
            pool.acquire(self._send, self)

    def _send(self, _) -> None:
        self.holding = self.site.pool is not None
        self.site.target.accept(self.child)

    def _close(self) -> bool:
        """Give the pool unit back (once); False if already closed."""
        if not self.open:
            return False
        self.open = False
        if self.holding:
            self.holding = False
            self.site.pool.release()
        elif self.site.pool is not None:
            self.site.pool.withdraw(self)
        return True

    def _soon(self, fn) -> None:
        ev = Timeout(self.site.engine.env, 0)
        ev.callbacks.append(fn)

    def answered(self, child: Job) -> None:
        """The callee's visit ended (the callee's ``next`` is not followed)."""
        self.finished = True
        if self._close():
            self._soon(self._tell_answered)

    def rejected(self, child: Job) -> None:
        self.finished = True
        if self._close():
            self._soon(self._tell_rejected)

    def _tell_answered(self, ev: Timeout) -> None:
        if self.request is None:
            self.site.caller.call_done(self.caller, self, True)
        else:
            self.request.answered(self)

    def _tell_rejected(self, ev: Timeout) -> None:
        if self.request is None:
            self.site.caller.call_done(self.caller, self, False)
        else:
            self.request.rejected(self)

    def abort(self, cancel: bool = True) -> None:
        """Stop waiting: the pool unit is given back; with ``cancel`` the callee's work
        is withdrawn, else it goes on (wasted work)."""
        was_open = self._close()
        if self.request is not None:
            waste(self.site.engine, self.child.ci, self.child.track)
        if cancel and was_open and not self.finished and self.child.at is not None:
            self._soon(self._withdraw)

    def _withdraw(self, ev: Timeout) -> None:
        if not self.finished:
            self.finished = True
            self.child.at.withdraw(self.child)


def wire(engine: Engine) -> None:
    """Point every call site at its callee and make every station hand a finished
    sub-visit back to its call instead of following ``next``."""
    for station in engine.stations:
        for site in getattr(station, "sites", ()):
            site.target = engine.components[site.to]
        station.next = [_returning(send) for send in station.next]


def _returning(send):
    def next_hop(job: Job) -> None:
        call = job.call
        if call is None:
            send(job)
        else:
            call.answered(job)
    return next_hop


def is_held(spec: StationSpec) -> bool:
    """Whether ``spec`` needs the held-thread station (calls, pool, patience, balk)."""
    return bool(spec.calls or spec.pool or spec.patience is not None or spec.balk is not None)
