"""Replications of one simulation on an executor: serial, a local process pool or Dask.

A replication is a pure function of its :class:`ReplicationTask` (the network, its
``SeedSequence`` child and the stopping rule), so where it runs never changes its
:class:`~qmodel.sim.record.Replication` record: the parent summarises the records with
the same code as an in-process run, and the same seed gives the same result everywhere.
Tasks and records are plain picklable data; the worker function is module level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.network import Network
from ..runner import run
from .engine import Engine
from .record import Replication
from .streams import Streams
from .trace import TraceRecorder


@dataclass(frozen=True)
class ReplicationTask:
    """Everything one replication needs; crosses the process boundary by pickling."""

    network: Network
    seq: np.random.SeedSequence
    use_fast: bool
    customers: int | None
    horizon: float | None
    warmup: float | None
    min_time: float = 0.0
    max_events: int | None = None


def make_runner(task: ReplicationTask, progress: Callable[[float], None] | None = None,
                trace: TraceRecorder | None = None) -> Any:
    """The engine (fast or simpy) that runs ``task``; ``.run()`` returns its record."""
    options = dict(customers=task.customers, horizon=task.horizon, warmup=task.warmup,
                   progress=progress, max_events=task.max_events)
    if task.use_fast:
        from . import fast  # numba loads with the first replication on the fast path

        return fast.FastRun(task.network, Streams(task.seq), **options)
    return Engine(task.network, Streams(task.seq), trace=trace, min_time=task.min_time,
                  **options)


def run_replication(task: ReplicationTask) -> Replication:
    """Run one replication (in a worker); returns its record."""
    return make_runner(task).run()


def run_replications(tasks: Sequence[ReplicationTask], *, executor: str, scheduler: Any = None,
                     workers: int | None = None, progress: Any = None,
                     label: str = "simulating") -> tuple[list[Replication], bool]:
    """The records of the replications that finished, in replication order, and whether
    the run was interrupted (Ctrl-C: the finished ones are kept, the others dropped).

    ``executor``/``scheduler``/``workers`` as for :func:`qmodel.runner.run`.
    """
    results, interrupted = run(run_replication, list(tasks), executor=executor,
                               scheduler=scheduler, workers=workers, progress=progress,
                               label=label)
    return [r for r in results if r is not None], interrupted
