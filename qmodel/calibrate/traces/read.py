"""Reading span files of any of the three formats into :class:`~.spans.Span` records."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ...errors import ModelError, Problem
from . import jaeger, otlp, zipkin
from .spans import MAX_BYTES, MAX_SPANS, Span, documents, fail

FORMATS = ("otlp", "jaeger", "zipkin")
_SUFFIXES = (".json", ".jsonl", ".ndjson")


def files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """The span files named: files as given, directories by their ``*.json``,
    ``*.jsonl`` and ``*.ndjson`` files (sorted)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in _SUFFIXES and f.is_file())
            if not found:
                fail(str(p), "no .json, .jsonl or .ndjson files in this directory")
            out += found
        elif not p.exists():
            fail(str(p), "no such file")
        else:
            out.append(p)
    if not out:
        raise ModelError([Problem("traces", "no span files given")])
    return out


def detect(doc: object, where: str) -> str:
    """The format of one parsed document, from its shape."""
    for name, module in (("otlp", otlp), ("jaeger", jaeger), ("zipkin", zipkin)):
        if module.looks_like(doc):
            return name
    fail(where, "cannot tell the format: expected OTLP JSON ({\"resourceSpans\": ...}), "
                "Jaeger JSON ({\"data\": [{\"traceID\", \"spans\", ...}]}) or Zipkin v2 JSON "
                "(a list of spans with traceId and id); or give --format")


def read_spans(paths: str | Path | Iterable[str | Path], format: str | None = None,
               notes: list[str] | None = None, max_bytes: int = MAX_BYTES,
               max_spans: int = MAX_SPANS) -> tuple[list[Span], list[str]]:
    """Every span in ``paths`` and the formats read. A span id seen twice in a trace keeps
    its first record (the repeat is counted in ``notes``)."""
    if format is not None and format not in FORMATS:
        raise ModelError([Problem("--format", f"must be one of {', '.join(FORMATS)}, "
                                              f"got {format!r}")])
    notes = notes if notes is not None else []
    spans: list[Span] = []
    seen: set[tuple[str, str]] = set()
    used: list[str] = []
    repeats = 0
    for path in files(paths):
        for where, doc in documents(path, max_bytes):
            name = format or detect(doc, where)
            if name not in used:
                used.append(name)
            reader = zipkin.read(doc, where, notes) if name == "zipkin" else \
                (otlp if name == "otlp" else jaeger).read(doc, where)
            for span in reader:
                key = (span.trace_id, span.span_id)
                if key in seen:
                    repeats += 1
                    continue
                seen.add(key)
                spans.append(span)
                if len(spans) > max_spans:
                    fail(where, f"more than {max_spans:,} spans; calibrate from a sample "
                                "(fewer files) or raise max_spans")
    if repeats:
        notes.append(f"{repeats} span(s) repeated an id already read in the same trace; "
                     "the first record of each was kept")
    if not spans:
        fail(", ".join(str(p) for p in files(paths)), "no spans found")
    return spans, used
