"""Clients: requests that time out, retry (back-off, jitter, budget) and hedge.

A :class:`Request` is one request of a client (an open class, or a call made by a held
thread). It sends attempts through its :class:`Policy`'s ``make`` (an attempt has
``go()`` and ``abort(cancel)``) and hears back through :meth:`Request.answered` and
:meth:`Request.rejected`. A round is one attempt and its hedged copies: the round's
``timeout`` abandons every copy still running (``on_timeout: cancel`` withdraws them,
``continue`` lets them run: wasted work), a copy is sent every ``hedge.after`` while
none has answered (up to ``copies``), the first answer wins and the others are
abandoned (withdrawn if ``hedge.cancel``). A timed-out or rejected round is retried
after ``min(cap, base·factor^(k-1))`` (jittered) if ``when`` lists the cause, fewer than
``max`` retries were made, and the budget allows: retries in the last ``window`` at most
``ratio`` × first attempts in it + ``min`` × ``window``. Otherwise the request fails.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from simpy.events import Timeout

from ..model.behaviour_spec import ClientFields
from .jobs import Job
from .pools import ATTEMPTS, FAILURES, FIRST, TIMEOUTS, Attempt, waste
from .simpy_fields import event_value


class Policy:
    """How one client waits, retries and hedges; ``counts`` is where it counts (a list
    indexed by :data:`.pools.CLIENT_FIELDS`), ``make(request)`` makes an attempt."""

    def __init__(self, engine, fields: ClientFields | None, key: tuple[str, ...],
                 counts: list, make: Callable[[Request], Any]):
        self.env = engine.env
        self.counts = counts
        self.make = make
        self.timeout = fields.timeout if fields is not None else None
        self.cancel = fields is not None and fields.on_timeout == "cancel"
        self.retries = fields.retries if fields is not None else None
        hedge = fields.hedge if fields is not None else None
        self.hedge_after = float(hedge.after) if hedge is not None else None
        self.copies = hedge.copies if hedge is not None else 0
        self.hedge_cancel = hedge is None or hedge.cancel
        self.u = engine.streams.uniforms("retry", *key)
        budget = self.retries.budget if self.retries is not None else None
        self.budget = budget
        self.firsts: deque = deque()
        self.retried: deque = deque()

    def first(self, now: float) -> None:
        self.counts[FIRST] += 1
        if self.budget is not None:
            self.firsts.append(now)

    def may_retry(self, k: int, reason: str, now: float) -> bool:
        """Whether retry ``k`` (1, 2, …) after a ``reason`` is allowed; counts it if so."""
        r = self.retries
        if r is None or k > r.max or reason not in r.when:
            return False
        b = self.budget
        if b is not None:
            start = now - b.window
            for times in (self.firsts, self.retried):
                while times and times[0] < start:
                    times.popleft()
            if len(self.retried) + 1 > b.ratio * len(self.firsts) + (b.min or 0.0) * b.window:
                return False
            self.retried.append(now)
        return True

    def backoff(self, k: int) -> float:
        """The wait before retry ``k``: ``min(cap, base·factor^(k-1))``, jittered."""
        b = self.retries.backoff
        if b is None:
            return 0.0
        d = b.base * b.factor ** (k - 1)
        if b.cap is not None:
            d = min(d, b.cap)
        if b.jitter == "full":
            return d * next(self.u)
        if b.jitter == "equal":
            return d / 2 + d / 2 * next(self.u)
        return d


class Request:
    """One request of a client: rounds of attempts until one answers or it gives up;
    ``done(ok)`` is called once, at the end."""

    __slots__ = ("policy", "done", "origin", "live", "k", "round", "sent", "over")

    def __init__(self, policy: Policy, done: Callable[[Request, bool], None], origin: Any):
        self.policy = policy
        self.done = done
        self.origin = origin  # what the request is for: the arriving job, the calling job
        self.live: list = []
        self.k = 0
        self.round = 0
        self.sent = 0
        self.over = False

    def start(self) -> None:
        self.policy.first(self.policy.env.now)
        self._round()

    def _later(self, delay: float, fn: Callable) -> None:
        ev = Timeout(self.policy.env, delay, self.round)
        ev.callbacks.append(fn)

    def _round(self) -> None:
        self.round += 1
        self.sent = 0
        p = self.policy
        if p.timeout is not None:
            self._later(p.timeout, self._timed_out)
        if p.hedge_after is not None:
            self._later(p.hedge_after, self._hedge)
        self._send()

    def _send(self) -> None:
        self.sent += 1
        self.policy.counts[ATTEMPTS] += 1
        attempt = self.policy.make(self)
        self.live.append(attempt)
        attempt.go()

    def _current(self, ev: Timeout) -> bool:
        return not self.over and event_value(ev) == self.round

    def _hedge(self, ev: Timeout) -> None:
        if self._current(ev) and self.sent <= self.policy.copies:
            if self.sent < self.policy.copies:
                self._later(self.policy.hedge_after, self._hedge)
            self._send()

    def _timed_out(self, ev: Timeout) -> None:
        if not self._current(ev):
            return
        self.policy.counts[TIMEOUTS] += 1
        self._end_round(self.policy.cancel)
        self._retry("timeout")

    def _end_round(self, cancel: bool) -> None:
        self.round += 1  # the round's timers go stale
        live, self.live = self.live, []
        for attempt in live:
            attempt.abort(cancel)

    def answered(self, attempt: Any) -> bool:
        """An attempt answered: True if it is the request's answer (the first of a live
        round), False if the request no longer waits for it."""
        if self.over or attempt not in self.live:
            return False
        self.live.remove(attempt)
        self.over = True
        self._end_round(self.policy.hedge_cancel)
        self.done(self, True)
        return True

    def rejected(self, attempt: Any) -> None:
        """An attempt was rejected (a full capacity, a balk, a failed call)."""
        if self.over or attempt not in self.live:
            return
        self.live.remove(attempt)
        attempt.abort(False)
        if not self.live:
            self.round += 1
            self._retry("reject")

    def _retry(self, reason: str) -> None:
        k = self.k + 1
        p = self.policy
        if p.may_retry(k, reason, p.env.now):
            self.k = k
            self._later(p.backoff(k), self._again)
        else:
            self.over = True
            p.counts[FAILURES] += 1
            self.done(self, False)

    def _again(self, ev: Timeout) -> None:
        if self._current(ev):
            self._round()

    def abort(self) -> None:
        """The caller is withdrawn: stop, and withdraw every attempt still running."""
        if not self.over:
            self.over = True
            self._end_round(True)


class ClassClient:
    """An open class as a client: each arrival starts a :class:`Request` whose attempts
    are jobs sent to the class's entry; one that reaches the exit answers it."""

    def __init__(self, engine, k: int, fields: ClientFields | None, name: str):
        self.engine = engine
        self.k = k
        self.entry = engine.entries[k]
        self.policy = Policy(engine, fields, ("class", name), engine.client[k], self.make)

    def send(self, job: Job) -> None:
        """An arrival (what the engine sends to the class's entry)."""
        Request(self.policy, self.done, job).start()

    def make(self, request: Request) -> ClassAttempt:
        return ClassAttempt(self, request)

    def done(self, request: Request, ok: bool) -> None:
        if not ok:
            self.engine.gave_up(request.origin)


class ClassAttempt:
    """One attempt of an open class's request: a job from the entry to the exit."""

    __slots__ = ("client", "request", "job")

    def __init__(self, client: ClassClient, request: Request):
        self.client = client
        self.request = request
        first = request.origin
        self.job = Job(first.id, first.ci, first.prio, first.born)
        self.job.request = self
        self.job.track = Attempt(None)

    def go(self) -> None:
        self.client.engine.attempt_sent()
        self.client.entry(self.job)

    def answered(self, job: Job) -> bool:
        return self.request.answered(self)

    def rejected(self, job: Job) -> None:
        self.request.rejected(self)

    def abort(self, cancel: bool) -> None:
        job = self.job
        waste(self.client.engine, job.ci, job.track)
        if cancel and job.at is not None:
            job.at.withdraw(job)
