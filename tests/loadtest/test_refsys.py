"""The reference system itself: endpoints, real work, bounded queues, shutdown."""

from __future__ import annotations

import concurrent.futures as cf
import json

import httpx
import pytest
from typer.testing import CliRunner

from loadtest.cli import app

from .conftest import TOPOLOGIES, write_model

pytestmark = pytest.mark.loadtest

SMALL = """
name: small
time_unit: ms
arrivals: {{web: {{to: app, rate: 50/s}}}}
nodes:
  app: {{kind: queue, servers: 2, service: 40ms, capacity: 4, on_full: {on_full}}}
"""


def post_many(url: str, n: int) -> list[int]:
    with httpx.Client(timeout=30) as client, cf.ThreadPoolExecutor(16) as pool:
        return list(pool.map(lambda i: client.post(url, json={"key": f"k{i}", "payload": "a b"})
                             .status_code, range(n)))


def test_web_service_stream_of_events(refsys):
    system = refsys(TOPOLOGIES / "web_service.yaml")
    with httpx.Client(base_url=system.url, timeout=30) as client:
        statuses = [client.post("/events", json={"key": f"k{i % 5}", "payload": "x y z"})
                    for i in range(60)]
        assert {r.status_code for r in statuses} == {200}
        assert float(statuses[0].headers["X-Server-Time"]) > 0.002
        assert client.post("/events", content=b"not json").status_code == 400
        metrics = client.get("/metrics").json()
        assert set(metrics["components"]) == {"gateway", "app", "db"}
        assert metrics["components"]["app"]["count"] == 60
        assert metrics["end_to_end"]["all"]["count"] == 60
        db = metrics["components"]["db"]["count"]
        summary = client.get("/results/summary").json()
        assert summary["events_counted"] == summary["events_seen"] == db  # db shards store
        windows = client.get("/results/keys/k1").json()["windows"]
        assert sum(w["count"] for w in windows) <= 12
        assert client.get("/health").json()["status"] == "ok"
    system.stop()
    report = json.loads(next(system.run_dir.glob("shutdown-gateway-*.json")).read_text())
    assert report["unprocessed"] == {}


def test_batch_job_word_count(refsys):
    system = refsys(TOPOLOGIES / "reference_pipeline.yaml")
    with httpx.Client(base_url=system.url, timeout=60) as client:
        response = client.post("/jobs", json={"key": "corpus", "payload": ""})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["result"]["words"] == 8 * 4000  # 8 partitions of 4,000 words
        assert len(body["result"]["top"]) == 10
        stored = client.get(f"/results/jobs/{body['id']}").json()
        assert stored["result"] == body["result"]
        event = client.post("/events", json={"key": "k", "payload": "a b"})
        assert event.status_code == 202  # the broker has it


def test_full_component_rejects_with_429(refsys, tmp_path):
    system = refsys(write_model(tmp_path, "reject", SMALL.format(on_full="reject")))
    statuses = post_many(system.url + "/events", 40)
    assert 429 in statuses and 200 in statuses
    metrics = httpx.get(system.url + "/metrics").json()
    assert metrics["components"]["app"]["rejected"] == statuses.count(429)


def test_full_component_blocks(refsys, tmp_path):
    system = refsys(write_model(tmp_path, "block", SMALL.format(on_full="block")))
    assert set(post_many(system.url + "/events", 40)) == {200}



MIXED = """
arrivals: {web: {to: app, rate: 50/s}}
batches: {nightly: {to: app, size: 100, at: 1s}}
nodes: {app: {kind: queue, service: 10ms}}
"""


@pytest.mark.parametrize("command", [["validate", "--duration", "1s"], ["refsys", "serve"]])
def test_batches_are_refused_by_name_before_anything_starts(tmp_path, command):
    """Open traffic beside a batch is refused too: the system could not offer the batch."""
    result = CliRunner().invoke(app, [*command, str(write_model(tmp_path, "mixed", MIXED))])
    assert result.exit_code == 2
    assert "error: batches.nightly: the reference system validates steady open/closed " \
           "traffic only" in result.output
    assert "Traceback" not in result.output
