"""k6's result files: the end-of-test summary (``--summary-export`` or a ``handleSummary``
JSON.stringify of its data) and the NDJSON stream of ``--out json=FILE``. k6 writes
times in milliseconds."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from .common import CO_CLOSED, Accumulator, MeasuredLevel, Measurement, Stat, fail, lines, number
from .locust import load_json

CO = CO_CLOSED.format(tool="k6", who="VUs under the VU-based executors (constant-vus, "
                      "ramping-vus, per-vu-iterations)") + \
    "; the arrival-rate executors are open loop only while a VU is free (dropped_iterations " \
    "counts the rest), and the file does not say which executor ran"
SUBMETRIC = re.compile(r"^http_req_duration\{(name|scenario):(.+)\}$")
NANOS = re.compile(r"^(.*\.\d{6})\d*(.*)$")


def is_summary(doc) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("metrics"), dict) and (
        "http_req_duration" in doc["metrics"] or "http_reqs" in doc["metrics"])


def _values(metric):
    """The statistics of a summary metric: handleSummary nests them under ``values``."""
    if isinstance(metric, dict) and isinstance(metric.get("values"), dict):
        return metric["values"]
    return metric if isinstance(metric, dict) else {}


def read_summary(path: Path, window_s: float | None) -> Measurement:
    doc = load_json(path)
    if not is_summary(doc):
        raise fail(path, None, "not a k6 summary (no metrics.http_req_duration)")
    metrics = doc["metrics"]
    duration = _values(metrics.get("http_req_duration"))
    if not duration:
        raise fail(path, "metrics.http_req_duration", "missing")
    reqs = _values(metrics.get("http_reqs"))
    if "count" not in reqs or "rate" not in reqs:
        raise fail(path, "metrics.http_reqs", "needs count and rate")

    def stat(values: dict, where: str, count: float, rate: float) -> Stat:
        ms = {k: None if values.get(k) is None else
              number(path, f"{where}.{k}", k, values[k]) / 1000
              for k in ("avg", "med", "p(95)", "p(99)")}
        return Stat(int(count), count / rate if rate > 0 else None, ms["avg"], ms["med"],
                    ms["p(95)"], ms["p(99)"], rate_per_s=rate)

    count = number(path, "metrics.http_reqs.count", "count", reqs["count"])
    rate = number(path, "metrics.http_reqs.rate", "rate", reqs["rate"])
    failed = _values(metrics.get("http_req_failed"))
    total = stat(duration, "metrics.http_req_duration", count, rate)
    if failed.get("passes") is not None:  # a rate metric: passes = failed requests
        total.errors = int(number(path, "metrics.http_req_failed.passes", "passes",
                                  failed["passes"]))
    classes = {}
    for key, metric in metrics.items():
        m = SUBMETRIC.match(key)
        if not m:
            continue
        tag = key[len("http_req_duration"):]
        sub = _values(metrics.get(f"http_reqs{tag}"))
        if "count" in sub and "rate" in sub:
            classes[m.group(2)] = stat(_values(metric), f"metrics.{key}",
                                       number(path, f"metrics.http_reqs{tag}", "count",
                                              sub["count"]),
                                       number(path, f"metrics.http_reqs{tag}", "rate",
                                              sub["rate"]))
    caveats = [CO, "a summary without a time series: the whole run is one level"]
    if total.p99_s is None:
        caveats.append("no p(99) in the summary (summaryTrendStats decides which "
                       "percentiles k6 writes)")
    if not classes:
        caveats.append("no per-name split (k6 writes http_req_duration{name:...} submetrics "
                       "only for thresholds on them, with http_reqs{name:...} for their "
                       "rates): compared with the whole model")
    caveats.append("k6's http_req_duration counts from the request's first byte sent (DNS, "
                   "connect and TLS are in http_req_blocked/connecting, not here)")
    return Measurement(path, "k6 summary", [MeasuredLevel(path.name, total, classes)], caveats)


def _time(path: Path, n: int, text) -> float:
    if not isinstance(text, str):
        raise fail(path, n, f"data.time: not a timestamp, got {text!r}")
    m = NANOS.match(text)  # k6 writes nanoseconds; datetime takes microseconds
    try:
        return datetime.fromisoformat(m.group(1) + m.group(2) if m else text).timestamp()
    except ValueError:
        raise fail(path, n, f"data.time: not an RFC 3339 time, got {text[:40]!r}") from None


def looks_like_ndjson(first_line: str) -> bool:
    try:
        doc = json.loads(first_line)
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and doc.get("type") in ("Metric", "Point")


def read_ndjson(path: Path, window_s: float | None, tag: str = "name") -> Measurement:
    """Every ``http_req_duration`` Point: its time, value (ms) and tags (``status``,
    ``name``). Streamed: memory is bounded by windows x names."""
    acc = Accumulator(path, window_s)
    names: set[str] = set()
    dropped = False
    with open(path, encoding="utf-8") as f:
        for n, line in lines(path, f):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                raise fail(path, n, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
            except (ValueError, RecursionError) as exc:
                raise fail(path, n, f"invalid JSON: {str(exc)[:80] or 'nested too deeply'}"
                           ) from None
            if not isinstance(doc, dict) or doc.get("type") not in ("Metric", "Point"):
                raise fail(path, n, "not a k6 Metric or Point line")
            if doc.get("metric") == "dropped_iterations":
                dropped = True
            if doc["type"] != "Point" or doc.get("metric") != "http_req_duration":
                continue
            data = doc.get("data")
            if not isinstance(data, dict) or "value" not in data:
                raise fail(path, n, "a Point needs data.time and data.value")
            latency = number(path, n, "data.value", data["value"]) / 1000
            tags = data.get("tags") or {}
            status = str(tags.get("status", "200"))
            ok = status.isdigit() and 200 <= int(status) < 400
            name = str(tags.get(tag, "")) if isinstance(tags, dict) else ""
            if name:
                names.add(name)
            # the Point's time is when the request's sample was taken (its end): the send
            # was a latency earlier
            acc.add(n, _time(path, n, data.get("time")) - latency, latency, name, ok)
    if acc.first is None:
        raise fail(path, None, "no http_req_duration points")
    caveats = [CO]
    if dropped:
        caveats.append("dropped_iterations points: an arrival-rate executor ran out of VUs, "
                       "so fewer requests were sent than scheduled")
    if not names:
        caveats.append("no name tags on the points: compared with the whole model")
    return Measurement(path, "k6 --out json", acc.levels(path.name, bool(names)), caveats)
