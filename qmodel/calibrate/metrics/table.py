"""Metrics from a CSV file, one row per measurement interval.

Columns (any order; names are case-sensitive, classes and components as in the model):

=========================  ==============================================================
``time``                   interval start: seconds (epoch or relative) or ISO 8601
``duration``               optional: interval length in seconds (default: the gap to the
                           next row's ``time``; the last row takes the median gap)
``throughput.CLASS``       completions of the class per second in the interval
``count.CLASS``            completions of the class in the interval (divided by duration)
``utilization.COMPONENT``  busy fraction of one server, 0..1
``busy.COMPONENT``         busy seconds in the interval, all servers together
``response.CLASS``         mean response time (seconds) of the class's jobs
``response.CLASS.COMP``    mean time a job of the class spends at the component (seconds)
=========================  ==============================================================

Empty cells are "not measured in this interval". A malformed file names its line.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
>>> _ = p.write_text("time,count.web,utilization.app\\n0,600,0.5\\n60,1200,0.8\\n")
>>> s = read_csv(p)
>>> s.throughput["web"].tolist(), s.utilization["app"].tolist(), s.duration.tolist()
([10.0, 20.0], [0.5, 0.8], [60.0, 60.0])
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import numpy as np

from .series import MAX_INTERVALS, MAX_SERIES, MetricsError, Series, finite_number, read_text

KINDS = ("throughput", "count", "utilization", "busy", "response")


def read_csv(path: str | Path) -> Series:
    """Read a metrics CSV (columns above) into a :class:`Series`."""
    path = Path(path)
    text = read_text(path)
    limit = csv.field_size_limit(1 << 16)  # a cell is a number: 64 KiB is generous
    try:
        return _read(path, csv.reader(io.StringIO(text)))
    finally:
        csv.field_size_limit(limit)


def _read(path: Path, reader) -> Series:
    try:
        header = next(reader)
    except StopIteration:
        raise MetricsError(f"{path}: empty file; expected a header line with 'time'") from None
    except csv.Error as exc:
        raise MetricsError(f"{path}, line 1: {exc}") from None
    header = [h.strip() for h in header]
    if "time" not in header:
        raise MetricsError(f"{path}, line 1: no 'time' column (the start of each interval); "
                           f"columns are {', '.join(header[:8])}")
    if len(header) > MAX_SERIES:
        raise MetricsError(f"{path}, line 1: {len(header)} columns; at most {MAX_SERIES}")
    columns = {}
    for j, name in enumerate(header):
        if name in ("time", "duration"):
            continue
        kind, dot, rest = name.partition(".")
        if not dot or kind not in KINDS or not rest or (kind != "response" and "." in rest):
            raise MetricsError(f"{path}, line 1: column {name!r} is not one of time, duration, "
                               "throughput.CLASS, count.CLASS, utilization.COMPONENT, "
                               "busy.COMPONENT, response.CLASS[.COMPONENT]")
        columns[j] = name
    if len(set(header)) != len(header):
        raise MetricsError(f"{path}, line 1: a column appears twice")
    it = header.index("time")
    idur = header.index("duration") if "duration" in header else None
    times: list[float] = []
    durations: list[float] = []
    values: dict[str, list[float]] = {name: [] for name in columns.values()}
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(times) >= MAX_INTERVALS:
                raise MetricsError(f"{path}, line {line}: more than {MAX_INTERVALS:,} intervals")
            if len(row) != len(header):
                raise MetricsError(f"{path}, line {line}: {len(row)} fields, the header has "
                                   f"{len(header)}")
            times.append(_time(row[it].strip(), f"{path}, line {line}, time"))
            if idur is not None:
                d = finite_number(row[idur].strip(), f"{path}, line {line}, duration")
                if d <= 0:
                    raise MetricsError(f"{path}, line {line}, duration: must be positive, "
                                       f"got {d:g}")
                durations.append(d)
            for j, name in columns.items():
                cell = row[j].strip()
                where = f"{path}, line {line}, {name}"
                x = np.nan if not cell else finite_number(cell, where)
                if x < 0:
                    raise MetricsError(f"{where}: must not be negative, got {x:g}")
                if name.startswith("utilization.") and x > 1:
                    raise MetricsError(f"{where}: a utilization is the busy fraction of one "
                                       f"server (0..1), got {x:g}; give busy seconds as "
                                       f"busy.{name.partition('.')[2]}")
                values[name].append(x)
    except csv.Error as exc:
        raise MetricsError(f"{path}, line {reader.line_num}: {exc}") from None
    if len(times) < 2 and idur is None:
        raise MetricsError(f"{path}: {len(times)} data rows; need at least two to know the "
                           "interval length (or a duration column)")
    if not times:
        raise MetricsError(f"{path}: no data rows")
    start = np.array(times)
    gaps = np.diff(start)
    if (gaps <= 0).any():
        bad = int(np.flatnonzero(gaps <= 0)[0]) + 3
        raise MetricsError(f"{path}, line {bad}: time does not increase")
    if idur is None:
        duration = np.append(gaps, np.median(gaps))
    else:
        duration = np.array(durations)
    series = Series(start, duration, source=f"{path.name} (csv)")
    for name, column in values.items():
        kind, _, rest = name.partition(".")
        x = np.array(column)
        taken = series.throughput if kind in ("count", "throughput") else \
            series.response if kind == "response" else {**series.busy, **series.utilization}
        if rest in taken:
            raise MetricsError(f"{path}, line 1: {rest!r} is measured by two columns")
        if kind == "count":
            series.throughput[rest] = x / duration
        elif kind == "busy":
            series.busy[rest] = x / duration
        else:
            getattr(series, kind)[rest] = x
    return series


def _time(text: str, where: str) -> float:
    try:
        return finite_number(text, where)
    except MetricsError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise MetricsError(f"{where}: not seconds or an ISO 8601 time: {text[:40]!r}") from None
