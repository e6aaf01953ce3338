"""OTLP JSON: what OpenTelemetry's file exporters write.

One ``ExportTraceServiceRequest`` per document (the Collector's file exporter writes one
per line): ``resourceSpans[].resource.attributes`` (``service.name``, ``host.name``) and
``resourceSpans[].scopeSpans[].spans[]`` with hex ``traceId``/``spanId``/``parentSpanId``,
``kind`` as a number (1 internal, 2 server, 3 client, 4 producer, 5 consumer) or a name
(``SPAN_KIND_SERVER``), and ``startTimeUnixNano``/``endTimeUnixNano`` as decimal strings or
numbers (the OTLP/JSON encoding, https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).
The older ``instrumentationLibrarySpans`` is read as ``scopeSpans``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .spans import Span, fail, ident, integer, items, obj, plain, text, times

_KINDS = {0: "internal", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_NAMES = {f"SPAN_KIND_{k.upper()}": k for k in ("internal", "server", "client", "producer",
                                                 "consumer")} | {"SPAN_KIND_UNSPECIFIED":
                                                                  "internal"}


def looks_like(doc: Any) -> bool:
    if isinstance(doc, list) and doc:
        doc = doc[0]
    return isinstance(doc, dict) and "resourceSpans" in doc


def read(doc: Any, where: str) -> Iterator[Span]:
    """The spans of one document: a request object or a list of them."""
    requests = doc if isinstance(doc, list) else [doc]
    for r, request in enumerate(requests):
        at = where if not isinstance(doc, list) else f"{where}: request {r + 1}"
        request = obj(request, at)
        for i, rs in enumerate(items(request.get("resourceSpans", []), f"{at}: resourceSpans")):
            rs = obj(rs, f"{at}: resourceSpans[{i}]")
            resource = obj(rs.get("resource", {}), f"{at}: resourceSpans[{i}].resource")
            attrs = attributes(resource.get("attributes", []),
                               f"{at}: resourceSpans[{i}].resource.attributes")
            service = str(attrs.get("service.name") or "unknown_service")
            host = str(attrs.get("host.name") or service)
            scopes = rs.get("scopeSpans", rs.get("instrumentationLibrarySpans", []))
            n = 0
            for j, scope in enumerate(items(scopes, f"{at}: resourceSpans[{i}].scopeSpans")):
                scope = obj(scope, f"{at}: resourceSpans[{i}].scopeSpans[{j}]")
                for record in items(scope.get("spans", []),
                                    f"{at}: resourceSpans[{i}].scopeSpans[{j}].spans"):
                    n += 1
                    yield _span(record, f"{at}: span {n}" if len(requests) == 1 and i == 0
                                else f"{at}: resourceSpans[{i}] span {n}", service, host)


def _span(record: Any, where: str, service: str, host: str) -> Span:
    record = obj(record, where)
    trace_id = ident(record, "traceId", where)
    span_id = ident(record, "spanId", where)
    parent = ident(record, "parentSpanId", where, required=False)
    start = integer(record, "startTimeUnixNano", where, strings=True)
    end = integer(record, "endTimeUnixNano", where, strings=True)
    kind = record.get("kind", 1)
    if isinstance(kind, str) and kind in _NAMES:
        kind = _NAMES[kind]
    elif isinstance(kind, int) and not isinstance(kind, bool) and kind in _KINDS:
        kind = _KINDS[kind]
    else:
        fail(f"{where}: kind", f"expected 0..5 or SPAN_KIND_SERVER etc., got {kind!r:.40}")
    links = []
    for k, link in enumerate(items(record.get("links", []), f"{where}: links")):
        link = obj(link, f"{where}: links[{k}]")
        links.append((ident(link, "traceId", f"{where}: links[{k}]"),
                      ident(link, "spanId", f"{where}: links[{k}]")))
    begin, finish = times(start, end, 1e-9, where, ("startTimeUnixNano", "endTimeUnixNano"))
    return Span(trace_id, span_id, parent, service, text(record, "name", where, ""), kind,
                begin, finish, attributes(record.get("attributes", []), f"{where}: attributes"),
                tuple(links), host)


def attributes(values: Any, where: str) -> dict[str, Any]:
    """``[{key, value: AnyValue}]`` as a plain dict."""
    out = {}
    for k, kv in enumerate(items(values, where)):
        kv = obj(kv, f"{where}[{k}]")
        out[text(kv, "key", f"{where}[{k}]")] = any_value(kv.get("value"))
    return out


def any_value(value: Any, depth: int = 0) -> Any:
    """An OTLP ``AnyValue`` (``{"stringValue": ...}``, ``{"intValue": "3"}``, arrays,
    key-value lists) as plain Python; nesting beyond a few levels is cut."""
    if not isinstance(value, Mapping) or depth > 8:
        return plain(value)
    if "arrayValue" in value:
        inner = value["arrayValue"] if isinstance(value["arrayValue"], Mapping) else {}
        vals = inner.get("values", [])
        return [any_value(v, depth + 1) for v in vals[:100]] if isinstance(vals, list) else []
    if "kvlistValue" in value:
        inner = value["kvlistValue"] if isinstance(value["kvlistValue"], Mapping) else {}
        vals = inner.get("values", [])
        return {str(kv.get("key")): any_value(kv.get("value"), depth + 1)
                for kv in vals[:100] if isinstance(kv, Mapping)} if isinstance(vals, list) else {}
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if key in value:
            return plain(value[key])
    if "intValue" in value:
        v = value["intValue"]
        return int(v) if isinstance(v, str) and v.lstrip("-").isdigit() and len(v) < 21 \
            else plain(v)
    return None
