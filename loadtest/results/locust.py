"""locust's result files: ``--csv PREFIX`` (``PREFIX_stats.csv``, ``PREFIX_stats_history.csv``)
and ``--json-file``. Times in them are milliseconds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .common import (
    CO_CLOSED,
    MAX_JSON_BYTES,
    MAX_LEVELS,
    MeasuredLevel,
    Measurement,
    Stat,
    fail,
    lines,
    number,
)

STATS_HEAD = ("Type", "Name", "Request Count", "Failure Count")
HISTORY_HEAD = ("Timestamp", "User Count", "Type", "Name", "Requests/s")
CO = CO_CLOSED.format(tool="locust", who="users (wait_time runs after each response)")
ROUNDED = ("locust's percentiles are rounded buckets (whole ms below 100 ms, 10 ms steps to "
           "1 s, 100 ms steps above)")
NO_SERIES = "a summary without a time series: the whole run is one level"


def _ms(path: Path, where: int, name: str, text: str) -> float | None:
    if text.strip() in ("", "N/A"):
        return None
    return number(path, where, name, text) / 1000


def _rows(path: Path, head: tuple[str, ...]) -> tuple[list[str], list[tuple[int, list[str]]]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        numbered = list(lines(path, f))
    if not numbered:
        raise fail(path, None, "empty file")
    columns = next(csv.reader([numbered[0][1]]))
    if tuple(columns[:len(head)]) != head:
        raise fail(path, 1, f"not a locust header: expected {','.join(head)},...")
    out = []
    for n, line in numbered[1:]:
        if not line.strip():
            continue
        row = next(csv.reader([line]))
        if len(row) != len(columns):
            raise fail(path, n, f"expected {len(columns)} fields, got {len(row)}")
        out.append((n, row))
    return columns, out


def read_stats(path: Path, window_s: float | None) -> Measurement:
    """``*_stats.csv``: one row per request name and an Aggregated row."""
    columns, rows = _rows(path, STATS_HEAD)
    col = {c: i for i, c in enumerate(columns)}
    for needed in ("Average Response Time", "Requests/s", "50%", "95%", "99%"):
        if needed not in col:
            raise fail(path, 1, f"no {needed!r} column")
    total, classes = None, {}
    for n, row in rows:
        count = int(number(path, n, "Request Count", row[col["Request Count"]]))
        rate = number(path, n, "Requests/s", row[col["Requests/s"]])
        stat = Stat(count, count / rate if rate > 0 else None,
                    _ms(path, n, "Average Response Time", row[col["Average Response Time"]]),
                    _ms(path, n, "50%", row[col["50%"]]), _ms(path, n, "95%", row[col["95%"]]),
                    _ms(path, n, "99%", row[col["99%"]]),
                    int(number(path, n, "Failure Count", row[col["Failure Count"]])), rate)
        if row[col["Name"]] == "Aggregated":
            total = stat
        else:
            classes[row[col["Name"]]] = stat
    if total is None:
        raise fail(path, None, "no Aggregated row")
    caveats = [CO, ROUNDED, NO_SERIES + (" (the stats history has one)" if window_s else ""),
               "locust's _stats.csv leaves out the last second of the run (its --json-file "
               "has every request)",
               "locust counts failed requests' response times in its latencies"]
    return Measurement(path, "locust --csv stats", [MeasuredLevel(path.name, total, classes)],
                       caveats)


def read_history(path: Path, window_s: float | None) -> Measurement:
    """``*_stats_history.csv``: a row per second (per name with --csv-full-history) with
    running totals; levels are the whole run or time windows."""
    columns, rows = _rows(path, HISTORY_HEAD)
    col = {c: i for i, c in enumerate(columns)}
    for needed in ("Total Request Count", "Total Average Response Time", "95%", "99%"):
        if needed not in col:
            raise fail(path, 1, f"no {needed!r} column")
    series: dict[str, list[tuple[float, int, float, list[str], int]]] = {}
    for n, row in rows:
        t = number(path, n, "Timestamp", row[col["Timestamp"]])
        count = int(number(path, n, "Total Request Count", row[col["Total Request Count"]]))
        mean = number(path, n, "Total Average Response Time",
                      row[col["Total Average Response Time"]]) / 1000
        name = row[col["Name"]]
        points = series.setdefault("" if name == "Aggregated" else name, [])
        if points and (t < points[-1][0] or count < points[-1][1]):
            raise fail(path, n, "timestamps and running totals must not go back")
        points.append((t, count, mean, row, n))
    if "" not in series:
        raise fail(path, None, "no Aggregated rows")
    start, end = series[""][0][0], series[""][-1][0]
    if end <= start:
        raise fail(path, None, "less than two seconds of history")
    if window_s and (end - start) / window_s > MAX_LEVELS:
        raise fail(path, None, f"more than {MAX_LEVELS} windows: use longer windows")
    bounds = [(start, end)] if not window_s else \
        [(a, min(a + window_s, end)) for a in _steps(start, end, window_s)
         if min(a + window_s, end) - a >= 0.5 * window_s]
    if not bounds:
        raise fail(path, None, f"shorter than half a window ({window_s:g} s)")
    levels = []
    for a, b in bounds:
        stats = {name: _delta(path, points, a, b, not window_s, col)
                 for name, points in series.items()}
        label = path.name if not window_s else f"{path.name} [{a - start:g}-{b - start:g} s]"
        levels.append(MeasuredLevel(label, stats.pop(""), stats, (a, b)))
    caveats = [CO, ROUNDED, "locust's history holds running totals (rate and mean per window "
               "are exact differences of them) and percentiles over its last ~10 s only: "
               + ("the whole run's p95/p99 are not in it (its _stats.csv has them)"
                  if not window_s else "a window's percentiles are those of its last row")]
    if len(series) == 1:
        caveats.append("no per-name rows (locust --csv-full-history writes them): compared "
                       "with the whole model")
    return Measurement(path, "locust --csv stats history", levels, caveats)


def _steps(start: float, end: float, step: float):
    a = start
    while a < end:
        yield a
        a += step


def _delta(path: Path, points, a: float, b: float, whole: bool, col: dict[str, int]) -> Stat:
    before = [p for p in points if p[0] <= a]
    inside = [p for p in points if a < p[0] <= b]
    if not inside:
        return Stat(0, b - a)
    t0, c0, m0 = before[-1][:3] if before else (a, 0, 0.0)
    t1, c1, m1, row, n = inside[-1]
    count = c1 - c0
    mean = (m1 * c1 - m0 * c0) / count if count > 0 else None
    stat = Stat(count, t1 - t0 if before else b - a, mean)
    if not whole:
        stat.p50_s, stat.p95_s, stat.p99_s = (_ms(path, n, q, row[col[q]])
                                              for q in ("50%", "95%", "99%"))
    elif "Total Median Response Time" in col:
        stat.p50_s = _ms(path, n, "Total Median Response Time",
                         row[col["Total Median Response Time"]])
    return stat


def read_json(path: Path, window_s: float | None) -> Measurement:
    """``--json-file``: a list of per-name entries with response-time buckets (rounded ms)
    and per-second counts."""
    doc = load_json(path)
    if not isinstance(doc, list) or not doc:
        raise fail(path, None, "a locust --json-file holds a non-empty list of entries")
    classes, buckets_all, starts, ends = {}, {}, [], []
    for i, entry in enumerate(doc):
        where = f"entry {i}"
        if not isinstance(entry, dict):
            raise fail(path, where, "not an object")
        try:
            name = str(entry["name"])
            count = int(number(path, where, "num_requests", entry["num_requests"]))
            failures = int(number(path, where, "num_failures", entry.get("num_failures", 0)))
            total_ms = number(path, where, "total_response_time", entry["total_response_time"])
            start = number(path, where, "start_time", entry["start_time"])
            last = number(path, where, "last_request_timestamp",
                          entry.get("last_request_timestamp") or start)
            times = entry["response_times"]
        except KeyError as exc:
            raise fail(path, where, f"missing {exc.args[0]!r}") from None
        if not isinstance(times, dict):
            raise fail(path, where, "response_times: not an object")
        buckets = {}
        for key, c in times.items():
            value = number(path, where, f"response_times[{key!r}]", key)
            buckets[value] = int(number(path, where, f"response_times[{key!r}]", c))
            buckets_all[value] = buckets_all.get(value, 0) + buckets[value]
        starts.append(start)
        ends.append(last)
        q = _bucket_percentiles(buckets)
        classes[f"{entry.get('method', '')} {name}".strip() if _dup(doc, name) else name] = \
            Stat(count, last - start if last > start else None,
                 total_ms / count / 1000 if count else None, *q, failures)
    duration = max(ends) - min(starts)
    count = sum(s.count for s in classes.values())
    mean = sum(s.mean_s * s.count for s in classes.values() if s.mean_s) / count if count \
        else None
    total = Stat(count, duration if duration > 0 else None, mean,
                 *_bucket_percentiles(buckets_all), sum(s.errors for s in classes.values()))
    caveats = [CO, ROUNDED, "locust's --json-file has per-second counts but latency only for "
               "the whole run: one level", "locust counts failed requests' response times in "
               "its latencies"]
    return Measurement(path, "locust --json-file",
                       [MeasuredLevel(path.name, total, classes, (min(starts), max(ends)))],
                       caveats)


def _dup(doc: list, name: str) -> bool:
    return sum(1 for e in doc if isinstance(e, dict) and e.get("name") == name) > 1


def _bucket_percentiles(buckets: dict[float, int]) -> tuple[float | None, ...]:
    n = sum(buckets.values())
    if not n:
        return (None, None, None)
    out, seen, order = [], 0, sorted(buckets.items())
    for p in (0.50, 0.95, 0.99):
        seen, target = 0, p * n
        for value, c in order:
            seen += c
            if seen >= target:
                out.append(value / 1000)
                break
    return tuple(out)


def load_json(path: Path):
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise fail(path, None, f"{size} bytes: a JSON document over {MAX_JSON_BYTES >> 20} MiB "
                   "is not read")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise fail(path, None, "not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, [[[[… nested
        raise fail(path, None, f"invalid JSON: {str(exc)[:80] or 'nested too deeply'}") from None
