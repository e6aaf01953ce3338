"""Emulated service time: real work padded with a sleep so the delivered time matches a
draw from the model's distribution.

``asyncio.sleep`` overshoots (epoll waits in whole milliseconds, plus the event loop's
own latency): here by ~0.5–1 ms. :class:`ServiceClock` measures every sleep's overshoot,
keeps a moving estimate and asks for that much less; whatever it still misses (a draw
shorter than the work done or than one timer tick) is carried as debt into the next
service, so the mean delivered time equals the mean drawn time. The debt is bounded (four
mean service times, at least 20 ms): a stall longer than that (the machine took the CPU
away) is lost, and shows as delivered > drawn in ``/metrics``.

A service is timed from its hand-off to a free server (see :mod:`.stations`), so the
event loop's delay in resuming the worker is topped up like the sleep's overshoot.
"""

from __future__ import annotations

import asyncio
import time

MIN_MAX_DEBT_S = 0.020
DEBT_MEANS = 4.0


class ServiceClock:
    """Pads services to their target times; one per station. The debt carried is bounded
    by ``max_debt_s`` (four times ``mean_s``, at least 20 ms)."""

    def __init__(self, mean_s: float = 0.0, alpha: float = 0.05, overshoot_s: float = 0.0006):
        self.max_debt_s = max(MIN_MAX_DEBT_S, DEBT_MEANS * mean_s)
        self.alpha = alpha
        self.overshoot_s = overshoot_s
        self.debt_s = 0.0

    def plan(self, target_s: float, elapsed_s: float) -> float:
        """How long to ask ``sleep`` for, given the target and the time already spent;
        0 means do not sleep."""
        remaining = target_s - elapsed_s - self.debt_s
        if remaining <= self.overshoot_s:
            return 0.0
        return remaining - self.overshoot_s

    def observe_sleep(self, requested_s: float, actual_s: float) -> None:
        """Learn the overshoot of one sleep."""
        self.overshoot_s += self.alpha * ((actual_s - requested_s) - self.overshoot_s)

    def settle(self, target_s: float, delivered_s: float) -> None:
        """Carry the difference between delivered and target time into the next service."""
        debt = self.debt_s + delivered_s - target_s
        self.debt_s = max(-self.max_debt_s, min(self.max_debt_s, debt))

    async def pad(self, target_s: float, started: float, reserve_s: float = 0.0,
                  settle: bool = True) -> float:
        """Sleep so that the service begun at ``started`` (``time.perf_counter``) lasts
        ``target_s`` less ``reserve_s`` (what the server will still do after the pad:
        hand the item on); return the time so far. ``settle=False``: the caller settles
        the whole service itself (:meth:`settle`)."""
        request = self.plan(target_s - reserve_s, time.perf_counter() - started)
        if request > 0:
            before = time.perf_counter()
            await asyncio.sleep(request)
            self.observe_sleep(request, time.perf_counter() - before)
        else:
            await asyncio.sleep(0)
        delivered = time.perf_counter() - started
        if settle:
            self.settle(target_s, delivered)
        return delivered
