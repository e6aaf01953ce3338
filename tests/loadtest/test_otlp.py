"""The OTLP/JSON encoder writes, for real SDK spans, the very document the SDK's protobuf
encoder (``encode_spans``) and protobuf's ``json_format`` write (ids from base64 to hex,
as the OTLP/JSON mapping asks). No load: this file runs with the computed tests."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import StatusCode

from loadtest.refsys.items import Item
from loadtest.refsys.otel import Tracing, merge
from loadtest.refsys.otlp import encode, otlp_json, record


def sdk_document(spans) -> dict:
    """The reference: the SDK's encoder, then json_format; ids to hex."""
    doc = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in doc["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for part in [span, *span.get("links", [])]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if part.get(key):
                            part[key] = base64.b64decode(part[key]).hex()
    return doc


def varied_spans() -> list:
    """Spans of two resources and two scopes: remote and local parents, every kind, an
    error with a message, every attribute type, events and links."""
    exporter = InMemorySpanExporter()
    for service in ("api", "db"):
        provider = TracerProvider(resource=Resource.create({"service.name": service,
                                                            "deployment": "test"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        for scope, version in (("one", None), ("two", "1.2")):
            tracer = provider.get_tracer(scope, version)
            remote = TraceContextTextMapPropagator().extract(
                {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
            with tracer.start_as_current_span("root", context=remote, kind=SpanKind.SERVER,
                                              attributes={"s": "x", "i": 7, "f": 0.25,
                                                          "b": True, "seq": [1, 2]}) as root:
                root.add_event("started", {"n": 1})
                for kind in SpanKind:
                    with tracer.start_as_current_span(f"child {kind.name}", kind=kind,
                                                      links=[Link(root.get_span_context(),
                                                                  {"why": "test"})]):
                        pass
                with tracer.start_as_current_span("failing") as failing:
                    failing.set_status(StatusCode.ERROR, "it broke")
    return exporter.get_finished_spans()


def test_any_sdk_spans_encode_as_the_sdk_would():
    spans = varied_spans()
    assert len(spans) == 2 * 2 * (2 + len(SpanKind))
    assert json.loads(otlp_json(spans)) == sdk_document(spans)


def reference_system_spans(tmp_path: Path) -> list:
    """Spans from the reference system's own :class:`Tracing` (request, hand-off, visit),
    read back as SDK spans through an in-memory exporter beside its file."""
    tracing = Tracing(tmp_path, "gateway-1")
    exporter = InMemorySpanExporter()
    memory = SimpleSpanProcessor(exporter)
    for service in ("refsys", "app"):  # each service's SDK tracer also feeds ours
        tracing.tracer(service).span_processor.add_span_processor(memory)
    now = time.time()
    for i in range(3):
        item = Item(id=f"i{i}", cls="web", key=f"k{i}", payload="a", t0=now)
        headers = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"} \
            if i == 0 else {}
        with tracing.request(headers, "POST", "/events", item, now):
            item.t_enq = time.time()
            with tracing.handoff(item, None, "enqueue app", {"qmodel.to": "app"}):
                pass
            tracing.visit(item, item.headers, "app", "app", now, now + 0.01, 0.009)
    tracing.shutdown()
    return exporter.get_finished_spans()


def test_the_reference_systems_records_encode_as_the_sdk_would(tmp_path):
    spans = reference_system_spans(tmp_path)
    assert len(spans) == 9
    assert json.loads(encode([record(s) for s in spans])) == sdk_document(spans)
    # and the merged file holds the same spans, from the records the process wrote
    merge(tmp_path, tmp_path / "merged" / "spans.json")
    merged = json.loads((tmp_path / "merged" / "spans.json").read_text())
    ids = {s["spanId"] for rs in merged["resourceSpans"] for ss in rs["scopeSpans"]
           for s in ss["spans"]}
    assert ids == {f"{s.context.span_id:016x}" for s in spans}
