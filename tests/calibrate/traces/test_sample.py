"""The sample trace writer (:mod:`qmodel.calibrate.traces.sample`, the dashboard's "Try
with a sample") writes what the OpenTelemetry SDK's OTLP encoder writes for the same spans."""

from __future__ import annotations

import json

import qmodel
from qmodel.calibrate import from_traces
from qmodel.calibrate.traces import read_spans
from qmodel.calibrate.traces.sample import otlp_requests, span_records, write_sample
from tests.calibrate.spanmaker import spans_from_visits, write_otlp_lines

WEB = "topologies/web_service.yaml"


def test_the_sample_reads_as_the_sdk_encoding_of_the_same_spans(tmp_path):
    run = qmodel.simulate(qmodel.load(WEB), replications=1, customers=600, seed=4, trace=True,
                          warmup=0)
    ours = tmp_path / "ours.jsonl"
    ours.write_text("".join(json.dumps(r) + "\n"
                            for r in otlp_requests(span_records(run.trace, seed=4), 500)))
    sdk = write_otlp_lines(spans_from_visits(run.trace, seed=4), tmp_path / "sdk.jsonl", 500)
    a, _ = read_spans(ours, None, [])
    b, _ = read_spans(sdk, None, [])
    key = lambda s: (s.trace_id, s.span_id)  # noqa: E731
    assert [(s.trace_id, s.span_id, s.parent_id, s.service, s.name, s.kind, s.start, s.end,
             s.host) for s in sorted(a, key=key)] == \
        [(s.trace_id, s.span_id, s.parent_id, s.service, s.name, s.kind, s.start, s.end,
          s.host) for s in sorted(b, key=key)]


def test_write_sample_calibrates_back_to_the_topology(tmp_path):
    path = write_sample(qmodel.load(WEB), tmp_path / "s.jsonl", jobs=800, seed=1)
    cal = from_traces(path)
    assert set(cal.model.spec.nodes) == {"gateway", "app", "db-0", "db-1", "db-2", "db-3"}
    assert cal.estimate("nodes.gateway.next.app").value == 1.0
