"""Predicted against measured: one row per scope (component or end to end) and metric,
with the relative error and whether it is within the tolerance.

Three predictions per row: the calibrated model at the *target* rate (the gated one: the
model has seen nothing of the level), at the level's *measured* arrival rate (separates
the load generator's error), and at the measured rate *and* the level's measured mean
service times (separates the emulation's error: what is left is the queueing model's).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from qmodel.results import Result

COMPONENT_METRICS = {  # report name -> (measured key in /metrics, NodeResult attribute)
    "throughput_per_s": ("throughput_per_s", "throughput"),
    "utilization": ("utilization", "utilization"),
    "mean_response_s": ("mean_response_s", "mean_response"),
    "p95_response_s": ("p95_response_s", "p95_response"),
    "p99_response_s": ("p99_response_s", "p99_response"),
}
E2E_METRICS = {
    "throughput_per_s": ("throughput_per_s", "throughput", "throughput"),
    "mean_response_s": ("mean_response_s", "mean_response_time", "mean_response_time"),
    "p95_response_s": ("p95_response_s", "p95_response_time", "p95_response_time"),
    "p99_response_s": ("p99_response_s", "p99_response_time", None),
}
GATED = {("end-to-end", "mean_response_s"), ("end-to-end", "p95_response_s")}


@dataclass
class Row:
    scope: str
    metric: str
    measured: float | None
    predicted: float | None
    predicted_at_measured: float | None
    rel_error: float | None
    rel_error_at_measured: float | None
    within: bool | None
    gate: bool
    predicted_at_measured_service: float | None = None
    rel_error_at_measured_service: float | None = None
    note: str | None = None  # why a row is not (fully) comparable

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rel(measured: float | None, predicted: float | None) -> float | None:
    if measured is None or predicted is None or predicted == 0:
        return None
    return (measured - predicted) / predicted


def _value(x: Any) -> float | None:
    return None if x is None else float(x)


def _node(result: Result, component: str, attr: str) -> float | None:
    try:
        return _value(getattr(result.node(component), attr))
    except KeyError:
        return None


def _e2e(result: Result, cls: str | None, system_attr: str, class_attr: str | None):
    if cls is None:
        return _value(getattr(result.system, system_attr))
    klass = result.classes.get(cls)
    return _value(getattr(klass, class_attr)) if klass is not None and class_attr else None


def rows_for(measured: dict[str, Any], at_target: Result, at_measured: Result,
             tolerance: float, classes: list[str], at_service: Result | None = None,
             client: dict[str, Any] | None = None) -> list[Row]:
    """Compare a level's ``/metrics`` document with the predictions. With one class the
    end-to-end scope is the system; with several, one scope per class. ``client``
    (client-side latency per class) adds ungated ``(client)`` rows beside them."""
    rows = []

    def add(scope: str, metric: str, m: float | None, p: float | None, q: float | None,
            gate: bool, s: float | None = None) -> None:
        r = rel(m, p)
        rows.append(Row(scope, metric, m, p, q, r, rel(m, q),
                        None if r is None else abs(r) <= tolerance, gate, s, rel(m, s)))

    for component, doc in measured["components"].items():
        for metric, (key, attr) in COMPONENT_METRICS.items():
            p = _node(at_target, component, attr)
            if doc.get(key) is None and p is None:
                continue
            add(component, metric, doc.get(key), p, _node(at_measured, component, attr),
                False, _node(at_service, component, attr) if at_service else None)
    scopes = [(None, "end-to-end")] if len(classes) == 1 else \
        [(c, f"end-to-end {c}") for c in classes]
    for cls, scope in scopes:
        doc = measured["end_to_end"]["all"] if cls is None else \
            measured["end_to_end"]["classes"].get(cls, {})
        for metric, (key, system_attr, class_attr) in E2E_METRICS.items():
            add(scope, metric, doc.get(key), _e2e(at_target, cls, system_attr, class_attr),
                _e2e(at_measured, cls, system_attr, class_attr),
                ("end-to-end", metric) in GATED and cls is None,
                _e2e(at_service, cls, system_attr, class_attr) if at_service else None)
    for cls, scope in scopes:
        doc = (client or {}).get(cls if cls is not None else classes[0], {})
        side = doc.get("client")
        statuses = {int(k): v for k, v in (doc.get("statuses") or {}).items()}
        if not side or statuses.get(202, 0) > statuses.get(200, 0):
            continue  # answered when a broker took it (202): the client never sees the end
        for metric, key in (("mean_response_s", "mean_s"), ("p95_response_s", "p95_s")):
            _, system_attr, class_attr = E2E_METRICS[metric]
            add(f"{scope} (client)", metric, side.get(key),
                _e2e(at_target, cls, system_attr, class_attr),
                _e2e(at_measured, cls, system_attr, class_attr), False,
                _e2e(at_service, cls, system_attr, class_attr) if at_service else None)
    return rows
