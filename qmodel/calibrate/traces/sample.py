"""A sample trace file from a model: simulate it and write each job's visits as OTLP JSON
lines, as the OpenTelemetry Collector's file exporter writes them — something to calibrate
from without a running system (the dashboard's "Try with a sample", the tests).

Each job's visits become nested synchronous calls: a SERVER span per visit, from its
service start to the end of the job, and a CLIENT span from the end of its own service to
the end of the job, under which the next visit's SERVER span sits. So a visit's exclusive
time is its service time and the calibrated model should be the simulated one.

>>> import tempfile, qmodel
>>> from pathlib import Path
>>> from qmodel.calibrate import from_traces
>>> m = qmodel.Model.from_dict({"time_unit": "ms",
...     "arrivals": {"web": {"to": "api", "rate": "50/s"}},
...     "nodes": {"api": {"kind": "queue", "servers": 2, "service": "10ms", "next": "db"},
...               "db": {"kind": "queue", "servers": 1, "service": "4ms"}}})
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = write_sample(m, Path(tmp) / "spans.jsonl", jobs=400, seed=2)
...     cal = from_traces(path)
>>> list(cal.model.spec.nodes), cal.estimate("nodes.api.next.db").value
(['api', 'db'], 1.0)
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

    from ...model.model import Model

EPOCH_NS = 1_765_000_000 * 10**9  # late 2025


class SampleSpan(NamedTuple):
    """One span of a sample trace: ids as integers (128-bit trace, 64-bit span), kind
    ``"SERVER"`` or ``"CLIENT"``, times in nanoseconds since the epoch."""

    trace_id: int
    span_id: int
    parent_id: int | None
    service: str
    name: str
    kind: str
    start_ns: int
    end_ns: int


def span_records(frame: pd.DataFrame, cutoff: float = 1.0, seed: int = 0) -> list[SampleSpan]:
    """The spans of a per-visit trace (``qmodel.simulate(..., trace=True).trace``: columns
    ``job``, ``node``, ``arrival_s``, ``start_s``, ``end_s``), ids from a seeded generator.

    Jobs that arrived in the last ``cutoff`` seconds are left out: they may still have
    been in the system when the run stopped, and a tracer exports a span only when it ends.
    """
    rng = random.Random(seed)
    first = frame.groupby("job")["arrival_s"].transform("min")
    rows = frame[first < frame["end_s"].max() - cutoff].sort_values(["job", "arrival_s"])
    jobs: dict[int, list[tuple[str, float, float]]] = {}
    for job, node, start, end in zip(rows["job"], rows["node"], rows["start_s"], rows["end_s"],
                                     strict=True):
        jobs.setdefault(job, []).append((str(node), float(start), float(end)))
    out = []
    for visits in jobs.values():
        end = _ns(max(v[2] for v in visits))
        trace_id = rng.getrandbits(128)
        parent = None
        for i, (node, start_s, end_s) in enumerate(visits):
            server = rng.getrandbits(64)
            out.append(SampleSpan(trace_id, server, parent, node,
                                  "GET /" if i == 0 else f"call {node}", "SERVER",
                                  _ns(start_s), end))
            if i < len(visits) - 1:
                client = rng.getrandbits(64)
                out.append(SampleSpan(trace_id, client, server, node,
                                      f"call {visits[i + 1][0]}", "CLIENT", _ns(end_s), end))
                parent = client
    return out


def otlp_requests(spans: list[SampleSpan], per_request: int = 2000) -> Iterator[dict]:
    """``ExportTraceServiceRequest`` documents in OTLP/JSON (hex ids, int64 as strings,
    kinds by name), one resource per service, at most ``per_request`` spans each."""
    for i in range(0, len(spans), per_request):
        by_service: dict[str, list[dict]] = {}
        for s in spans[i:i + per_request]:
            span = {"traceId": f"{s.trace_id:032x}", "spanId": f"{s.span_id:016x}",
                    "name": s.name, "kind": f"SPAN_KIND_{s.kind}",
                    "startTimeUnixNano": str(s.start_ns), "endTimeUnixNano": str(s.end_ns)}
            if s.parent_id is not None:
                span["parentSpanId"] = f"{s.parent_id:016x}"
            by_service.setdefault(s.service, []).append(span)
        yield {"resourceSpans": [
            {"resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": service}},
                {"key": "host.name", "value": {"stringValue": f"{service}-host"}}]},
             "scopeSpans": [{"scope": {"name": "qmodel.sample"}, "spans": group}]}
            for service, group in by_service.items()]}


def write_sample(model: Model, path: str | Path, jobs: int = 1500, seed: int = 1) -> Path:
    """Simulate ``model`` for ``jobs`` jobs (one replication, no warm-up) and write their
    spans to ``path`` as OTLP JSON lines. Each station is a service (shards ``db-0``,
    ``db-1``, ... are services of their own)."""
    from ...sim import simulate

    run = simulate(model, replications=1, customers=jobs, seed=seed, trace=True, warmup=0)
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for request in otlp_requests(span_records(run.trace, seed=seed)):
            f.write(json.dumps(request, separators=(",", ":")) + "\n")
    return path


def _ns(seconds: float) -> int:
    return EPOCH_NS + int(round(seconds * 1e9))
