"""One sweep row from one solved or simulated model: the system metrics, flat.

Columns: ``stable``, ``mean_response_time_s``, one ``pNN_response_time_s`` per quantile,
``mean_wait_s`` (time queueing per job, all visits), ``wait_pNN_s`` for waiting-time
quantiles asked for (a single M/M/c station; NaN elsewhere), ``throughput_per_s``,
``max_utilization`` (the busiest station; at or above 1 where a station is saturated),
``bottleneck`` (that station), ``saturation_rate_per_s`` (the largest total open arrival
rate the model can take, same mix) and ``method``. Models with batch classes add
``makespan_s`` (simulated; NaN when the batches did not finish) and ``makespan_bound_s``
(its analytic lower bound; NaN when batch jobs can be lost). Simulated rows add
``*_ci95_low`` / ``*_ci95_high`` for every metric that has an interval. A metric a point
cannot have (an unstable point's response time) is NaN, and ``stable`` says why.
"""

from __future__ import annotations

import math
from typing import Any

from ..model.slo import quantile_column, wait_column
from ..results import Estimate, Result

METRICS = {
    "mean_response_time": "mean_response_time_s", "mean": "mean_response_time_s",
    "mean_wait": "mean_wait_s", "wait": "mean_wait_s",
    "throughput": "throughput_per_s", "max_utilization": "max_utilization",
    "utilization": "max_utilization", "saturation_rate": "saturation_rate_per_s",
    "makespan": "makespan_s", "makespan_bound": "makespan_bound_s",
}
DEFAULT_QUANTILES = (0.95, 0.99)


def metric_column(metric: str) -> str:
    """The column a metric name refers to.

    >>> metric_column("p95_response_time"), metric_column("p99"), metric_column("mean")
    ('p95_response_time_s', 'p99_response_time_s', 'mean_response_time_s')
    """
    name = metric.strip()
    if name in METRICS:
        return METRICS[name]
    if name in METRICS.values():
        return name
    head = name.removesuffix("_s").removesuffix("_response_time")
    if head.startswith("p"):
        try:
            return quantile_column(float(head[1:]) / 100)
        except ValueError:
            pass
    known = ", ".join(list(METRICS) + ["p95_response_time", "p99_response_time (any pNN)"])
    raise ValueError(f"unknown metric {metric!r}; use one of {known}")


def metric_quantile(metric: str) -> float | None:
    """The quantile a percentile metric asks for (0.95 for ``p95_response_time``)."""
    column = metric_column(metric)
    return float(column[1:].split("_")[0]) / 100 if column.startswith("p") else None


def result_row(result: Result, quantiles: tuple[float, ...], components: bool = False,
               wait_quantiles: tuple[float, ...] = ()) -> dict[str, Any]:
    """The row of one :class:`~qmodel.results.Result`; ``components`` adds the busiest
    member's utilization of every component as ``nodes.NAME.utilization``."""
    system = result.system
    row: dict[str, Any] = {"stable": result.stable}
    _put(row, "mean_response_time_s", system.mean_response_time)
    for q in quantiles:
        _put(row, quantile_column(q), system.percentile(q) if result.stable else None)
    waits = [(n.visits, n.mean_wait) for n in result.nodes.values()]
    row["mean_wait_s"] = sum(float(v) * float(w) for v, w in waits) if result.stable and all(
        v is not None and w is not None for v, w in waits) else math.nan
    for q in wait_quantiles:
        row[wait_column(q)] = math.nan
    _put(row, "throughput_per_s", system.throughput if result.stable else None)
    loads = [n.utilization if n.utilization is not None else n.offered_load
             for n in result.nodes.values()]
    loads = [float(u) for u in loads if u is not None and math.isfinite(u)]
    unstable = [u.utilization for u in result.unstable]
    row["max_utilization"] = max(loads + unstable, default=math.nan)
    row["bottleneck"] = system.bottleneck
    row["saturation_rate_per_s"] = _float(system.saturation_rate)
    row["method"] = system.method
    if any(c.kind == "batch" for c in result.classes.values()):
        _put(row, "makespan_s", system.makespan)
        row["makespan_bound_s"] = _float(system.makespan_bound)
    if components:
        for node in result.nodes.values():
            column = component_column(node.component)
            load = node.utilization if node.utilization is not None else node.offered_load
            row[column] = max(row.get(column, 0.0), _float(load))
    return row


def component_column(component: str) -> str:
    """The column of a component's utilization: ``nodes.app.utilization``."""
    return f"nodes.{component}.utilization"


def _put(row: dict[str, Any], column: str, value: float | None) -> None:
    row[column] = _float(value)
    if isinstance(value, Estimate) and value.ci95 is not None:
        row[f"{column}_ci95_low"], row[f"{column}_ci95_high"] = value.ci95


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)
