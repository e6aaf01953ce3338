"""OpenTelemetry spans of the reference system: OTLP JSON lines that a trace reader can
build the model from (visit = service, hand-off → wait, routing from span counts)."""

from __future__ import annotations

import base64
import collections
import concurrent.futures as cf
import json
import math
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.refsys.otel import merge
from loadtest.refsys.trace import TraceReader
from loadtest.validate import validate

from .conftest import TOPOLOGIES

SERVER, PRODUCER, CONSUMER = 2, 4, 5
CLIENT_PARENT = "b7ad6b7169203331"
CLIENT_TRACEPARENT = f"00-0af7651916cd43dd8448eb211c80319c-{CLIENT_PARENT}-01"


def post_poisson(url: str, rate: float, n: int, seed: int = 0) -> list[int]:
    """``n`` requests at Poisson times (``rate`` per second); the first carries a
    client's ``traceparent``. Returns the status codes."""
    gaps = np.random.default_rng(seed).exponential(1 / rate, n)
    with httpx.Client(timeout=30) as client, cf.ThreadPoolExecutor(32) as pool:
        futures, due = [], time.monotonic()
        for i, gap in enumerate(gaps):
            due += gap
            time.sleep(max(0.0, due - time.monotonic()))
            headers = {"traceparent": CLIENT_TRACEPARENT} if i == 0 else {}
            futures.append(pool.submit(client.post, url, headers=headers,
                                       json={"key": f"k{i}", "payload": "a b c"}))
        return [f.result().status_code for f in futures]


