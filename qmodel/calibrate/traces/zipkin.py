"""Zipkin v2 JSON: a list of spans (``/api/v2/spans`` input), or a list of traces, each a
list of spans (``/api/v2/traces`` output).

A span is ``{"traceId", "id", "parentId", "name", "kind": "SERVER"|"CLIENT"|"PRODUCER"|
"CONSUMER" (absent: a local span), "timestamp" (µs since the epoch), "duration" (µs),
"localEndpoint": {"serviceName", "ipv4"}, "tags": {...}, "shared"}``. A server span that
shares its id with the client span (``"shared": true``, B3 single-id RPCs) gets its own id
``ID~server`` and the client as its parent (when the client span was reported); spans
naming that id as their parent are moved under it. A span without ``timestamp`` or
``duration`` (not finished when reported) is dropped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from .spans import Span, fail, ident, integer, items, obj, plain, text, times

_KINDS = {"SERVER": "server", "CLIENT": "client", "PRODUCER": "producer",
          "CONSUMER": "consumer"}


def looks_like(doc: Any) -> bool:
    if not isinstance(doc, list):
        return False
    first = doc[0] if doc else None
    if isinstance(first, list):
        first = first[0] if first else None
    return first is None or (isinstance(first, dict) and "traceId" in first and "id" in first)


def read(doc: Any, where: str, notes: list[str] | None = None) -> Iterator[Span]:
    doc = items(doc, where)
    nested = bool(doc) and isinstance(doc[0], list)
    spans: list[Span] = []
    shared: set[tuple[str, str]] = set()
    unfinished = 0
    for t, group in enumerate(doc if nested else [doc], 1):
        for s, record in enumerate(items(group, f"{where}: trace {t}"), 1):
            at = f"{where}: trace {t} span {s}" if nested else f"{where}: span {s}"
            record = obj(record, at)
            if record.get("timestamp") is None or record.get("duration") is None:
                ident(record, "traceId", at)
                unfinished += 1
                continue
            spans.append(_span(record, at))
            if record.get("shared") is True and spans[-1].kind == "server":
                shared.add((spans[-1].trace_id, spans[-1].span_id))
    # a shared server span moves under its client span, when that was reported
    shared &= {(s.trace_id, s.span_id) for s in spans if s.kind == "client"}
    spans = [replace(s, span_id=f"{s.span_id}~server", parent_id=s.span_id)
             if s.kind == "server" and (s.trace_id, s.span_id) in shared else s for s in spans]
    if unfinished and notes is not None:
        notes.append(f"{where}: {unfinished} span(s) without timestamp or duration (not "
                     "finished when reported) were dropped")
    for span in spans:
        if (span.trace_id, span.parent_id) in shared and not span.span_id.endswith("~server"):
            span = replace(span, parent_id=f"{span.parent_id}~server")
        yield span


def _span(record: dict, where: str) -> Span:
    trace_id = ident(record, "traceId", where)
    span_id = ident(record, "id", where)
    parent = ident(record, "parentId", where, required=False)
    start = integer(record, "timestamp", where)
    duration = integer(record, "duration", where, high=2**62)
    kind = record.get("kind")
    if kind is not None and kind not in _KINDS:
        fail(f"{where}: kind", f"expected SERVER, CLIENT, PRODUCER or CONSUMER, got {kind!r:.40}")
    endpoint = obj(record.get("localEndpoint") or {}, f"{where}: localEndpoint")
    service = text(endpoint, "serviceName", f"{where}: localEndpoint", "unknown_service")
    host = str(endpoint.get("ipv4") or endpoint.get("ipv6") or service)
    tags = obj(record.get("tags") or {}, f"{where}: tags")
    begin, finish = times(start, start + duration, 1e-6, where, ("timestamp", "duration"))
    return Span(trace_id, span_id, parent, service, text(record, "name", where, ""),
                _KINDS.get(kind, "internal"), begin, finish,
                {str(k): plain(v) for k, v in list(tags.items())[:200]}, (), host)
