"""Pools: named finite resources (connections, locks) with a FIFO wait queue, and the
bookkeeping of whose work an attempt is (for wasted work).

A :class:`Pool` counts acquisitions, the total time waited for a unit and the time
integral of units in use: mean wait and utilisation over any window are differences of
two counter rows, like a station's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

POOL_FIELDS = ("acquired", "sum_wait", "area_used")


class Pool:
    """``size`` units; :meth:`acquire` calls ``fn(token)`` when a unit is granted (at once
    if one is free), :meth:`release` hands the unit to the oldest waiter.

    >>> import simpy
    >>> env = simpy.Environment()
    >>> pool, got = Pool(env, 1), []
    >>> pool.acquire(got.append, "a"); pool.acquire(got.append, "b"); got
    ['a']
    >>> pool.release(); got, pool.used
    (['a', 'b'], 1)
    """

    def __init__(self, env, size: int):
        self.env = env
        self.size = size
        self.used = 0
        self.waiting: deque = deque()
        self.acquired = 0
        self.sum_wait = self.area_used = self.last = 0.0

    def tick(self) -> None:
        now = self.env.now
        self.area_used += self.used * (now - self.last)
        self.last = now

    def acquire(self, fn: Callable[[Any], None], token: Any) -> None:
        if self.used < self.size:
            self.tick()
            self.used += 1
            self.acquired += 1
            fn(token)
        else:
            self.waiting.append((fn, token, self.env.now))

    def release(self) -> None:
        self.tick()
        if self.waiting:
            fn, token, since = self.waiting.popleft()
            self.acquired += 1
            self.sum_wait += self.env.now - since
            fn(token)
        else:
            self.used -= 1

    def withdraw(self, token: Any) -> None:
        """Stop waiting for a unit (a cancelled caller)."""
        for item in self.waiting:
            if item[1] is token:
                self.waiting.remove(item)
                return

    def counters(self) -> list[float]:
        self.tick()
        return [self.acquired, self.sum_wait, self.area_used]


class Attempt:
    """The work done for one attempt (and its calls): ``work`` server-seconds so far;
    ``wasted`` once the attempt was abandoned or lost; ``up`` the attempt it serves."""

    __slots__ = ("work", "wasted", "up")

    def __init__(self, up: Attempt | None):
        self.work = 0.0
        self.wasted = False
        self.up = up


def charge(engine, job, seconds: float) -> None:
    """Add ``seconds`` of server time spent on ``job`` to its attempts; it is wasted work
    (of the job's class) when one of them was abandoned."""
    track = job.track
    wasted = False
    while track is not None:
        track.work += seconds
        wasted = wasted or track.wasted
        track = track.up
    if wasted:
        engine.client[job.ci][WASTED] += seconds


def waste(engine, ci: int, track: Attempt | None) -> None:
    """Mark an attempt abandoned: the work done for it so far, and from now on, is wasted
    (once: an attempt inside an abandoned one is counted with it)."""
    if track is None or track.wasted:
        return
    up = track.up
    while up is not None:
        if up.wasted:
            track.wasted = True
            return
        up = up.up
    track.wasted = True
    engine.client[ci][WASTED] += track.work


CLIENT_FIELDS = ("first", "attempts", "timeouts", "failures", "wasted")
"""Per class: first attempts, all attempts, timed-out attempts, requests that gave up,
and wasted server-seconds."""
FIRST, ATTEMPTS, TIMEOUTS, FAILURES, WASTED = range(len(CLIENT_FIELDS))
