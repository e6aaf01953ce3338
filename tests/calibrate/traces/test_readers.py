"""The readers on hand-made files of each documented format, broken ones, and hostile
input (bounded: an error, never a traceback or a hang)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from qmodel.calibrate import from_traces
from qmodel.calibrate.traces import read_spans
from qmodel.errors import ModelError

DATA = Path(__file__).parents[1] / "data"
T0 = 1_765_000_000


def _error(path, **kw) -> str:
    with pytest.raises(ModelError) as info:
        from_traces(path, **kw)
    return str(info.value)


def test_jaeger_spans():
    spans, formats = read_spans(DATA / "jaeger_shop.json")
    assert formats == ["jaeger"] and len(spans) == 18
    client = next(s for s in spans if s.name == "cart.get")
    assert client.kind == "client" and client.service == "frontend" and client.host == "web-1"
    assert client.parent_id.endswith("a1") and client.duration == pytest.approx(0.014, rel=1e-4)


def test_jaeger_calibration_exclusive_times():
    cal = from_traces(DATA / "jaeger_shop.json")
    # frontend: its span minus the client call (15, 16, 17 ms), cart: 10 or 12 ms
    assert cal.estimate("nodes.frontend.service.mean").value == pytest.approx(0.016, rel=1e-4)
    assert cal.estimate("nodes.cart.service.mean").value == pytest.approx(0.011, rel=1e-4)
    assert cal.model.spec.nodes["frontend"].next == {"cart": 1.0}
    assert cal.model.to_dict()["arrivals"]["GET_cart"]["to"] == "frontend"


def test_jaeger_clock_skew_is_corrected_and_reported():
    cal = from_traces(DATA / "jaeger_skew.json")
    assert any("cart-1's clock runs 50 ms ahead of web-1's" in w for w in cal.warnings)
    assert cal.data["skew"][0]["offset_s"] == pytest.approx(0.050, rel=1e-4)
    assert cal.estimate("nodes.cart.service.mean").value == pytest.approx(0.011, rel=1e-4)
    assert cal.estimate("nodes.frontend.service.mean").value == pytest.approx(0.016, rel=1e-4)


def test_zipkin_shared_spans_and_unfinished_spans():
    cal = from_traces(DATA / "zipkin_shop.json")
    assert [n for n in cal.model.spec.nodes] == ["gateway", "orders", "db"]
    assert cal.estimate("nodes.gateway.service.mean").value == pytest.approx(0.010, rel=1e-4)
    assert cal.estimate("nodes.orders.service.mean").value == pytest.approx(0.019, rel=1e-4)
    assert cal.estimate("nodes.db.service.mean").value == pytest.approx(0.007, rel=1e-4)
    assert cal.estimate("nodes.db.service.mean").fit["dist"] == "deterministic"
    assert any("1 span(s) without timestamp or duration" in w for w in cal.warnings)


def test_zipkin_missing_parent_is_reported_and_handled():
    cal = from_traces(DATA / "zipkin_orphan.json")
    assert cal.data["traces_missing_spans"] == 1 and cal.data["complete_jobs"] == 5
    assert any("1 trace(s) lost spans" in w for w in cal.warnings)
    assert cal.estimate("nodes.orders.next.db").n == 5


def test_zipkin_cycle_in_parent_ids_is_reported_and_skipped():
    cal = from_traces(DATA / "zipkin_cycle.json")
    assert any("parent ids form a cycle" in w for w in cal.warnings)
    assert cal.data["jobs"] == 6


@pytest.mark.parametrize("name, message", [
    ("jaeger_truncated.json", "jaeger_truncated.json: not valid JSON at line 295"),
    ("jaeger_missing_field.json", "jaeger_missing_field.json: trace 1: span 2: startTime: "
                                  "missing"),
    ("zipkin_wrong_type.json", "zipkin_wrong_type.json: span 3: timestamp: not an integer, "
                               "got 'soon'"),
])
def test_broken_files_name_the_record(name, message):
    assert message in _error(DATA / name)


def test_otlp_json_lines_name_the_line_and_span(tmp_path):
    def span(i, start="1000"):
        return {"traceId": "ab" * 16, "spanId": f"{i:016x}", "name": "x", "kind": 2,
                "startTimeUnixNano": start, "endTimeUnixNano": "2000"}
    line = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeSpans": [{"spans": [span(1), span(2, "x")]}]}]}
    good = {"resourceSpans": [{"scopeSpans": [{"spans": [span(3)]}]}]}
    path = tmp_path / "spans.json"
    path.write_text("\n".join(json.dumps(d) for d in (good, good, line)) + "\n")
    assert "spans.json line 3: span 2: startTimeUnixNano: not an integer, got 'x'" \
        in _error(path)
    line["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["startTimeUnixNano"] = "3000"
    path.write_text(json.dumps(line))
    assert "span 2: endTimeUnixNano: ends before it starts" in _error(path)


def test_format_auto_detection_and_forced_format(tmp_path):
    assert "cannot tell the format" in _error(_write(tmp_path, {"hello": 1}))
    assert "data: missing" not in _error(DATA / "zipkin_shop.json", format="jaeger")
    with pytest.raises(ModelError, match="--format: must be one of otlp, jaeger, zipkin"):
        from_traces(DATA / "zipkin_shop.json", format="xml")


def test_directory_of_files(tmp_path):
    for name in ("jaeger_shop.json", "zipkin_shop.json"):
        (tmp_path / name).write_bytes((DATA / name).read_bytes())
    spans, formats = read_spans(tmp_path)
    assert formats == ["jaeger", "zipkin"] and len(spans) == 18 + 30


@pytest.mark.parametrize("content, message", [
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (b'[{"traceId": "a", "id": "b", "timestamp": NaN, "duration": 1}]', "NaN is not a number"),
    (b'[{"traceId": "a", "id": "b", "timestamp": 1' + b"0" * 5000 + b', "duration": 1}]',
     "out of range"),
    (b'[{"traceId": "a", "id": "b", "timestamp": 1e400, "duration": 1}]', "out of range"),
    (b'[{"traceId": "a", "id": "b", "timestamp": 18446744073709551616, "duration": 1}]',
     "timestamp: out of range"),
    (b'[{"traceId": "\xff\xfe", "id": "b"}]', "not UTF-8"),
    (b"", "empty file"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": {"a": 1}}]}]}]}',
     "traceId: expected an id string"),
])
def test_hostile_input_is_an_error_in_bounded_time(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    began = time.perf_counter()
    assert message in _error(path)
    assert time.perf_counter() - began < 5


def test_a_100_mb_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(100 * 2**20)  # sparse: no disk used
    began = time.perf_counter()
    assert "100.0 MB is over the limit of 64 MB" in _error(path)
    assert time.perf_counter() - began < 1


def _write(tmp_path: Path, doc) -> Path:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    return path


def test_deep_attribute_values_are_cut_and_deep_traces_do_not_recurse(tmp_path):
    value: dict = {"stringValue": "leaf"}
    for _ in range(150):  # 450 levels of JSON nesting
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    spans = [{"traceId": "ab" * 16, "spanId": f"{i + 1:016x}",
              "parentSpanId": f"{i:016x}" if i else "", "name": "op", "kind": 2,
              "startTimeUnixNano": str(T0 * 10**9 + i * 1000),
              "endTimeUnixNano": str(T0 * 10**9 + 10**9 - i * 1000),
              "attributes": [{"key": "deep", "value": value}] if i == 0 else []}
             for i in range(5000)]  # one trace, a chain 5,000 calls deep (> recursion limit)
    spans.append({**spans[0], "traceId": "cd" * 16,  # and a second trace, a second later
                  "startTimeUnixNano": str((T0 + 1) * 10**9),
                  "endTimeUnixNano": str((T0 + 2) * 10**9)})
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
    began = time.perf_counter()
    cal = from_traces(path)
    assert time.perf_counter() - began < 20
    assert cal.data["spans"] == 5001 and cal.data["jobs"] == 2
    read, _ = read_spans(path)
    assert "..." in json.dumps(read[0].attributes)


def test_otlp_single_document_and_array_of_documents(tmp_path):
    def request(service, spans):
        return {"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]}

    def span(trace, sid, parent, kind, start_ms, end_ms):
        ns = T0 * 10**9
        return {"traceId": trace * 16, "spanId": sid * 8, "parentSpanId": parent * 8,
                "name": "GET /", "kind": kind, "startTimeUnixNano": ns + start_ms * 10**6,
                "endTimeUnixNano": str(ns + end_ms * 10**6)}

    api = request("api", [span("a1", "01", "", "SPAN_KIND_SERVER", 0, 30),
                          span("a1", "02", "01", "SPAN_KIND_CLIENT", 10, 25),
                          span("b2", "03", "", 2, 100, 120)])
    db = request("db", [span("a1", "04", "02", "SPAN_KIND_SERVER", 12, 22)])
    for doc in ([api, db], {"resourceSpans": api["resourceSpans"] + db["resourceSpans"]}):
        path = _write(tmp_path, doc)
        cal = from_traces(path)
        assert cal.data["spans"] == 4 and cal.data["jobs"] == 2
        assert cal.estimate("nodes.api.service.mean").value == pytest.approx(0.0175, rel=1e-4)
        assert cal.estimate("nodes.api.next.db").value == 0.5


def test_a_trace_without_its_root_gives_no_arrival(tmp_path):
    traces = json.loads((DATA / "zipkin_shop.json").read_text())
    traces[0] = [s for s in traces[0] if "parentId" in s]  # the gateway's root span lost
    path = _write(tmp_path, traces)
    cal = from_traces(path)
    assert cal.data["jobs"] == 5 and cal.data["traces_without_root"] == 1
    assert any("1 have no root" in w for w in cal.warnings)
    assert cal.estimate("arrivals.post_checkout.rate").n == 5


def test_a_shared_server_span_without_its_client_keeps_its_parent(tmp_path):
    traces = json.loads((DATA / "zipkin_shop.json").read_text())
    traces = [[s for s in t if s.get("kind") != "CLIENT" or s["name"] != "post"] for t in traces]
    cal = from_traces(_write(tmp_path, traces))
    assert cal.data["complete_jobs"] == 6  # orders still under the gateway's span
    assert cal.estimate("nodes.gateway.next.orders").value == 1.0
