"""What a kill loses, measured (opt-in, ``-m loadtest_full``; the figures are in
docs/loadtest.md, "Faults and durability"): Redis SIGKILLed under ``appendfsync
everysec`` and ``always``, and the embedded gateway SIGKILLed."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from .conftest import TOPOLOGIES
from .test_faults import Producer

pytestmark = [pytest.mark.loadtest, pytest.mark.loadtest_full]


def settled_summary(url: str, timeout_s: float = 30.0) -> dict:
    """The summary once nothing is queued, held or in flight for a second."""
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        summary = httpx.get(url + "/results/summary", timeout=10).json()
        if not any(summary["backlog"].values()) and summary["in_flight"] == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 1.0:
                return summary
        else:
            quiet_since = None
        time.sleep(0.2)
    pytest.fail(f"not settled within {timeout_s:g} s: {summary}")


@pytest.mark.parametrize("fsync", ["everysec", "always"])
def test_loss_when_redis_is_killed(refsys, fsync):
    system = refsys(TOPOLOGIES / "reference_pipeline.yaml", backend="redis",
                    redis_fsync=fsync)
    with Producer(system.url, threads=4) as producer:
        time.sleep(4)
        system.redis_server.kill(signal.SIGKILL)
        system.redis_server.start()
        system.wait_ready(30)
        time.sleep(1)
    summary = settled_summary(system.url)
    lost = producer.accepted - summary["events_seen"]
    print(f"appendfsync {fsync}: {producer.accepted} accepted, {summary['events_seen']} "
          f"processed, {lost} lost, {producer.unsure} unsure (503 or cut)")
    assert summary["events_counted"] == summary["events_seen"]  # never twice
    if fsync == "always":
        assert lost <= 0


def test_loss_when_the_embedded_gateway_is_killed(refsys):
    system = refsys(TOPOLOGIES / "reference_pipeline.yaml")
    with Producer(system.url, threads=4) as producer:
        time.sleep(4)
        system.kill("gateway", signal.SIGKILL)
        system.wait_ready(30)
        time.sleep(1)
    summary = settled_summary(system.url)
    lost = producer.accepted - summary["events_seen"]
    print(f"embedded, gateway SIGKILLed: {producer.accepted} accepted, "
          f"{summary['events_seen']} processed, {lost} lost")
    assert summary["events_counted"] == summary["events_seen"]
