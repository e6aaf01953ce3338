"""Around ``qmodel.experiments.sweep`` for the What-if page: metric columns and display
units, default ranges in the sweep's range syntax and the SLO limit."""

from __future__ import annotations

import pandas as pd

import qmodel
from qmodel.units import TIME_UNITS, format_duration, human_rate

METRICS = {"p95_response_time": "p95 response", "p99_response_time": "p99 response",
           "mean_response_time": "mean response", "throughput": "throughput",
           "max_utilization": "max utilization"}
_COLUMNS = {"p95_response_time": "p95_response_time_s", "p99_response_time": "p99_response_time_s",
            "mean_response_time": "mean_response_time_s", "throughput": "throughput_per_s",
            "max_utilization": "max_utilization"}
NONE = "(none)"
KINDS = ("rate", "duration", "count", "servers", "probability", "number")


def sweepable(catalogue: dict) -> dict:
    """The parameters worth sweeping: set, numeric, one path per distribution mean."""
    return {path: p for path, p in catalogue.items()
            if p.kind in KINDS and p.value is not None and not path.endswith(".mean")}


def metric_scale(metric: str, time_unit: str) -> tuple[str, float, str]:
    """A metric's table column, the factor to display units, and the unit."""
    if metric.endswith("response_time"):
        return _COLUMNS[metric], 1 / TIME_UNITS[time_unit], time_unit
    return _COLUMNS[metric], 1.0, "/s" if metric == "throughput" else ""


def axis(param, time_unit: str) -> tuple[str, float]:
    """Axis label of a swept parameter and the factor from the table's SI values."""
    if param.kind == "duration":
        return f"{param.path} ({time_unit})", 1 / TIME_UNITS[time_unit]
    if param.kind == "rate":
        return f"{param.path} (/s)", 1.0
    return param.path, 1.0


def default_range(param, model: qmodel.Model, res: dict | None) -> str:
    """A range around the current value; an arrival rate goes up to just below saturation."""
    v, tu = float(param.value), model.time_unit
    if param.kind in ("count", "servers"):
        return f"{max(1, int(v) - 3)}..{int(v) + 4}"
    if param.kind == "probability":
        return "0.05..1:20"
    if param.kind == "number":
        return "0..3:16"
    if param.kind == "rate":
        saturation = (res or {}).get("system", {}).get("saturation_rate")
        offered = sum(c.rate for c in model.network.open_classes)
        high = 0.97 * v * saturation / offered if saturation and offered else 2 * v
        return f"{0.2 * v:.4g}/s..{high:.4g}/s:25"
    scale = 1 / TIME_UNITS[tu]
    return f"{0.25 * v * scale:.4g}{tu}..{2 * v * scale:.4g}{tu}:20"


def slo_limit(clauses, metric: str, time_unit: str) -> float | None:
    """The SLO's limit on ``metric`` in display units, if it has one."""
    column, scale, _ = metric_scale(metric, time_unit)
    return next((c.limit * scale for c in clauses if c.column == column), None)



_UNIT_SUFFIXES = ("_per_s", "_s")
_ENDS = ("", "_ci95_low", "_ci95_high", "_low", "_high")


def shown(table: pd.DataFrame, params: dict, time_unit: str) -> pd.DataFrame:
    """A sweep table for the screen, in the page's units: times (``*_s``) and swept
    durations in ``time_unit``, rates per second, each header with its unit.

    >>> from qmodel.model.paths import Parameter
    >>> t = pd.DataFrame({"nodes.app.service": [0.02], "mean_response_time_s": [0.0347],
    ...                   "throughput_per_s": [200.0]})
    >>> shown(t, {"nodes.app.service": Parameter("nodes.app.service", "duration", 0.02)},
    ...       "ms").iloc[0].round(4).to_dict()
    {'nodes.app.service (ms)': 20.0, 'mean_response_time (ms)': 34.7, 'throughput (/s)': 200.0}
    """
    out = {}
    for column in table.columns:
        param = params.get(column)
        kind = param.kind if param is not None else _kind(column)
        name = column if param is not None else _strip(column)
        if kind == "duration":
            out[f"{name} ({time_unit})"] = table[column] / TIME_UNITS[time_unit]
        elif kind == "rate":
            out[f"{name} (/s)"] = table[column]
        else:
            out[column] = table[column]
    return pd.DataFrame(out, index=table.index)


def _kind(column: str) -> str:
    for end in _ENDS:
        if end and not column.endswith(end):
            continue
        stem = column.removesuffix(end) if end else column
        if stem.endswith("_per_s"):
            return "rate"
        if stem.endswith("_s"):
            return "duration"
    return ""


def _strip(column: str) -> str:
    for end in _ENDS:
        for suffix in _UNIT_SUFFIXES:
            if column.endswith(suffix + end):
                return column.removesuffix(suffix + end) + end
    return column


def setting(kind: str, value: float, time_unit: str) -> str:
    """A value of a parameter of ``kind`` as it would be typed (``25ms``, ``200/s``, ``8``).

    >>> setting("duration", 0.025, "ms"), setting("rate", 2 / 3600, "ms"), setting("servers", 8, "ms")
    ('25ms', '2/h', '8')
    """
    if value is None or pd.isna(value):
        return "—"
    if kind == "rate":
        return human_rate(value)
    if kind == "duration":
        return format_duration(value, time_unit)
    return f"{value:.4g}"


def shown_sensitivity(frame: pd.DataFrame, scale: float, label: str, time_unit: str
                      ) -> pd.DataFrame:
    """``qmodel.experiments.sensitivity``'s table for the screen: each parameter's value
    and steps as typed, the metric at each step in ``label``'s unit (``scale`` from SI)."""
    return pd.DataFrame({
        "parameter": frame["parameter"],
        "value": [setting(k, v, time_unit) for k, v in zip(frame["kind"], frame["value"])],
        "low": [setting(k, v, time_unit) for k, v in zip(frame["kind"], frame["low"])],
        "high": [setting(k, v, time_unit) for k, v in zip(frame["kind"], frame["high"])],
        f"{label} at low": frame["metric_low"] * scale,
        f"{label} at high": frame["metric_high"] * scale,
        "elasticity": frame["elasticity"], "note": frame["note"]})
