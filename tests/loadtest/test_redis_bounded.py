"""With the Redis backend, a station in a worker process is bounded too: its input stream
counts what is queued and what the station holds; full, the sender's item is rejected
(and recorded) or the sender blocks. Nothing is lost either way. A fork/join downstream
of the broker runs in one worker (map tasks in its process pool, the join beside them)."""

from __future__ import annotations

import concurrent.futures as cf
import time

import httpx
import pytest

from .conftest import write_model

pytestmark = pytest.mark.loadtest

MODEL = """
name: bounded-workers
time_unit: ms
arrivals: {events: {to: topic, rate: 50/s}}
nodes:
  topic: {kind: broker, partitions: 2, consumers: 1, service: 0.5ms,
          next: {shed: 0.4, held: 0.4, wc: 0.2}}
  shed: {kind: queue, servers: 1, service: {dist: deterministic, value: 30ms},
         capacity: 3, on_full: reject}
  held: {kind: queue, servers: 1, service: {dist: deterministic, value: 30ms},
         capacity: 3, on_full: block}
  wc: {kind: fork, tasks: 2, slots: 2, task_service: 2ms, join: merge}
  merge: {kind: join}
"""


def test_worker_stations_reject_or_block_when_full_and_fork_join(refsys, tmp_path):
    system = refsys(write_model(tmp_path, "bounded", MODEL), backend="redis")
    n = 80
    with httpx.Client(base_url=system.url, timeout=30) as client, \
            cf.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: client.post(
            "/events", json={"key": f"k{i}", "payload": "a b"}).status_code, range(n)))
        assert statuses.count(202) == n  # the broker took them all
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            summary = client.get("/results/summary").json()
            if not any(summary["backlog"].values()):
                break
            time.sleep(0.2)
        assert not any(summary["backlog"].values()), summary
        components = client.get("/metrics").json()["components"]
    shed, held, wc, merge = (components[c] for c in ("shed", "held", "wc", "merge"))
    assert shed["rejected"] > 0 and held["rejected"] == 0, (shed, held)
    assert wc["count"] == merge["count"] > 0, (wc, merge)  # every job joined
    assert shed["count"] + shed["rejected"] + held["count"] + wc["count"] == n  # none lost
    # blocking: never more than the capacity inside, so the waits stay bounded
    assert held["p99_wait_s"] < 3 * 0.030 + 0.05, held