def settle(url: str, timeout_s: float = 30.0) -> None:
    """Wait until nothing is in flight or in a broker."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc = httpx.get(url + "/results/summary", timeout=30).json()
        if doc["in_flight"] == 0 and not any(doc["backlog"].values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"still busy after {timeout_s} s: {doc}")


def _base64_ids(span: dict) -> dict:
    span = dict(span)
    for key in ("traceId", "spanId", "parentSpanId"):
        if span.get(key):
            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return span


def read_spans(path: Path) -> list[dict]:
    """Every span of an OTLP JSON lines file, each with its ``service`` and a flat
    ``attrs`` dict; checks each line's shape on the way."""
    spans = []
    for line in path.read_text().splitlines():
        # the line, ids as protobuf's JSON has bytes, is an ExportTraceServiceRequest
        doc = json.loads(line)
        for resource_spans in doc["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                scope_spans["spans"] = [_base64_ids(s) for s in scope_spans["spans"]]
        ParseDict(doc, ExportTraceServiceRequest())
        doc = json.loads(line)
        assert set(doc) == {"resourceSpans"}
        for resource_spans in doc["resourceSpans"]:
            resource = {a["key"]: a["value"]["stringValue"]
                        for a in resource_spans["resource"]["attributes"]}
            for scope_spans in resource_spans["scopeSpans"]:
                assert scope_spans["scope"]["name"] == "qmodel.refsys"
                for span in scope_spans["spans"]:
                    assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"]), span
                    assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"]), span
                    assert re.fullmatch(r"[0-9a-f]{16}", span.get("parentSpanId", "0" * 16))
                    assert span["startTimeUnixNano"].isdigit()
                    assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"])
                    assert span["kind"] in (SERVER, PRODUCER, CONSUMER)
                    span["service"] = resource["service.name"]
                    span["attrs"] = {a["key"]: next(iter(a["value"].values()))
                                     for a in span.get("attributes", [])}
                    spans.append(span)
    return spans


def seconds(span: dict, key: str) -> float:
    return int(span[key]) / 1e9


def check_visits(spans: list[dict], run_dir: Path) -> dict[str, list[float]]:
    """Each visit span against its trace row (duration = service, start = start, draw =
    target) and its hand-off parent (its end to the visit's start = the row's wait);
    returns per component the queue waits from the spans."""
    rows = TraceReader(run_dir / "trace").frame()
    rows = rows[rows.kind == "S"].set_index(["id", "station"])
    by_id = {s["spanId"]: s for s in spans}
    visits = [s for s in spans if s["attrs"]["qmodel.span"] == "visit"]
    assert len(visits) == len(rows)
    waits = collections.defaultdict(list)
    for span in visits:
        a = span["attrs"]
        assert span["service"] == a["qmodel.component"]
        row = rows.loc[(a["qmodel.item_id"], a["qmodel.station"])]
        start, end = seconds(span, "startTimeUnixNano"), seconds(span, "endTimeUnixNano")
        assert end - start == pytest.approx(row.service, abs=1e-5)
        assert start == pytest.approx(row.start, abs=1e-5)
        assert a["qmodel.target_service_s"] == pytest.approx(row.target, abs=1e-6)
        handoff = by_id[span["parentSpanId"]]
        assert handoff["traceId"] == span["traceId"]
        assert handoff["attrs"]["qmodel.span"] == "handoff"
        wait = start - seconds(handoff, "endTimeUnixNano")
        assert wait == pytest.approx(row.start - row.enqueue, abs=1e-5)  # ends at enqueue
        waits[a["qmodel.component"]].append(wait)
    return waits


def traces(spans: list[dict]) -> dict[str, list[dict]]:
    out = collections.defaultdict(list)
    for span in spans:
        out[span["traceId"]].append(span)
    return out


def check_tree(spans: list[dict]) -> None:
    """One request span per trace, the root (or a client's child); every other parent in
    the file, in the same trace."""
    by_id = {s["spanId"]: s for s in spans}
    for trace_id, trace in traces(spans).items():
        requests = [s for s in trace if s["attrs"]["qmodel.span"] == "request"]
        assert len(requests) == 1, trace_id
        root = requests[0]
        assert root["kind"] == SERVER and root["service"] == "refsys"
        assert root.get("parentSpanId") in (None, CLIENT_PARENT)
        for span in trace:
            if span is not root:
                parent = by_id[span["parentSpanId"]]
                assert parent["traceId"] == trace_id
            if span["attrs"]["qmodel.span"] == "handoff" and span["service"] != "refsys":
                # a component hands on from inside its visit: the visit is the parent
                assert parent["attrs"]["qmodel.span"] == "visit", span
                assert parent["service"] == span["service"]


def visits_per_trace(spans: list[dict]) -> list[collections.Counter]:
    return [collections.Counter(s["service"] for s in trace
                                if s["attrs"]["qmodel.span"] == "visit")
            for trace in traces(spans).values()]


def within_binomial(k: int, n: int, p: float, z: float = 4.0) -> bool:
    return abs(k - n * p) <= z * math.sqrt(n * p * (1 - p))


@pytest.mark.loadtest
def test_web_service_spans(refsys, tmp_path):
    out = tmp_path / "spans.jsonl"
    system = refsys(TOPOLOGIES / "web_service.yaml", otel_traces=out)
    statuses = post_poisson(system.url + "/events", 100, 300)
    assert set(statuses) == {200}
    system.stop()
    spans = read_spans(out)
    check_tree(spans)
    waits = check_visits(spans, system.run_dir)
    assert set(waits) == {"gateway", "app", "db"}
    counts = visits_per_trace(spans)
    assert len(counts) == 300
    assert all(c["gateway"] == 1 and c["app"] == 1 and c["db"] <= 1 for c in counts)
    assert within_binomial(sum(c["db"] for c in counts), 300, 0.8)
    client = [s for s in spans if s.get("parentSpanId") == CLIENT_PARENT]
    assert len(client) == 1 and client[0]["traceId"] == CLIENT_TRACEPARENT[3:35]
    assert client[0]["name"] == "POST /events"
    assert client[0]["attrs"]["http.response.status_code"] == "200"  # int64: a string
    # every hand-off is the sender's PRODUCER span (in-process queues here), every
    # visit a CONSUMER span: each hop is asynchronous
    handoffs = [s for s in spans if s["attrs"]["qmodel.span"] == "handoff"]
    assert {s["kind"] for s in handoffs} == {PRODUCER}
    assert {s["attrs"]["messaging.system"] for s in handoffs} == {"in-process"}
    assert {s["service"] for s in handoffs} == {"refsys", "gateway", "app"}
    assert {s["kind"] for s in spans if s["attrs"]["qmodel.span"] == "visit"} == {CONSUMER}


@pytest.mark.loadtest
def test_stream_spans_through_redis(refsys, tmp_path):
    out = tmp_path / "spans.jsonl"
    system = refsys(TOPOLOGIES / "reference_pipeline.yaml", backend="redis",
                    otel_traces=out)
    statuses = post_poisson(system.url + "/events", 50, 100, seed=1)
    assert set(statuses) == {202}
    settle(system.url)
    system.stop()
    assert len(list((system.run_dir / "otel").glob("worker-*.jsonl"))) == 3
    spans = read_spans(out)
    check_tree(spans)
    check_visits(spans, system.run_dir)
    by_id = {s["spanId"]: s for s in spans}
    consumed = [s for s in spans if s["kind"] == CONSUMER]
    assert {s["service"] for s in consumed} == {"ingest", "topic", "window"}
    for span in consumed:  # each the child of the producer that wrote its message
        producer = by_id[span["parentSpanId"]]
        assert producer["kind"] == PRODUCER and producer["traceId"] == span["traceId"]
        expected = {"ingest": ("refsys", "enqueue ingest"), "topic": ("ingest", "publish topic"),
                    "window": ("topic", "send in-window")}
        assert (producer["service"], producer["name"]) == expected[span["service"]]
    counts = visits_per_trace(spans)
    assert len(counts) == 100
    assert all(c == {"ingest": 1, "topic": 1, "window": 1} for c in counts)


@pytest.mark.loadtest
def test_no_spans_when_off(refsys):
    system = refsys(TOPOLOGIES / "web_service.yaml")
    assert httpx.post(system.url + "/events", json={"key": "k", "payload": "a"}).status_code \
        == 200
    system.stop()
    assert system.otel_dir is None
    assert not (system.run_dir / "otel").exists()
    assert not list(system.run_dir.rglob("*.jsonl"))


def test_validate_refuses_spans_of_a_system_it_does_not_start(tmp_path):
    with pytest.raises(ValueError, match="otel_traces"):
        validate(TOPOLOGIES / "web_service.yaml", [0.5], "1s", url="http://127.0.0.1:9",
                 otel_traces=tmp_path / "spans.jsonl", out=None)
    result = CliRunner().invoke(app, ["validate", str(TOPOLOGIES / "web_service.yaml"),
                                      "--url", "http://127.0.0.1:9", "--otel-traces",
                                      str(tmp_path / "spans.jsonl")])
    assert result.exit_code == 2 and "otel_traces" in result.output


def test_merge_keeps_complete_lines_only(tmp_path):
    directory = tmp_path / "otel"
    directory.mkdir()
    record = [0x1234, 0x56, 0x78, True, "serve app", 4, 10**18, 10**18 + 2_000_000,
              {"qmodel.span": "visit"}, "app", "worker-1", 0, None]  # kind: the API enum
    line = json.dumps(record) + "\n"
    (directory / "gateway-1.jsonl").write_text(line)
    (directory / "worker-a-2.jsonl").write_text(line + line[:20])  # kill -9 cut the last
    out = tmp_path / "out" / "spans.jsonl"
    assert merge(directory, out) == 2
    spans = read_spans(out)
    assert len(spans) == 2
    span = spans[0]
    assert span["traceId"] == f"{0x1234:032x}" and span["spanId"] == f"{0x56:016x}"
    assert span["parentSpanId"] == f"{0x78:016x}" and span["kind"] == CONSUMER
    assert span["service"] == "app" and span["attrs"]["qmodel.span"] == "visit"
    assert seconds(span, "endTimeUnixNano") - seconds(span, "startTimeUnixNano") == \
        pytest.approx(0.002, abs=1e-6)  # float seconds of 1e18 ns
