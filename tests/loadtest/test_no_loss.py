"""No loss with the Redis backend: kill -9 a consumer mid-run and restart the gateway;
every accepted event is counted exactly once in the aggregates."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from .conftest import TOPOLOGIES

pytestmark = pytest.mark.loadtest


def wait_until_processed(url: str, accepted: int, timeout_s: float = 30.0) -> dict:
    """Poll until the backlogs are empty and every accepted event is in the stores; the
    summary then (a timeout fails here, with what was left)."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=url, timeout=10) as client:
        while True:
            summary = client.get("/results/summary").json()
            if not any(summary["backlog"].values()) and summary["in_flight"] == 0 \
                    and summary["events_seen"] >= accepted:
                return summary
            if time.monotonic() > deadline:
                pytest.fail(f"not processed within {timeout_s:g} s: {summary}, "
                            f"{accepted} accepted")
            time.sleep(0.1)


def test_kill_a_consumer_and_restart_the_gateway(refsys):
    system = refsys(TOPOLOGIES / "reference_pipeline.yaml", backend="redis")
    accepted = {"n": 0, "errors": 0}
    stop = threading.Event()
    lock = threading.Lock()

    def produce(worker: int) -> None:
        with httpx.Client(base_url=system.url, timeout=10) as client:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = client.post("/events", json={"key": f"k{worker}-{i % 50}",
                                                     "payload": "one two three"})
                    with lock:
                        accepted["n"] += r.status_code == 202
                except httpx.HTTPError:
                    with lock:
                        accepted["errors"] += 1
                    time.sleep(0.05)
                time.sleep(0.01)

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    system.kill("topic-1", signal.SIGKILL)  # a consumer dies with messages pending
    time.sleep(4)
    system.kill("gateway", signal.SIGTERM)  # drains and is restarted
    time.sleep(1)
    system.wait_ready(30)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    summary = wait_until_processed(system.url, accepted["n"])
    assert system.children["topic-1"].restarts >= 1
    assert system.children["gateway"].restarts >= 1
    assert accepted["n"] > 500
    assert summary["events_counted"] == summary["events_seen"] == accepted["n"], (
        summary, accepted)
