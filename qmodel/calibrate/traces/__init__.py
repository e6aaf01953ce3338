"""Calibrating a model from distributed traces (OTLP, Jaeger or Zipkin JSON).

:func:`from_traces` reads spans (:mod:`.read`, one module per format), builds jobs and
visits from the trace trees (:mod:`.graph`: exclusive times, clock skew, classes,
routes) and estimates every parameter with its 95% interval (:mod:`.estimate`). The
result is a :class:`~qmodel.calibrate.result.Calibration`; ``docs/calibration.md`` says
what each estimate assumes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ...errors import ModelError, Problem
from ..result import Calibration
from .estimate import calibrate
from .graph import build
from .read import FORMATS, files, read_spans
from .spans import MAX_BYTES, MAX_SPANS, Span

__all__ = ["FORMATS", "Span", "from_traces", "read_spans"]


def from_traces(paths: str | Path | Iterable[str | Path], format: str | None = None,
                servers: dict[str, int] | None = None, by: str = "service",
                empirical: bool = False, name: str = "calibrated",
                outside: Iterable[str] = (),
                max_bytes: int = MAX_BYTES, max_spans: int = MAX_SPANS) -> Calibration:
    """A model calibrated from the spans in ``paths`` (a file, a directory of ``.json``
    files, or several of either).

    ``format``: ``"otlp"``, ``"jaeger"`` or ``"zipkin"``; None tells each document's
    format from its shape. ``servers``: servers per component, ``{"api": 8}`` (otherwise
    inferred from concurrency). ``by``: ``"service"`` (a component per service) or
    ``"operation"`` (per service and entry operation). ``empirical``: resample the
    observed exclusive times instead of fitting a distribution. ``outside``: services
    that are not components (a front door, a client): their spans give arrivals but no
    service. A malformed file raises
    :class:`~qmodel.errors.ModelError` naming the file and record."""
    if by not in ("service", "operation"):
        raise ModelError([Problem("--by", f"must be service or operation, got {by!r}")])
    for comp, count in (servers or {}).items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ModelError([Problem(f"--servers {comp}",
                                      f"must be a positive integer, got {count!r}")])
    notes: list[str] = []
    spans, formats = read_spans(paths, format, notes, max_bytes, max_spans)
    outside = frozenset(outside)
    missing = sorted(outside - {s.service for s in spans})
    if missing:
        raise ModelError([Problem("--outside", f"no service {', '.join(map(repr, missing))} "
                                               "in the traces")])
    graph = build(spans, by, outside)
    graph.notes[:0] = notes
    names = [str(p) for p in files(paths)]
    shown = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more files"
    source = (f"qmodel calibrate traces {shown} ({'+'.join(formats)}): "
              f"{graph.counts['traces']:,} traces, {graph.counts['spans']:,} spans")
    return calibrate(graph, source, servers, empirical, name)
