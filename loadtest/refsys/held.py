"""Held threads: synchronous calls, named pools and cancellation, for real.

A station with ``calls`` keeps its server (its worker coroutine, :class:`.stations.Pool`)
while each call is a real sub-visit: a new item sent to the callee component through its
router, queue and servers, whose end returns to the caller instead of following the
callee's ``next`` (:meth:`Held.returned`). Calls run in sequence or all at once
(``call_order``), ``count`` times each, made at a visit with ``probability``. A call's
``pool`` and a station's ``pool`` are ``asyncio.Semaphore``s (FIFO wake-ups) named in
``pools:``. A call's ``timeout`` is ``asyncio.wait_for``: ``continue`` leaves the callee
working (the late answer is dropped), ``cancel`` withdraws it (skipped if still queued,
its service task cancelled if in service, and its own calls with it). ``retries`` follow
the call's back-off and budget (:mod:`loadtest.retrying`); a call still failing fails the
caller's visit (:class:`.items.CallFailedError`).

Only the embedded backend runs these: with Redis the callee may be another process.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import zlib
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from qmodel.model.behaviour_spec import Call
from qmodel.model.model import Model
from qmodel.model.network import Station

from ..retrying import RetryBudget, backoff_delay
from .items import CallFailedError, CancelledItemError, Item, StationFullError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from .runtime import Runtime
    from .stations import Pool

EMULATED_BEHAVIOURS: frozenset[str] = frozenset(
    {"calls", "pools", "timeouts", "retries", "hedging", "patience", "balking"})
"""The behaviours (``Network.behaviours``) this system emulates (clients' timeouts,
retries and hedging are the load generator's, :mod:`loadtest.locustfile`)."""
CLIENT_ONLY = frozenset({"hedging"})  # a call's hedge is not emulated, a class's is


def check_behaviours(model: Model, backend: str) -> None:
    """Raise ValueError, naming the field, for a behaviour this system does not run:
    any station-side behaviour with the Redis backend, a hedged call.

    >>> m = Model.from_dict({"nodes": {"a": {"kind": "queue", "service": "1ms",
    ...     "calls": [{"to": "b"}]}, "b": {"kind": "queue", "service": "1ms"}},
    ...     "arrivals": {"web": {"to": "a", "rate": "1/s"}}})
    >>> try:
    ...     check_behaviours(m, "redis")
    ... except ValueError as exc:
    ...     print(str(exc)[:57])
    nodes.a.calls: the reference system runs calls, pools, pa
    """
    net = model.network
    unknown = net.behaviours - EMULATED_BEHAVIOURS
    if unknown:
        raise ValueError(f"the reference system does not emulate {', '.join(sorted(unknown))}")
    for s in net.stations:
        for i, call in enumerate(s.calls):
            if call.hedge is not None:
                raise ValueError(f"nodes.{s.component}.calls[{i}].hedge: the reference system "
                                 f"hedges clients' requests only, not calls")
        if backend != "redis":
            continue
        for field in ("calls", "pool", "patience", "balk"):
            if getattr(s, field):
                raise ValueError(f"nodes.{s.component}.{field}: the reference system runs "
                                 f"calls, pools, patience and balking with the embedded "
                                 f"backend only (use --broker embedded)")


class Held:
    """The calls, pools and cancellations of one :class:`.runtime.Runtime`. ``counts``
    per ``(caller, callee)``: attempts, retries, timeouts, rejections, failures."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.pools = {name: asyncio.Semaphore(size) for name, size in runtime.net.pools.items()}
        self.replies: dict[str, asyncio.Future] = {}
        self.serving: dict[str, asyncio.Task] = {}
        self.queued: dict[str, Pool] = {}  # item id -> the pool it waits in
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self._budgets: dict[tuple[str, int], RetryBudget] = {}
        self._ids = itertools.count()
        self._rng = random.Random(zlib.crc32(f"{runtime.seed}-calls".encode()))

    # ----- a visit's life: queued, served (cancellable), returned -----------------------
    def enqueued(self, item: Item, pool: Pool) -> None:
        self.queued[item.id] = pool

    def picked(self, item: Item) -> None:
        """The item left its queue (for a server, or gone)."""
        self.queued.pop(item.id, None)

    async def serve(self, item: Item, body: Awaitable[float]) -> float:
        """Run a service as its own task, so that :meth:`cancel` can withdraw it; raise
        :class:`.items.CancelledItemError` when it was."""
        task = asyncio.ensure_future(body)
        self.serving[item.id] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and not (current and current.cancelling()):
                raise CancelledItemError(f"{item.id}: cancelled by its caller") from None
            task.cancel()
            raise
        finally:
            self.serving.pop(item.id, None)

    def cancel(self, item_id: str) -> bool:
        """Withdraw an item: out of its queue if queued, its service stopped if served
        (its calls are withdrawn in turn); False when it is nowhere here (done, or
        between two stations)."""
        if item_id in self.serving:
            self.serving[item_id].cancel()
            return True
        pool = self.queued.get(item_id)
        return pool is not None and pool.withdraw(item_id)

    def returned(self, item: Item) -> bool:
        """True if ``item`` was a call's sub-visit: its end returns to the caller."""
        reply = self.replies.pop(item.id, None)
        if reply is None:
            return False
        if not reply.done():
            reply.set_result(item)
        return True

    def failed(self, item: Item, exc: Exception) -> bool:
        """True if ``item`` was a call's sub-visit: its failure goes to the caller."""
        reply = self.replies.pop(item.id, None)
        if reply is None:
            return False
        if not reply.done():
            reply.set_exception(exc)
        return True

    # ----- calls ----------------------------------------------------------------------
    async def make_calls(self, station: Station, item: Item) -> None:
        """The calls of one visit of ``item`` to ``station``, in its ``call_order``."""
        made = [(i, call) for i, call in enumerate(station.calls)
                if call.probability >= 1.0 or self._rng.random() < call.probability]
        calls = [(i, call) for i, call in made for _ in range(call.count)]
        if station.call_order == "parallel":
            tasks = [asyncio.ensure_future(self.call(station, i, c, item)) for i, c in calls]
            try:
                await asyncio.gather(*tasks)
            finally:  # one failed (or the visit was cancelled): withdraw the others
                for task in tasks:
                    task.cancel()
            return
        for i, call in calls:
            await self.call(station, i, call, item)

    async def call(self, station: Station, index: int, call: Call, item: Item) -> None:
        """One call with its retries; raise :class:`.items.CallFailedError` if none
        returned."""
        budget = self._budgets.setdefault((station.name, index), RetryBudget(
            call.retries.budget.model_dump() if call.retries and call.retries.budget
            else None))
        retries = call.retries
        key = (station.component, call.to)
        budget.first(time.monotonic())
        for attempt in itertools.count():
            self.counts[(*key, "attempts")] += 1
            outcome = await self._attempt(station, call, item)
            if outcome is None:
                return
            self.counts[(*key, outcome)] += 1
            if retries is None or outcome not in retries.when or attempt >= retries.max \
                    or not budget.allow(time.monotonic()):
                self.counts[(*key, "failures")] += 1
                raise CallFailedError(f"{station.component} -> {call.to}: {outcome} "
                                      f"after {attempt + 1} attempt(s)")
            self.counts[(*key, "retries")] += 1
            await asyncio.sleep(backoff_delay(
                retries.backoff.model_dump() if retries.backoff else None, attempt + 1,
                self._rng))
        raise AssertionError("unreachable")

    async def _attempt(self, station: Station, call: Call, item: Item) -> str | None:
        """One attempt: None when it returned, else ``timeout`` or ``reject``."""
        child = replace(item, id=f"{item.id}>{call.to}{next(self._ids)}", data={},
                        headers=dict(item.headers), t_enq=0.0)
        reply = asyncio.get_running_loop().create_future()
        self.replies[child.id] = reply
        pool = self.pools[call.pool] if call.pool else None
        acquired = False
        try:
            if pool is not None:
                await pool.acquire()
                acquired = True
            await self.runtime.send(call.to, child, station.component)
            await asyncio.wait_for(reply, call.timeout)  # None: waits for ever
            return None
        except TimeoutError:  # continue: the late answer is dropped by returned()
            if call.on_timeout == "cancel":
                self.replies.pop(child.id, None)
                self.cancel(child.id)
            return "timeout"
        except StationFullError:  # full, balked or reneged: the callee refused it
            self.replies.pop(child.id, None)
            return "reject"
        except asyncio.CancelledError:  # the caller was withdrawn: so is its call
            self.replies.pop(child.id, None)
            self.cancel(child.id)
            raise
        finally:
            if acquired:
                pool.release()

    def stats(self) -> dict[str, dict[str, Any]]:
        """``counts`` as ``{"caller -> callee": {"attempts": n, …}}``."""
        out: dict[str, dict[str, Any]] = {}
        for (caller, callee, what), n in sorted(self.counts.items()):
            out.setdefault(f"{caller} -> {callee}", {})[what] = n
        return out
