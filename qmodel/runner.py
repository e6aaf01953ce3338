"""Where tasks run (in this process, on a local process pool, or on a Dask cluster) and
how their progress shows; used by :mod:`qmodel.sim` (replications) and
:mod:`qmodel.experiments` (sweep points).

Every task is a pure function of its arguments (seeds included), so the executor never
changes a result. ``run`` shows a progress bar once a run takes more than a second, and on
Ctrl-C returns what finished, flagged partial. Errors a user can cause travel back from the
workers as data and are raised here as the same :class:`~qmodel.errors.QModelError`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from .errors import ModelError, Problem, QModelError

EXECUTORS = ("serial", "local", "dask")
AUTO_AFTER_S = 1.0


class Reporter:
    """Turns the fractions done of ``replications`` equal parts into overall progress.

    ``progress`` is True (always show a bar), False (never), None (show a bar once the
    run has taken more than a second and is not nearly done) or a callable that receives
    the overall fraction done (0..1).
    """

    def __init__(self, progress: bool | Callable[[float], None] | None, replications: int,
                 label: str):
        self.callback = progress if callable(progress) else None
        self.mode = "callback" if self.callback else {True: "bar", False: "off"}.get(progress,
                                                                                    "auto")
        self.replications = replications
        self.label = label
        self.t0 = time.perf_counter()
        self.bar = None
        self.task = None

    def for_replication(self, r: int) -> Callable[[float], None] | None:
        if self.mode == "off":
            return None
        return lambda frac: self.update((r + frac) / self.replications)

    def update(self, done: float) -> None:
        if self.callback is not None:
            self.callback(done)
            return
        if self.bar is None:
            elapsed = time.perf_counter() - self.t0
            if self.mode == "auto" and (elapsed < AUTO_AFTER_S or done > 0.8):
                return
            self._open()
        self.bar.update(self.task, completed=done)

    def _open(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
                            console=Console(stderr=True), transient=True)
        self.task = self.bar.add_task(self.label, total=1.0)
        self.bar.start()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


@dataclass(frozen=True)
class _Failure:
    message: str
    problems: tuple[tuple[str, str], ...]

    def raise_(self) -> None:
        if self.problems:
            raise ModelError([Problem(path, message) for path, message in self.problems])
        raise QModelError(self.message)


def _guarded(func: Callable[[Any], Any], task: Any) -> Any:
    try:
        return func(task)
    except ModelError as exc:
        return _Failure(str(exc), tuple((p.path, p.message) for p in exc.problems))
    except QModelError as exc:
        return _Failure(str(exc), ())


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def run(func: Callable[[Any], Any], tasks: Sequence[Any], *, executor: str = "local",
        scheduler: Any = None, workers: int | None = None, progress: Any = None,
        label: str = "running") -> tuple[list[Any], bool]:
    """``[func(t) for t in tasks]`` on ``executor``; returns the results (None for tasks
    not finished when interrupted) and whether the run was interrupted.

    ``executor``: ``"local"`` (a process pool of ``workers`` processes, default one per
    CPU, stopped at once on Ctrl-C), ``"dask"`` (``scheduler`` is an address such as ``"tcp://host:8786"``, a
    ``distributed.Client``, or None for a ``LocalCluster`` of ``workers`` processes that
    is closed afterwards) or ``"serial"`` (this process); a single task always runs in this
    process. ``func`` must be importable (a module-level function) for the pool and Dask.

    >>> run(abs, [-1, 2, -3], executor="serial")
    ([1, 2, 3], False)
    """
    if executor not in EXECUTORS:
        raise QModelError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    call = partial(_guarded, func)
    results: list[Any] = [None] * len(tasks)
    reporter = Reporter(progress, 1, label) if progress is not False else None
    done = 0

    def finished(index: int, value: Any) -> None:
        nonlocal done
        if isinstance(value, _Failure):
            value.raise_()
        results[index] = value
        done += 1
        if reporter is not None:
            reporter.update(done / len(tasks))

    try:
        if executor == "serial" or len(tasks) <= 1:
            for i, task in enumerate(tasks):
                finished(i, call(task))
        elif executor == "local":
            _local(call, tasks, workers, finished)
        else:
            _dask(call, tasks, scheduler, workers, finished)
    except KeyboardInterrupt:
        return results, True
    finally:
        if reporter is not None:
            reporter.close()
    return results, False


def _local(call: Callable, tasks: Sequence[Any], workers: int | None,
           finished: Callable[[int, Any], None]) -> None:
    """Run ``call`` over ``tasks`` on worker processes, each with a pipe of its own and one
    task at a time: no lock is shared, so stopping early (an error, Ctrl-C) kills the
    workers and never waits on one. :class:`multiprocessing.pool.Pool` was used before; its
    ``terminate`` can deadlock when a task is still being fed to a worker (CPython issues
    #73945, #96995), which hung a sweep whose point raised an error."""
    from multiprocessing.connection import wait

    size = min(len(tasks), workers or os.cpu_count() or 1)
    queue = list(enumerate(tasks))[::-1]
    busy: dict[Any, multiprocessing.Process] = {}
    started = []
    try:
        for _ in range(size):
            ours, theirs = multiprocessing.Pipe()
            process = multiprocessing.Process(target=_serve, args=(theirs, call), daemon=True)
            process.start()
            theirs.close()
            started.append((process, ours))
            ours.send(queue.pop())
            busy[ours] = process
        while busy:
            for conn in wait(list(busy)):
                process = busy.pop(conn)
                try:
                    index, value, error = conn.recv()
                except EOFError:
                    process.join(1.0)
                    raise QModelError(f"a worker process stopped unexpectedly (exit code "
                                      f"{process.exitcode})") from None
                if error is not None:
                    raise error
                finished(index, value)
                if queue:
                    conn.send(queue.pop())
                    busy[conn] = process
        for _, conn in started:
            conn.send(None)  # done: the worker returns
    finally:
        for process, conn in started:
            process.join(0.0 if busy else 1.0)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()


def _serve(conn: Any, call: Callable) -> None:
    """A worker: answer each ``(index, task)`` with ``(index, call(task), None)`` (or the
    exception in place of None) until ``None`` comes, or the parent is gone."""
    _ignore_sigint()
    while (item := _next(conn)) is not None:
        index, task = item
        try:
            conn.send((index, call(task), None))
        except Exception as exc:  # a bug in a task: raised again in the parent
            try:
                conn.send((index, None, exc))
            except Exception:  # not picklable: its text
                conn.send((index, None, RuntimeError(f"{type(exc).__name__}: {exc}")))


def _next(conn: Any) -> Any:
    """The next item for a worker; None once its parent is gone (killed: it sends no
    ``None``, and the forked siblings hold copies of its pipe end, so no EOF comes
    either; the worker is then a child of another process)."""
    parent = os.getppid()
    try:
        while not conn.poll(1.0):
            if os.getppid() != parent:
                return None
        return conn.recv()
    except (EOFError, OSError):
        return None


def _dask(call: Callable, tasks: Sequence[Any], scheduler: Any, workers: int | None,
          finished: Callable[[int, Any], None]) -> None:
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = client = None
    if isinstance(scheduler, Client):
        owned = False
        client = scheduler
    else:
        owned = True
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                   threads_per_worker=1, processes=True,
                                   dashboard_address="127.0.0.1:0", host="127.0.0.1")
        client = Client(scheduler if scheduler is not None else cluster)
    futures = []
    try:
        futures = client.map(call, list(tasks), pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        for future, value in dask_completed(futures, with_results=True):
            finished(index[future.key], value)
    finally:
        if futures:
            client.cancel(futures)
        if owned:
            client.close()
            if cluster is not None:
                cluster.close()
