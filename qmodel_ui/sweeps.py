"""Around ``qmodel.experiments.sweep`` for the What-if page: metric columns and display
units, default ranges in the sweep's range syntax and the SLO limit."""

from __future__ import annotations

import qmodel
from qmodel.units import TIME_UNITS

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

