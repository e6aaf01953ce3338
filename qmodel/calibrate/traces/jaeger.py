"""Jaeger JSON: the query API's and the UI's export, ``{"data": [TRACE, ...]}``.

A trace is ``{"traceID", "spans": [...], "processes": {"p1": {"serviceName", "tags"}}}``;
a span ``{"traceID", "spanID", "operationName", "references": [{"refType": "CHILD_OF",
"traceID", "spanID"}], "startTime" (µs since the epoch), "duration" (µs), "tags": [{"key":
"span.kind", "value": "server"}], "processID"}`` (or an embedded ``"process"``). The parent
is the first ``CHILD_OF`` reference, else the first ``FOLLOWS_FROM`` one; the host is the
process's ``hostname`` (or ``ip``) tag.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .spans import KINDS, Span, fail, ident, integer, items, obj, plain, text, times


def looks_like(doc: Any) -> bool:
    if isinstance(doc, dict):
        return isinstance(doc.get("data"), list) or ("spans" in doc and "traceID" in doc)
    return isinstance(doc, list) and bool(doc) and isinstance(doc[0], dict) \
        and "spans" in doc[0]


def read(doc: Any, where: str) -> Iterator[Span]:
    if isinstance(doc, dict) and "data" in doc:
        traces = items(doc["data"], f"{where}: data")
    elif isinstance(doc, dict) and "spans" in doc:
        traces = [doc]
    elif isinstance(doc, list):
        traces = doc
    else:
        fail(where, "not Jaeger JSON: expected {\"data\": [{\"traceID\", \"spans\", "
                    "\"processes\"}, ...]}")
    for t, trace in enumerate(traces, 1):
        at = f"{where}: trace {t}"
        trace = obj(trace, at)
        processes = obj(trace.get("processes", {}), f"{at}: processes")
        for s, record in enumerate(items(trace.get("spans"), f"{at}: spans"), 1):
            yield _span(record, f"{at}: span {s}", processes)


def _span(record: Any, where: str, processes: dict) -> Span:
    record = obj(record, where)
    trace_id = ident(record, "traceID", where)
    span_id = ident(record, "spanID", where)
    parent = None
    refs = items(record.get("references") or [], f"{where}: references")
    for wanted in ("CHILD_OF", "FOLLOWS_FROM"):
        for r, ref in enumerate(refs):
            ref = obj(ref, f"{where}: references[{r}]")
            if parent is None and ref.get("refType", "CHILD_OF") == wanted:
                parent = ident(ref, "spanID", f"{where}: references[{r}]")
    if parent is None and record.get("parentSpanID"):  # older exports
        parent = ident(record, "parentSpanID", where, required=False)
    start = integer(record, "startTime", where)
    duration = integer(record, "duration", where, high=2**62)
    tags = _tags(record.get("tags") or [], f"{where}: tags")
    kind = str(tags.get("span.kind", "internal")).lower()
    if kind not in KINDS:
        kind = "internal"
    process = record.get("process")
    if process is None:
        pid = text(record, "processID", where)
        if pid not in processes:
            fail(f"{where}: processID", f"no process {pid!r} in the trace's processes")
        process = processes[pid]
    process = obj(process, f"{where}: process")
    service = text(process, "serviceName", f"{where}: process")
    ptags = _tags(process.get("tags") or [], f"{where}: process.tags")
    host = str(ptags.get("hostname") or ptags.get("ip") or service)
    begin, finish = times(start, start + duration, 1e-6, where, ("startTime", "duration"))
    return Span(trace_id, span_id, parent, service, text(record, "operationName", where, ""),
                kind, begin, finish, tags, (), host)


def _tags(values: Any, where: str) -> dict[str, Any]:
    out = {}
    for k, tag in enumerate(items(values, where)):
        tag = obj(tag, f"{where}[{k}]")
        out[text(tag, "key", f"{where}[{k}]")] = plain(tag.get("value"))
    return out
