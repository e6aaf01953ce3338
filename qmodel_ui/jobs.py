"""Long work (simulation, sweeps, load tests) in a separate process, with progress and
cancel, watched by a fragment so the page stays responsive.

Workers come from a ``forkserver`` that has already imported qmodel: a job starts in
milliseconds and never forks the threaded Streamlit server. Streamlit makes each page
script ``__main__``; multiprocessing would run it again in every worker, so processes are
started with a stand-in ``__main__`` that workers skip. Cancel sends SIGINT (a
simulation then returns what it has, marked partial) and, if the worker has not stopped
after a grace period, SIGKILL to its whole process group (load generators included).
Finished results are kept per input for every session (``results()``).
"""

from __future__ import annotations

import importlib.machinery
import multiprocessing as mp
import os
import signal
import sys
import time
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from . import work

_CTX = mp.get_context("forkserver")
_CTX.set_forkserver_preload(["qmodel_ui.work", "qmodel.experiments", "qmodel.sim"])
GRACE_S = 5.0
KEEP = 64


_MAIN = types.ModuleType("__main__")
_MAIN.__spec__ = importlib.machinery.ModuleSpec("qmodel_ui.__main__", None)


@contextmanager
def _stand_in_main() -> Iterator[None]:
    """``__main__`` named like a package's ``__main__``, which workers do not re-run."""
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = _MAIN
    try:
        yield
    finally:
        if sys.modules["__main__"] is _MAIN:
            sys.modules["__main__"] = saved


def warm_up() -> None:
    """Start the forkserver (it imports in the background) before the first job needs it."""
    from multiprocessing import forkserver

    with _stand_in_main():
        forkserver.ensure_running()


@dataclass
class Job:
    """One run of ``fn(*args, progress=callback)``; a worker process while ``running``."""

    key: tuple
    fn: Callable
    args: tuple
    status: str = "running"  # running, done, failed, cancelled
    value: Any = None
    started: float = field(default_factory=time.monotonic)
    cancel_at: float | None = None
    payload: tuple = field(default=(), repr=False)  # more arguments, not in ``key``
    updates: list = field(default_factory=list, repr=False)  # the worker's snapshots so far

    def __post_init__(self) -> None:
        self._process = None
        if self.status != "running":
            return
        self._progress = _CTX.Value("d", 0.0, lock=False)
        self._conn, send = _CTX.Pipe(duplex=False)
        self._process = _CTX.Process(target=work.run, args=(self.fn, self.args + self.payload,
                                                         self._progress,
                                                         send), daemon=True)
        with _stand_in_main():
            self._process.start()
        send.close()

    @property
    def progress(self) -> float:
        return min(max(self._progress.value, 0.0), 1.0) if self._process else 1.0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def poll(self) -> bool:
        """Collect the outcome if there is one; True once the job has finished."""
        if self.status != "running":
            return True
        answered = False
        while not answered and self._conn.poll():
            try:
                kind, value = self._conn.recv()
            except EOFError:
                kind, value = "failed", "The worker stopped without an answer."
            if kind == "update":
                self.updates.append(value)
            else:
                self.status, self.value, answered = kind, value, True
        if not answered and not self._process.is_alive():
            self.status, self.value = ("cancelled", "Cancelled.") if self.cancel_at else \
                ("failed", f"The worker stopped unexpectedly (exit code "
                           f"{self._process.exitcode}).")
        elif not answered and self.cancel_at and time.monotonic() - self.cancel_at > GRACE_S:
            self.kill()
        if self.status == "running":
            return False
        self._process.join(timeout=1)
        self._conn.close()
        self.payload = ()
        if self.status == "done" and self.cancel_at is None:
            results()[self.key] = self.value
        return True

    def cancel(self) -> None:
        """Ask the worker to stop (SIGINT); it is killed if it is still there in GRACE_S."""
        if self.status == "running" and self.cancel_at is None:
            self.cancel_at = time.monotonic()
            os.kill(self._process.pid, signal.SIGINT)

    def kill(self) -> None:
        """Stop the worker and everything it started, now."""
        if self._process is not None and self._process.is_alive():
            os.killpg(self._process.pid, signal.SIGKILL)


@st.cache_resource(show_spinner=False)
def _results() -> OrderedDict:
    return OrderedDict()


def results() -> OrderedDict:
    """Finished job values by ``(function, args)``, the most recent ``KEEP``."""
    store = _results()
    while len(store) > KEEP:
        store.popitem(last=False)
    return store


def run(slot: str, fn: Callable, *args: Any, start: bool = True, fresh: bool = False,
        label: str = "Working", payload: tuple = (),
        live: Callable[[list], None] | None = None) -> Job | None:
    """The job in ``slot`` for ``fn(*args)`` once it has finished (``status`` says how),
    else None while it runs (shown with progress and a Cancel button) or is not started.

    A finished value for the same inputs is reused; a job for other inputs in the slot is
    stopped. ``start``: start one when there is none; ``fresh``: replace a failed or
    cancelled one (a button press). ``payload``: arguments passed after ``args`` that are
    not part of the inputs' key (large uploads: ``args`` then carry their digests); they are
    dropped once the job has finished. ``live`` draws the worker's snapshots so far
    (:attr:`Job.updates`) under the progress bar while it runs.
    """
    key = (fn.__module__, fn.__qualname__, args)
    slot = f"job:{slot}"
    job: Job | None = st.session_state.get(slot)
    if job is not None and (job.key != key or (fresh and job.status != "running")):
        job.kill()
        job = None
    if job is None and key in results():
        job = Job(key, fn, args, "done", results()[key])
    if job is None:
        if not start:
            return None
        job = Job(key, fn, args, payload=payload)
    st.session_state[slot] = job
    if job.poll():
        return job
    _watch(slot, label, live)
    return None


def _watch(slot: str, label: str, live: Callable[[list], None] | None) -> None:
    @st.fragment(run_every=0.5)
    def watch() -> None:
        job: Job | None = st.session_state.get(slot)
        if job is None or job.poll():
            st.rerun()
        st.progress(job.progress, text=f"{label}… {job.elapsed:.0f} s"
                    + (" — stopping" if job.cancel_at else ""))
        st.button("Cancel", key=f"{slot}-cancel", on_click=job.cancel,
                  disabled=job.cancel_at is not None)
        if live is not None and job.updates:
            live(job.updates)

    watch()
