"""A SIGKILLed supervisor leaves nothing behind: its guard (:class:`~loadtest.refsys.
children.Guard`) stops every process the system started — the gateway and its forkserver
and pool, the workers, Redis — within a few seconds. Polled, no fixed sleeps."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import psutil
import pytest

from loadtest.refsys.children import child_env

from .conftest import require_redis, write_model

pytestmark = pytest.mark.loadtest

SUPERVISOR = """
import sys, time
from loadtest.refsys.supervisor import RefSystem
system = RefSystem(sys.argv[1], backend="redis", run_dir=sys.argv[2]).start()
print("ready", flush=True)
time.sleep(600)
"""
MODEL = """
arrivals:
  events: {to: ingest, rate: 10/s}
  jobs: {to: split, rate: 1/s}
nodes:
  ingest: {kind: queue, service: 1ms, next: topic}
  topic: {kind: broker, partitions: 1, consumers: 1, service: 1ms}
  split: {kind: fork, tasks: 2, slots: 1, task_service: 1ms, join: merge}
  merge: {kind: join}
"""
"""The fewest processes of every kind: a gateway whose fork runs in a process pool (with
multiprocessing's forkserver), one consumer worker, Redis."""
GONE_WITHIN_S = 6.0  # the guard's SIGTERM, its 2 s grace, then SIGKILL; Redis after


def stopped(process: psutil.Process) -> bool:
    """Exited, or a zombie (an orphan's exit waits for init, which may never reap it)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_stopped(processes: list[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """The processes still running after ``timeout_s`` (polled)."""
    deadline = time.monotonic() + timeout_s
    alive = [p for p in processes if not stopped(p)]
    while alive and time.monotonic() < deadline:
        psutil.wait_procs(alive, timeout=0.05)  # a poll that ends early when one exits
        alive = [p for p in alive if not stopped(p)]
    return alive


@pytest.mark.timeout(60)
def test_a_sigkilled_supervisor_leaves_no_process_behind(tmp_path):
    require_redis()
    started: list[psutil.Process] = []
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(write_model(tmp_path, "small", MODEL)),
         str(tmp_path / "run")], stdout=subprocess.PIPE, env=child_env())
    try:
        assert supervisor.stdout.readline() == b"ready\n"
        started = psutil.Process(supervisor.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        for kind in ("redis-server", "loadtest.refsys.gateway", "loadtest.refsys.worker",
                     "forkserver"):
            assert kind in names, names  # every kind of process is there to be stopped
        supervisor.kill()
        supervisor.wait(5)
        left = wait_stopped(started, GONE_WITHIN_S)
        assert not left, [" ".join(p.cmdline()) for p in left]
    finally:  # whatever happened, leave no process of this test behind
        supervisor.kill()
        supervisor.wait(5)
        for process in started:
            with contextlib.suppress(psutil.Error):
                process.kill()
