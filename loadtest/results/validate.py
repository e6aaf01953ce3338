"""Predicted against measured for result files that already exist: each level's measured
rate into the model, the model's client-visible end-to-end latency against the file's.

Every level is predicted at its *measured* rate (there is no target): per class when the
file splits requests by name and every name maps to an open class of the model (by
``class_of`` or by equal names), otherwise the whole model scaled to the total rate with
its class proportions kept. What a file cannot tell goes into the level's caveats and
the report's notes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from qmodel.errors import ModelError, Problem
from qmodel.model.model import Model, load
from qmodel.units import parse_duration

from ..compare import Row, rel
from ..predict import offered_peak, predict, with_rates
from ..report import Level, ValidationReport
from .common import MIN_REQUESTS, MeasuredLevel, Measurement, ResultsError, Stat
from .detect import read

NEGLIGIBLE_RATE = 1e-9  # a class absent from a file: kept in the model, with no traffic
METRICS = (("throughput_per_s", "rate", "throughput", False),
           ("mean_response_s", "mean_s", "mean_response_time", True),
           ("p50_response_s", "p50_s", 0.50, False),
           ("p95_response_s", "p95_s", 0.95, True),
           ("p99_response_s", "p99_s", 0.99, False))


def parse_level_by(level_by: str) -> float | None:
    """``file`` (None) or ``window:DURATION`` (seconds)."""
    if level_by == "file":
        return None
    kind, _, size = level_by.partition(":")
    if kind == "window" and size:
        try:
            seconds = parse_duration(size)
        except Exception:
            seconds = None
        if seconds is not None and math.isfinite(seconds) and seconds > 0:
            return float(seconds)
    raise ModelError([Problem("--level-by", f"must be 'file' or 'window:DURATION' (e.g. "
                                            f"window:30s), got {level_by!r}")])


def parse_class_of(items: Iterable[str] | dict[str, str] | None, model: Model) -> dict[str, str]:
    """``NAME=CLASS`` pairs (the last ``=`` splits, so a name may hold one)."""
    if isinstance(items, dict):
        pairs = dict(items)
    else:
        pairs = {}
        for item in items or ():
            name, sep, cls = item.rpartition("=")
            if not sep or not name or not cls:
                raise ModelError([Problem("--class-of", f"expected NAME=CLASS, got {item!r}")])
            pairs[name] = cls
    open_classes = {c.name for c in model.network.open_classes}
    for name, cls in pairs.items():
        if cls not in open_classes:
            raise ModelError([Problem("--class-of", f"{name}={cls}: the model has no open class "
                                      f"{cls!r} (it has {', '.join(sorted(open_classes))})")])
    return pairs


def validate_results(model: Model | str | Path, files: Sequence[str | Path], *,
                     level_by: str = "file", class_of: Iterable[str] | dict[str, str] | None
                     = None, tolerance: float = 0.10, out: str | Path | None = None,
                     hlog_unit: str = "us", seed: int = 0,
                     console: Console | None = None) -> ValidationReport:
    """Compare ``model`` with result files of a load test already run (``files``): one
    level per file, or per time window with ``level_by="window:30s"``. Writes ``out``
    (HTML) and its ``.json`` when given; prints the tables when ``console`` is given."""
    model = load(model) if not isinstance(model, Model) else model
    if not model.network.open_classes:
        raise ResultsError(f"{model.name}: result files are compared with a model's open "
                           "arrivals (arrivals:), and this model has none")
    if not files:
        raise ModelError([Problem("--results", "give at least one result file")])
    window_s = parse_level_by(level_by)
    mapping = parse_class_of(class_of, model)
    measurements = [read(f, window_s, hlog_unit) for f in files]
    report = ValidationReport(model=model.name, mode="open", tolerance=tolerance,
                              duration_s=0.0, warmup_s=0.0, repeats=1, backend="results",
                              calibration={}, source="results")
    for m in measurements:
        for caveat in m.caveats:
            report.notes.append(f"{m.path.name} ({m.tool}): {caveat}")
        for measured in m.levels:
            report.levels.append(_level(model, m, measured, mapping, tolerance, seed,
                                        report.notes))
            report.duration_s = max(report.duration_s, measured.total.duration_s or 0.0)
    report.notes.append("predicted: the model at each level's measured arrival rate; measured: "
                        "client-side end to end (send to response) from the files")
    if console is not None:
        report.print(console)
    if out is not None:
        out = Path(out)
        report.write_html(out)
        report.write_json(out.with_suffix(".json"))
        if console is not None:
            console.print(f"wrote {out} and {out.with_suffix('.json')}")
    return report


def _per_class(model: Model, measured: MeasuredLevel, mapping: dict[str, str]
               ) -> tuple[dict[str, list[tuple[str, Stat]]] | None, list[str]]:
    """Names grouped by model class, or None (with why) when they do not all map."""
    if not measured.classes:
        return None, []
    classes = {c.name for c in model.network.open_classes}
    groups: dict[str, list[tuple[str, Stat]]] = {}
    unmapped = []
    for name, stat in measured.classes.items():
        cls = mapping.get(name, name if name in classes else None)
        if cls is None:
            unmapped.append(name)
        else:
            groups.setdefault(cls, []).append((name, stat))
    if unmapped:
        shown = ", ".join(repr(n) for n in unmapped[:5]) + (" …" if len(unmapped) > 5 else "")
        return None, [f"request names {shown} are not classes of the model (map them with "
                      "--class-of NAME=CLASS)"]
    return groups, []


def _merge(stats: list[tuple[str, Stat]]) -> Stat:
    if len(stats) == 1:
        return replace(stats[0][1])
    count = sum(s.count for _, s in stats)
    rate = sum(s.rate or 0.0 for _, s in stats)
    known = [s for _, s in stats if s.mean_s is not None]
    weight = sum(s.count for s in known)
    mean = sum(s.mean_s * s.count for s in known) / weight if weight else None
    # percentiles of several names cannot be combined from their percentiles
    return Stat(count, count / rate if rate else None, mean,
                errors=sum(s.errors for _, s in stats), rate_per_s=rate or None)


def _level(model: Model, m: Measurement, measured: MeasuredLevel, mapping: dict[str, str],
           tolerance: float, seed: int, notes: list[str]) -> Level:
    total = measured.total
    caveats = list(m.caveats) + list(measured.caveats)
    problems = []
    if total.count < MIN_REQUESTS:
        problems.append(f"only {total.count} requests (fewer than {MIN_REQUESTS}): not compared")
    if not total.rate:
        problems.append("the file gives no rate (no duration): not compared")
    groups, why = _per_class(model, measured, mapping)
    open_classes = [c.name for c in model.network.open_classes]
    if groups is not None:
        stats = {cls: _merge(group) for cls, group in groups.items()}
        counted = sum(st.count for st in stats.values())
        if total.rate and counted:  # each class its share of the total rate (a file's
            for st in stats.values():  # per-name durations can differ from the run's)
                st.rate_per_s = total.rate * st.count / counted
        rates = {c: (stats[c].rate or NEGLIGIBLE_RATE) if c in stats else NEGLIGIBLE_RATE
                 for c in open_classes}
        absent = [c for c in open_classes if c not in stats]
        if absent:
            caveats.append(f"classes {', '.join(absent)} have no requests in the file: given "
                           "a negligible rate")
        for cls, group in groups.items():
            if len(group) > 1:
                caveats.append(f"class {cls} is several request names "
                               f"({', '.join(n for n, _ in group)}): their percentiles cannot "
                               "be combined, only rate and mean")
    else:
        stats = {}
        base = {c.name: c.rate for c in model.network.open_classes}
        scale = (total.rate or 0.0) / sum(base.values())
        rates = {c: r * scale for c, r in base.items()}
        caveats += why
        if len(open_classes) > 1 or why:
            caveats.append("the whole model scaled to the file's total rate, its class "
                           "proportions kept")
    level = Level(load=0.0, target={}, achieved={"all": total.rate or 0.0},
                  checks={"file": {"mode": "results", "valid": not problems,
                                   "problems": problems}},
                  windows=[measured.window] if measured.window else [],
                  measured={"file": str(m.path), "tool": m.tool, "total": total.to_json(),
                            "names": {n: s.to_json() for n, s in measured.classes.items()}},
                  client={}, label=measured.label, caveats=caveats,
                  source={"file": str(m.path), "tool": m.tool})
    if groups is not None:
        level.achieved.update({c: s.rate or 0.0 for c, s in stats.items()})
    if problems:
        return level
    at_rate = with_rates(model, {c: max(r, NEGLIGIBLE_RATE) for c, r in rates.items()})
    level.load = offered_peak(at_rate)[0]
    result = predict(at_rate, seed)
    level.methods = [result.method]
    if not result.stable:
        level.predicted_stable = False
        level.instability = [str(u) for u in result.unstable]
        return level
    level.rows = _rows(result, None, total, tolerance, gate=True)
    if len(open_classes) > 1:
        for cls, stat in stats.items():
            level.rows += _rows(result, cls, stat, tolerance, gate=False)
    return level


def _predicted(result, cls: str | None, what) -> float | None:
    scope = result.system if cls is None else result.classes.get(cls)
    if scope is None:
        return None
    value = scope.percentile(what) if isinstance(what, float) else getattr(scope, what, None)
    return None if value is None else float(value)


def _rows(result, cls: str | None, stat: Stat, tolerance: float, gate: bool) -> list[Row]:
    scope = "end-to-end (client)" if cls is None else f"end-to-end {cls} (client)"
    rows = []
    for metric, key, what, gated in METRICS:
        m = stat.rate if key == "rate" else getattr(stat, key)
        p = _predicted(result, cls, what)
        r = rel(m, p)
        note = None
        if m is None:
            note = "not in the file"
        elif p is None:
            note = "the model gives no value here"
        elif key == "rate":
            note = "the model was given the measured rate: this shows losses only"
        is_gate = gate and gated and r is not None
        rows.append(Row(scope, metric, m, p, p, r, r,
                        None if r is None else abs(r) <= tolerance, is_gate, note=note))
    return rows
