"""One child process of the reference system: started in a process group of its own,
restarted with exponential back-off when it keeps dying, and its state written where
the gateway reads it (``RUN_DIR/supervisor.json``, shown in ``/health`` and ``/metrics``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKOFF_FIRST_S = 0.25   # the first restart after a death
BACKOFF_CAP_S = 8.0      # the longest wait between restarts
STABLE_S = 10.0          # a child that ran this long is healthy again: back-off resets
STATE_FILE = "supervisor.json"


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

    def start(self, log_dir: Path) -> None:
        """Start the process in a process group of its own (see :meth:`reap_group`)."""
        self.log = log_dir / f"{self.name}.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command, env=child_env() | self.env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
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
