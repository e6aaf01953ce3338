"""The supervisor's children: a crash loop is restarted with growing waits, and what a
dead child started dies with it (fast: tiny Python processes, no system)."""

from __future__ import annotations

import shutil
import sys
import time

import psutil
import pytest

from loadtest.refsys.children import BACKOFF_FIRST_S, Child, read_state, write_state


@pytest.mark.loadtest  # restart gaps in wall time: with the load tests, at normal priority
def test_a_crash_loop_backs_off_and_says_so(tmp_path):
    child = Child("crasher", [shutil.which("false")])  # exits 1 at once
    child.start(tmp_path)
    starts, deadline = [time.monotonic()], time.monotonic() + 2.4
    while time.monotonic() < deadline:
        restarts = child.restarts
        child.tend(tmp_path)
        if child.restarts > restarts:
            starts.append(time.monotonic())
        if child.next_start is not None and not child.alive():
            written = time.time()
            write_state(tmp_path, {"crasher": child})
            state = read_state(tmp_path)["children"]["crasher"]
            assert state["state"] == "backoff" and state["last_exit"] == 1
            assert state["next_attempt_at"] >= written  # now, or the attempt still to come
        time.sleep(0.01)
    child.stop(1)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # 0.25, 0.5, 1 s (plus each start's own few ms): 3 restarts in 2.4 s, not ~50
    assert len(gaps) == 3, gaps
    for k, gap in enumerate(gaps[:3]):
        assert BACKOFF_FIRST_S * 2 ** k <= gap < BACKOFF_FIRST_S * 2 ** k + 0.5, gaps


def test_a_killed_childs_descendants_are_reaped(tmp_path):
    """A grandchild (as multiprocessing's forkserver is) outlives its SIGKILLed parent
    unless the supervisor kills the group."""
    script = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
              "'import time; time.sleep(60)']); time.sleep(60)")
    child = Child("parent", [sys.executable, "-c", script])
    child.start(tmp_path)
    parent = psutil.Process(child.process.pid)
    deadline = time.monotonic() + 10
    while not parent.children() and time.monotonic() < deadline:
        time.sleep(0.02)
    grandchild = parent.children()[0]
    parent.kill()
    child.process.wait(5)
    assert grandchild.is_running()  # orphaned, until the supervisor tends the child
    child.tend(tmp_path)
    grandchild.wait(5)
    child.stop(1)
