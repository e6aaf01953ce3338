"""Which tool wrote a result file, from its content (never its name alone)."""

from __future__ import annotations

from pathlib import Path

from . import hlog, k6, locust, plain, wrk
from .common import Measurement, fail

HEAD_CHARS = 65536
FORMATS = ("locust --csv (_stats.csv, _stats_history.csv), locust --json-file, k6 summary "
           "(--summary-export / handleSummary), k6 --out json, HdrHistogram log (.hlog), "
           "wrk/wrk2 --latency output, plain CSV (send_time,latency,status)")


def read(path: str | Path, window_s: float | None = None, hlog_unit: str = "us") -> Measurement:
    """Read one result file into levels (the whole file, or ``window_s`` windows)."""
    path = Path(path)
    if not path.is_file():
        raise fail(path, None, "no such file" if not path.exists() else "not a file")
    with open(path, "rb") as f:
        raw = f.read(HEAD_CHARS)
    if not raw.strip():
        raise fail(path, None, "empty file")
    if b"\0" in raw:
        raise fail(path, None, "a binary file, not a result file")
    head = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    if first.startswith(locust.STATS_HEAD[0] + "," + locust.STATS_HEAD[1] + ",Request Count"):
        return locust.read_stats(path, window_s)
    if first.startswith("Timestamp,User Count,"):
        return locust.read_history(path, window_s)
    if first.startswith("{") and k6.looks_like_ndjson(first):
        return k6.read_ndjson(path, window_s)
    if first.startswith(("[", "{")):
        doc = locust.load_json(path)
        if k6.is_summary(doc):
            return k6.read_summary(path, window_s)
        if isinstance(doc, list) and doc and isinstance(doc[0], dict) and \
                "response_times" in doc[0]:
            return locust.read_json(path, window_s)
        raise fail(path, None, "JSON, but neither a locust --json-file (a list of entries "
                   "with response_times) nor a k6 summary (metrics.http_req_duration)")
    if hlog.looks_like(head):
        return hlog.read(path, window_s, hlog_unit)
    if wrk.looks_like(head):
        return wrk.read(path, window_s)
    if plain.looks_like(first):
        return plain.read(path, window_s)
    raise fail(path, 1, f"unknown format (first line {first[:60]!r}); read: {FORMATS}")
