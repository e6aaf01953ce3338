"""One child process of the reference system: started in a process group of its own,
restarted with exponential back-off when it keeps dying, and its state written where
the gateway reads it (``RUN_DIR/supervisor.json``, shown in ``/health`` and ``/metrics``).

:class:`Guard` is the watchdog that stops every child when the supervisor itself dies
(a SIGKILL included); ``python -m loadtest.refsys.children`` runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKOFF_FIRST_S = 0.25   # the first restart after a death
BACKOFF_CAP_S = 8.0      # the longest wait between restarts
STABLE_S = 10.0          # a child that ran this long is healthy again: back-off resets
STATE_FILE = "supervisor.json"
GUARD_GRACE_S = 2.0      # after SIGTERM, before the guard sends SIGKILL


def child_env() -> dict[str, str]:
    """The environment for child processes: this checkout importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def backoff_s(failures: int) -> float:
    """The wait before restarting a child that died ``failures`` times in a row, each
    within ``STABLE_S`` of its start: doubling from ``BACKOFF_FIRST_S`` up to the cap.

    >>> [backoff_s(n) for n in (1, 2, 3, 6, 9)]
    [0.25, 0.5, 1.0, 8.0, 8.0]
    """
    return min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** max(0, failures - 1))


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)  # beside child_env()
    process: subprocess.Popen | None = None
    restarts: int = 0
    failures: int = 0            # deaths in a row, each soon after its start
    started: float = 0.0         # time.monotonic() of the last start
    next_start: float | None = None  # time.monotonic() of the restart waited for
    last_exit: int | None = None
    log: Path | None = None
    guard: Guard | None = None   # told of each process group this child starts and ends

    def start(self, log_dir: Path) -> None:
        """Start the process in a process group of its own (see :meth:`reap_group`)."""
        self.log = log_dir / f"{self.name}.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, env=child_env() | self.env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        if self.guard is not None:
            self.guard.track("group", self.process.pid)
        self.started = time.monotonic()
        self.next_start = None

    def reap_group(self) -> None:
        """SIGKILL what is left of the process's group once it has exited: what it
        started (multiprocessing's forkserver, resource tracker and pool workers) does
        not notice a SIGKILLed parent and would run on for good. A group outlives its
        leader and its id is not reused while it has members, so this reaches them all,
        whoever their parent is, with no code in processes we do not write."""
        if self.process is None or self.process.poll() is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.guard is not None:
            self.guard.forget("group", self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tend(self, log_dir: Path) -> bool:
        """Called often by the supervisor: a dead child is reaped and its restart
        scheduled (after :func:`backoff_s`), then started when due. True when its state
        changed."""
        if self.process is None or self.alive():
            return False
        now = time.monotonic()
        if self.next_start is None:
            self.reap_group()
            self.last_exit = self.process.returncode
            self.failures = 1 if now - self.started >= STABLE_S else self.failures + 1
            self.next_start = now + backoff_s(self.failures)
            return True
        if now >= self.next_start:
            self.restarts += 1
            self.start(log_dir)
            return True
        return False

    def state(self) -> dict:
        """What ``/health`` and ``/metrics`` show of this child."""
        waiting = self.next_start is not None and not self.alive()
        return {"state": "backoff" if waiting else "running" if self.alive() else "stopped",
                "pid": self.process.pid if self.process is not None else None,
                "restarts": self.restarts, "failures_in_a_row": self.failures,
                "last_exit": self.last_exit,
                "next_attempt_at": time.time() + max(0.0, self.next_start - time.monotonic())
                if waiting else None}

    def stop(self, timeout_s: float) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reap_group()


class Guard:
    """A watchdog for one system, so that nothing it started outlives its supervisor.

    A small process in a session of its own (a terminal's Ctrl-C or a signal to the
    supervisor's process group does not reach it), told of each process group (a child
    and everything it started) and each process (Redis) as the supervisor starts and
    reaps them. Its stdin is a pipe whose only writer is the supervisor: when the
    supervisor exits in any way, SIGKILL included, the kernel closes it, and the guard
    stops everything still listed: SIGTERM (a gateway begins to drain, Redis writes its
    AOF), then SIGKILL after :data:`GUARD_GRACE_S`. :meth:`close` after a clean stop lets it go
    without stopping anything.
    """

    def __init__(self, log: Path):
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "loadtest.refsys.children"], stdin=subprocess.PIPE,
                stdout=out, stderr=subprocess.STDOUT, env=child_env(), start_new_session=True)
        self._lock = threading.Lock()  # the supervisor's watcher thread tells it too

    def track(self, kind: str, pid: int) -> None:
        """List a ``group`` (a process group id) or a ``process`` to stop."""
        self._tell(f"+{kind} {pid}")

    def forget(self, kind: str, pid: int) -> None:
        """Take a group or process off the list (it was reaped)."""
        self._tell(f"-{kind} {pid}")

    def close(self) -> None:
        """Everything was stopped: the guard exits, stopping nothing."""
        self._tell("done")
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def _tell(self, line: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):  # the guard is gone
            self.process.stdin.write(f"{line}\n".encode())
            self.process.stdin.flush()


def listed(lines: Iterable[str]) -> list[tuple[str, int]]:
    """What a guard must stop once the supervisor's messages end: the groups and
    processes tracked and not forgotten, none after ``done``.

    >>> listed(["+group 10", "+process 11", "+group 12", "-group 10"])
    [('process', 11), ('group', 12)]
    >>> listed(["+group 10", "done"])
    []
    """
    tracked: dict[tuple[str, int], None] = {}
    for line in lines:
        if line.strip() == "done":
            return []
        sign, kind, pid = line[0], *line[1:].split()
        if sign == "+":
            tracked[(kind, int(pid))] = None
        else:
            tracked.pop((kind, int(pid)), None)
    return list(tracked)


def stop_all(targets: list[tuple[str, int]], grace_s: float = GUARD_GRACE_S) -> None:
    """SIGTERM every member of the listed groups, then the listed processes (Redis after
    the workers that use it); SIGKILL what is still running ``grace_s`` after each."""
    groups = {pid for kind, pid in targets if kind == "group"}
    for phase in (_members(groups), _members(set(), {pid for kind, pid in targets
                                                    if kind == "process"})):
        for process in phase:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        deadline = time.monotonic() + grace_s
        while (running := [p for p in phase if _running(p)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in running:
            with contextlib.suppress(psutil.Error):
                process.kill()


def _members(groups: set[int], pids: Iterable[int] = ()) -> list[psutil.Process]:
    """The running processes in ``groups`` (by process group id) or with one of ``pids``."""
    pids, found = set(pids), []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if (process.pid in pids or os.getpgid(process.pid) in groups) and _running(process):
                found.append(process)
    return found


def _running(process: psutil.Process) -> bool:
    """Running, and not a zombie: an orphan's exit is reaped by init (or, in some
    containers, never), so a zombie counts as stopped."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def write_state(run_dir: Path, children: dict[str, Child]) -> None:
    """Write the children's states to ``RUN_DIR/supervisor.json`` (atomically)."""
    doc = {"written": time.time(), "children": {n: c.state() for n, c in children.items()}}
    tmp = run_dir / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, run_dir / STATE_FILE)


def read_state(run_dir: Path) -> dict | None:
    """The supervisor's last :func:`write_state` (None: not supervised, or unreadable)."""
    try:
        return json.loads((run_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


if __name__ == "__main__":  # a Guard's process: stdin until it ends, then stop the rest
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop_all(listed(line.decode() for line in sys.stdin.buffer))
