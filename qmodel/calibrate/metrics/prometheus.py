"""Metrics from Prometheus: text-format scrapes and range-query JSON.

Which series measure what is said by three small *selectors*, ``NAME{LABEL}`` with
optional ``key="value"`` filters: the metric, and the label whose value names the class
or component (``--throughput 'http_requests_total{route}'``,
``--utilization 'process_cpu_seconds_total{service}'``,
``--response 'http_request_duration_seconds{route}'``). Series that differ in other labels
(instances, status codes) are added up.

* throughput: a counter of completed requests gives completions per second per interval
  (a gauge is read as a rate already);
* utilization: a counter of busy seconds (``process_cpu_seconds_total``) gives busy
  servers, busy seconds per second; a gauge is the busy fraction of one server (0..1,
  averaged over the series);
* response: a summary or histogram (``NAME_sum`` / ``NAME_count``) gives the mean
  response time per interval, Δsum / Δcount (a gauge is read as the mean).

Counters are per interval between consecutive scrapes; a counter that went down was
reset, and its new value is the increase (as Prometheus's ``rate`` counts it).

Text scrapes: one file per scrape, or several scrapes in one file each headed by a
``# time: <epoch seconds>`` line; without such a line the samples' own timestamps are used.
Range-query JSON (``/api/v1/query_range``): either the raw counters (each series carrying
``__name__``), read with the selectors as scrapes are, or a bundle
``{"throughput": RESPONSE, "utilization": RESPONSE, "busy": RESPONSE, "response": RESPONSE}``
of already computed queries (``sum by (route) (rate(http_requests_total[1m]))``), each
series named by its one label (or the selector's label).

>>> s = selector('http_requests_total{route, code="200"}')
>>> s.metric, s.label, s.match
('http_requests_total', 'route', (('code', '200'),))
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ModelError, Problem
from .series import MAX_INTERVALS, MAX_SERIES, MetricsError, Series, finite_number, read_text

ROLES = ("throughput", "utilization", "response")
DEFAULTS = {"throughput": "http_requests_total{class}",
            "utilization": "process_cpu_seconds_total{component}",
            "response": "http_request_duration_seconds{class}"}
_TIME = re.compile(r"^#\s*time:\s*(\S+)\s*$")
_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)?\s*(?:\{(.*)\})?\s*$")
_MATCH = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*$')
_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


@dataclass(frozen=True)
class Selector:
    """A metric, the label that names the class or component, and label filters."""

    metric: str
    label: str | None = None
    match: tuple[tuple[str, str], ...] = ()

    def key(self, labels: Mapping[str, str]) -> str | None:
        """The class or component a series with ``labels`` measures (None: not selected)."""
        if any(labels.get(k) != v for k, v in self.match):
            return None
        if self.label is None:
            return self.metric
        return labels.get(self.label) or None


def selector(text: str, option: str = "--selector") -> Selector:
    """Read ``NAME{LABEL, key="value", ...}``; a bad one is an argument error."""
    m = _SELECTOR.match(text or "")
    if not m or not (m.group(1) or m.group(2)):
        raise ModelError([Problem(option, f"expected NAME{{LABEL}}, e.g. "
                                          f"'http_requests_total{{route}}', got {text!r}")])
    label, match = None, []
    for part in filter(str.strip, (m.group(2) or "").split(",")):
        if (kv := _MATCH.match(part)) is not None:
            match.append((kv.group(1), kv.group(2)))
        elif (name := _NAME.match(part)) is not None and label is None:
            label = name.group(1)
        else:
            raise ModelError([Problem(option, f"cannot read {part.strip()!r} in {text!r}: "
                                              "one LABEL and key=\"value\" filters")])
    return Selector(m.group(1) or "", label, tuple(match))


def selectors(throughput: str | None = None, utilization: str | None = None,
              response: str | None = None) -> dict[str, Selector]:
    given = {"throughput": throughput, "utilization": utilization, "response": response}
    return {role: selector(text or DEFAULTS[role], f"--{role}") for role, text in given.items()}


# -- text scrapes ---------------------------------------------------------------------------

@dataclass
class _Scrape:
    time: float
    where: str
    samples: list[tuple[str, dict[str, str], float, str]]  # name, labels, value, family type


def read_scrapes(paths: str | Path | Iterable[str | Path], throughput: str | None = None,
                 utilization: str | None = None, response: str | None = None) -> Series:
    """Read Prometheus text-format scrapes (one or more files) into a :class:`Series`."""
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    chosen = selectors(throughput, utilization, response)
    scrapes: list[_Scrape] = []
    for path in paths:
        scrapes.extend(_scrapes(path))
        if len(scrapes) > MAX_INTERVALS:
            raise MetricsError(f"{path}: more than {MAX_INTERVALS:,} scrapes")
    scrapes.sort(key=lambda s: s.time)
    for a, b in zip(scrapes, scrapes[1:]):
        if b.time <= a.time:
            raise MetricsError(f"{b.where}: the same time as {a.where} ({b.time:g})")
    name = paths[0].name + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")
    points = [(s.time, s.where, s.samples) for s in scrapes]
    return _series(points, chosen, f"{name} (prometheus text, {len(scrapes)} scrapes)",
                   name)


def _scrapes(path: Path) -> list[_Scrape]:
    from prometheus_client.parser import text_string_to_metric_families

    lines = read_text(path).splitlines()
    blocks: list[tuple[float | None, int, list[str]]] = []
    current: tuple[float | None, int, list[str]] = (None, 1, [])
    for n, line in enumerate(lines, 1):
        m = _TIME.match(line)
        if m:
            if current[2] and any(x.strip() and not x.startswith("#") for x in current[2]) \
                    or current[0] is not None:
                blocks.append(current)
            current = (finite_number(m.group(1), f"{path}, line {n}, # time"), n + 1, [])
        else:
            current[2].append(line)
    blocks.append(current)
    out = []
    for time, first, body in blocks:
        where = f"{path}, line {first - 1 if time is not None else first}"
        try:
            families = list(text_string_to_metric_families("\n".join(body) + "\n"))
        except Exception:  # the parser raises ValueError, IndexError...: find the line
            raise MetricsError(_bad_line(path, first, body)) from None
        samples = []
        stamps = []
        for family in families:
            for s in family.samples:
                if not math.isfinite(s.value):
                    continue
                samples.append((s.name, dict(s.labels), float(s.value), family.type))
                if s.timestamp is not None:
                    stamps.append(float(s.timestamp))
        if time is None:
            if not stamps:
                if not samples:
                    continue
                raise MetricsError(f"{where}: a scrape without a time: head each scrape with "
                                   "'# time: <epoch seconds>' or give the samples timestamps")
            time = max(stamps)
        out.append(_Scrape(time, f"{path}, scrape at line {first}", samples))
    if not out:
        raise MetricsError(f"{path}: no samples")
    return out


def _bad_line(path: Path, first: int, body: list[str]) -> str:
    from prometheus_client.parser import text_string_to_metric_families

    for i, line in enumerate(body):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            list(text_string_to_metric_families(line + "\n"))
        except Exception as exc:
            return (f"{path}, line {first + i}: not a Prometheus sample ({exc}): "
                    f"{line[:60]!r}")
    return f"{path}, scrape at line {first}: not Prometheus text format"


# -- range-query JSON -----------------------------------------------------------------------

BUNDLE = ("throughput", "utilization", "busy", "response")


def read_range_json(path: str | Path, throughput: str | None = None,
                    utilization: str | None = None, response: str | None = None) -> Series:
    """Read a Prometheus range-query response (or a bundle of them, above)."""
    path = Path(path)
    try:
        doc = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise MetricsError(f"{path}, line {exc.lineno}: not JSON ({exc.msg})") from None
    except RecursionError:
        raise MetricsError(f"{path}: nested too deeply") from None
    chosen = selectors(throughput, utilization, response)
    if isinstance(doc, dict) and doc and set(doc) <= set(BUNDLE):
        return _bundle(path, doc, chosen)
    series = _matrix(path, doc, "")
    grid = sorted({t for _, values in series for t, _ in values})
    _check_grid(path, grid)
    index = {t: i for i, t in enumerate(grid)}
    points = [(t, f"{path}, t={t:g}", []) for t in grid]
    for labels, values in series:
        name = labels.pop("__name__", None)
        if name is None:
            raise MetricsError(f"{path}: a series without __name__ ({labels}); give raw "
                               "counters, or a bundle {\"throughput\": ..., \"utilization\": "
                               "...} of computed queries")
        kind = "counter" if name.endswith(("_total", "_sum", "_count")) else "gauge"
        for t, v in values:
            points[index[t]][2].append((name, labels, v, kind))
    return _series(points, chosen, f"{path.name} (prometheus range query, {len(grid)} points)",
                   path.name)


def _matrix(path: Path, doc: object, where: str) -> list[tuple[dict[str, str], list]]:
    at = f"{path}{', ' + where if where else ''}"
    if not isinstance(doc, dict) or doc.get("status") != "success" or \
            not isinstance(doc.get("data"), dict):
        raise MetricsError(f"{at}: not a successful Prometheus query response "
                           "({\"status\": \"success\", \"data\": {...}})")
    data = doc["data"]
    if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise MetricsError(f"{at}: expected data.resultType 'matrix' with a result list "
                           f"(a range query), got {str(data.get('resultType'))[:20]!r}")
    if len(data["result"]) > MAX_SERIES:
        raise MetricsError(f"{at}: {len(data['result'])} series; at most {MAX_SERIES}")
    out = []
    for i, item in enumerate(data["result"]):
        record = f"{at}, {where + '.' if where else ''}data.result[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("metric"), dict) or \
                not isinstance(item.get("values"), list):
            raise MetricsError(f"{record}: expected {{\"metric\": {{...}}, \"values\": [...]}}")
        labels = {str(k): str(v) for k, v in item["metric"].items()}
        values = []
        if len(item["values"]) > MAX_INTERVALS:
            raise MetricsError(f"{record}: more than {MAX_INTERVALS:,} values")
        for j, pair in enumerate(item["values"]):
            if not isinstance(pair, list) or len(pair) != 2:
                raise MetricsError(f"{record}.values[{j}]: expected [time, \"value\"]")
            t = finite_number(pair[0], f"{record}.values[{j}] time")
            if str(pair[1]) in ("NaN", "+Inf", "-Inf"):
                continue
            values.append((t, finite_number(pair[1], f"{record}.values[{j}] value")))
        out.append((labels, values))
    return out


def _bundle(path: Path, doc: dict, chosen: dict[str, Selector]) -> Series:
    parts = {role: _matrix(path, body, role) for role, body in doc.items()}
    grid = sorted({t for series in parts.values() for _, values in series for t, _ in values})
    _check_grid(path, grid)
    index = {t: i for i, t in enumerate(grid)}
    step = float(np.median(np.diff(grid)))
    start = np.array(grid) - step
    out = Series(start, np.full(len(grid), step),
                 source=f"{path.name} (prometheus range queries: {', '.join(parts)})")
    for role, series in parts.items():
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, np.ndarray] = {}
        label = chosen["throughput" if role == "throughput" else
                       "response" if role == "response" else "utilization"].label
        for i, (labels, values) in enumerate(series):
            labels = {k: v for k, v in labels.items() if k != "__name__"}
            key = labels.get(label) if label in labels else \
                next(iter(labels.values())) if len(labels) == 1 else None
            if not key:
                raise MetricsError(f"{path}, {role}.data.result[{i}]: cannot tell what the "
                                   f"series measures from its labels {labels}; keep one label "
                                   f"(sum by (...)) or name it with --{_option(role)} "
                                   f"'{{LABEL}}'")
            row = sums.setdefault(key, np.zeros(len(grid)))
            seen = counts.setdefault(key, np.zeros(len(grid)))
            for t, v in values:
                row[index[t]] += v
                seen[index[t]] += 1
        for key, row in sums.items():
            n = counts[key]
            value = np.where(n > 0, row, np.nan)
            if role in ("utilization", "response"):  # per server, per job: the mean
                value = np.where(n > 0, row / np.maximum(n, 1), np.nan)
            getattr(out, role)[key] = value
    return out


def _option(role: str) -> str:
    return "utilization" if role == "busy" else role


def _check_grid(path: Path, grid: list[float]) -> None:
    if len(grid) < 2:
        raise MetricsError(f"{path}: {len(grid)} time points; need at least two")
    if len(grid) > MAX_INTERVALS:
        raise MetricsError(f"{path}: more than {MAX_INTERVALS:,} time points")


# -- samples at points in time -> per-interval series ----------------------------------------

def _series(points: list[tuple[float, str, list]], chosen: dict[str, Selector], source: str,
            name: str) -> Series:
    """Per-interval series from samples at consecutive times (scrapes or query points)."""
    if len(points) < 2:
        raise MetricsError(f"{name}: {len(points)} scrape(s); need at least two to measure "
                           "an interval")
    times = np.array([t for t, _, _ in points])
    out = Series(times[:-1], np.diff(times), source=source)
    response = chosen["response"]
    base = response.metric.removesuffix("_sum").removesuffix("_count")
    wanted = {"throughput": (chosen["throughput"].metric,),
              "utilization": (chosen["utilization"].metric,),
              "response_sum": (base + "_sum",), "response_count": (base + "_count",),
              "response_gauge": (response.metric,)}
    tables: dict[str, list[dict[str, dict[tuple, float]]]] = {k: [] for k in wanted}
    kinds: dict[str, str] = {}
    for _, _, samples in points:
        for table in tables.values():
            table.append(defaultdict(dict))
        for metric, labels, value, kind in samples:
            for role, names in wanted.items():
                if metric not in names:
                    continue
                sel = chosen[role.split("_")[0]]
                key = sel.key(labels)
                if key is None:
                    continue
                tables[role][-1][key][tuple(sorted(labels.items()))] = value
                kinds[role] = "counter" if kind in ("counter", "summary", "histogram") or \
                    metric.endswith(("_total", "_sum", "_count")) else "gauge"
    if len({k for t in tables["throughput"] for k in t}) > MAX_SERIES:
        raise MetricsError(f"{name}: more than {MAX_SERIES} classes")
    keys = sorted({k for t in tables["throughput"] for k in t})
    for key in keys:
        if kinds.get("throughput") == "gauge":
            out.throughput[key] = _gauge(tables["throughput"], key, np.nansum)
        else:
            out.throughput[key] = _increase(tables["throughput"], key) / out.duration
    for key in sorted({k for t in tables["utilization"] for k in t}):
        if kinds.get("utilization") == "gauge":
            out.utilization[key] = np.clip(_gauge(tables["utilization"], key, np.nanmean), 0, 1)
        else:
            out.busy[key] = _increase(tables["utilization"], key) / out.duration
    for key in sorted({k for t in tables["response_count"] for k in t}):
        count = _increase(tables["response_count"], key)
        total = _increase(tables["response_sum"], key)
        with np.errstate(divide="ignore", invalid="ignore"):
            out.response[key] = np.where(count > 0, total / count, np.nan)
    if not tables["response_count"][0] and kinds.get("response_gauge"):
        for key in sorted({k for t in tables["response_gauge"] for k in t}):
            out.response[key] = _gauge(tables["response_gauge"], key, np.nanmean)
    if not out.throughput and not out.busy and not out.utilization:
        raise MetricsError(f"{name}: no series match the selectors "
                           f"{chosen['throughput'].metric!r} (throughput) or "
                           f"{chosen['utilization'].metric!r} (utilization); name the "
                           "metrics with --throughput / --utilization")
    return out


def _increase(table: list[dict[str, dict[tuple, float]]], key: str) -> np.ndarray:
    """Each interval's counter increase for ``key``, summed over its series (NaN when no
    series was seen at both ends); a counter that went down was reset."""
    out = np.full(len(table) - 1, np.nan)
    for i in range(len(table) - 1):
        a, b = table[i].get(key, {}), table[i + 1].get(key, {})
        both = a.keys() & b.keys()
        if both:
            out[i] = sum(b[s] - a[s] if b[s] >= a[s] else b[s] for s in both)
    return out


def _gauge(table: list[dict[str, dict[tuple, float]]], key: str, combine) -> np.ndarray:
    """A gauge's value at the end of each interval, combined over its series."""
    out = np.full(len(table) - 1, np.nan)
    for i in range(1, len(table)):
        values = list(table[i].get(key, {}).values())
        if values:
            out[i - 1] = combine(values)
    return out
