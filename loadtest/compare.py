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


def target_rows(client: dict[str, Any], achieved: dict[str, float], at_target: Result,
                at_measured: Result, overhead_s: float, tolerance: float, classes: list[str],
                metrics: dict[str, Any] | None = None, model: Any = None) -> list[Row]:
    """Rows for a running service (``--target``): per class, client-side latency against
    the model's response plus the fixed overhead (mean and p95 gated, p99 not) and the
    achieved rate; then, per component mapped in ``metrics``, the scraped figures
    against the model's (not gated)."""
    rows = []

    def add(scope: str, metric: str, m: float | None, p: float | None, q: float | None,
            gate: bool) -> None:
        r = rel(m, p)
        rows.append(Row(scope, metric, m, p, q, r, rel(m, q),
                        None if r is None else abs(r) <= tolerance, gate))

    def plus(v: float | None) -> float | None:
        return None if v is None else v + overhead_s

    for cls in classes:
        key = None if len(classes) == 1 else cls
        scope = "end-to-end (client)" if key is None else f"end-to-end {cls} (client)"
        side = (client.get(cls) or {}).get("client") or {}
        add(scope, "throughput_per_s", achieved.get(cls),
            _e2e(at_target, cls, "throughput", "throughput") if key else
            _e2e(at_target, None, "throughput", None),
            _e2e(at_measured, cls, "throughput", "throughput") if key else
            _e2e(at_measured, None, "throughput", None), False)
        for metric, sample_key in (("mean_response_s", "mean_s"), ("p95_response_s", "p95_s"),
                                   ("p99_response_s", "p99_s")):
            _, system_attr, class_attr = E2E_METRICS[metric]
            if key is not None and class_attr is None:
                continue
            add(scope, metric, side.get(sample_key),
                plus(_e2e(at_target, key, system_attr, class_attr)),
                plus(_e2e(at_measured, key, system_attr, class_attr)),
                metric in ("mean_response_s", "p95_response_s"))
    for component, doc in (metrics or {}).items():
        if component.startswith("_"):
            continue
        for quantity, figures in doc.items():
            if figures.get("missing"):
                continue
            for metric, value, attr in _scraped(quantity, figures):
                add(component, metric, value, _node_figure(at_target, component, attr),
                    _node_figure(at_measured, component, attr), False)
    return rows


def _scraped(quantity: str, figures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(row metric, scraped value, model figure) of one mapped quantity."""
    if quantity == "throughput":
        return [("throughput_per_s", figures.get("rate"), "throughput")]
    if quantity == "utilization":
        value = figures.get("rate") if figures.get("kind") == "counter" else figures.get("mean")
        return [("utilization", value, "utilization")]
    if quantity == "service":
        return [("mean_service_s", figures.get("mean"), "mean_service")]
    return [("mean_response_s", figures.get("mean"), "mean_response"),
            ("p95_response_s", figures.get("p95"), "p95_response"),
            ("p99_response_s", figures.get("p99"), "p99_response")]


def _node_figure(result: Result, component: str, attr: str) -> float | None:
    if attr != "mean_service":
        return _node(result, component, attr)
    response, wait = _node(result, component, "mean_response"), _node(result, component,
                                                                       "mean_wait")
    return None if response is None or wait is None else response - wait
