"""A plain CSV of requests: ``send_time,latency,status`` (one row per request).

Columns (by name, any order; others are ignored):
- ``send_time`` (seconds; ``send_time_s`` too) or ``send_time_ms``: when the request was
  sent, any origin (epoch or run-relative);
- ``latency`` or ``latency_s`` (seconds) or ``latency_ms``: send to response;
- ``status`` (optional): HTTP status; outside 200-399 the request counts for the rate
  but not for latency;
- ``class`` or ``name`` (optional): the request's class, for a per-class comparison.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .common import Accumulator, Measurement, fail, lines, number

TIME_COLUMNS = {"send_time": 1.0, "send_time_s": 1.0, "send_time_ms": 1e-3}
LATENCY_COLUMNS = {"latency": 1.0, "latency_s": 1.0, "latency_ms": 1e-3}


def looks_like(first_line: str) -> bool:
    names = {c.strip().lower() for c in first_line.split(",")}
    return bool(names & set(TIME_COLUMNS)) or bool(names & set(LATENCY_COLUMNS))


def read(path: Path, window_s: float | None) -> Measurement:
    acc = Accumulator(path, window_s)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = lines(path, f)
        n, head = next(rows, (1, ""))
        names = [c.strip().lower() for c in next(csv.reader([head]), [])]
        t_col = next((c for c in names if c in TIME_COLUMNS), None)
        l_col = next((c for c in names if c in LATENCY_COLUMNS), None)
        if t_col is None or l_col is None:
            raise fail(path, 1, "the header must name send_time (or send_time_ms) and "
                       f"latency (latency_s, latency_ms); got {head[:80]!r}")
        ti, li = names.index(t_col), names.index(l_col)
        si = names.index("status") if "status" in names else None
        ci = next((names.index(c) for c in ("class", "name") if c in names), None)
        t_scale, l_scale = TIME_COLUMNS[t_col], LATENCY_COLUMNS[l_col]
        width = len(names)
        for n, line in rows:
            if not line.strip():
                continue
            row = next(csv.reader([line]))
            if len(row) != width:
                raise fail(path, n, f"expected {width} fields, got {len(row)}")
            t = number(path, n, t_col, row[ti], allow_negative=True) * t_scale
            latency = number(path, n, l_col, row[li]) * l_scale
            ok = True
            if si is not None:
                status = number(path, n, "status", row[si])
                ok = 200 <= status < 400
            acc.add(n, t, latency, row[ci].strip() if ci is not None else "", ok)
    caveats = ["a plain CSV does not say whether send_time is when each request was due or "
               "when it was actually sent: if the tool waited for responses (a closed loop), "
               "latency misses the queueing delay of late sends (coordinated omission)"]
    if ci is None:
        caveats.append("no class column: compared with the whole model")
    levels = acc.levels(path.name, ci is not None)
    return Measurement(path, "plain CSV", levels, caveats)
