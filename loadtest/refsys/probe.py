"""How well a process of the system is served by the machine: event-loop lag and time
spent waiting for a CPU, sampled every ``interval`` into the trace (rows of kind ``L``).

- *loop lag*: how long a callback made ready now waits before the event loop runs it
  (every coroutine hand-off and every timer pays this);
- *run-queue wait*: from ``/proc/self/task/*/schedstat`` (Linux), the seconds per second
  the process's threads were runnable but waiting for a CPU (the machine's other load),
  and that wait per time the process was put on a CPU (the delay of one wake-up);
- *CPU*: the cores the process used.

The harness turns these into the system's own self-check: a system that waited for the
CPU cannot deliver the service times it was given, and its run is not compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from .trace import TraceWriter


def schedstat() -> tuple[float, float, int] | None:
    """(CPU seconds, run-queue wait seconds, times put on a CPU) of this process's threads
    so far; None where the kernel does not say."""
    cpu = wait = slices = 0
    try:
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError):
                fields = (task / "schedstat").read_text().split()
                cpu += int(fields[0])
                wait += int(fields[1])
                slices += int(fields[2])
    except OSError:
        return None
    return cpu / 1e9, wait / 1e9, slices


class Probe:
    """Samples this process; ``name`` identifies it in the trace."""

    def __init__(self, trace: TraceWriter, name: str, interval: float = 0.1):
        self.trace = trace
        self.name = name
        self.interval = interval
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        before, t_before = schedstat(), time.perf_counter()
        while True:
            await asyncio.sleep(self.interval)
            lag = loop.create_future()
            asked = time.perf_counter()
            loop.call_soon(lambda f=lag, t=asked: f.done() or f.set_result(
                time.perf_counter() - t))
            lag_s = await lag
            now, t_now = schedstat(), time.perf_counter()
            elapsed = t_now - t_before
            if before is not None and now is not None and elapsed > 0:
                cpu = (now[0] - before[0]) / elapsed
                waited = (now[1] - before[1]) / elapsed
                per_wakeup = (now[1] - before[1]) / max(1, now[2] - before[2])
            else:
                cpu = waited = per_wakeup = float("nan")
            self.trace.probe(self.name, time.time(), lag_s, waited, cpu, per_wakeup)
            before, t_before = now, t_now
