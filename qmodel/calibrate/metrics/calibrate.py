"""``from_metrics``: service demands from per-interval metrics, written into a model.

Per component with utilization data the demands of the classes that visit it (by the
model's routing) come from utilization-law regression; a component without utilization
data but with residence times per class (``response.CLASS.COMPONENT``, or the class's
end-to-end response when the component is the only station it visits) gets them from
Kraft et al.'s response-time regression (:mod:`qmodel.calibrate.demands`). A class's
service time per visit is its demand divided by its visits; the station's mean is set
(keeping the distribution's shape) when its classes agree within 5%, else each class gets
its own ``class_service``. Measured throughputs become the open classes' arrival rates.
A demand the data cannot identify is reported, with the reason, and the model keeps its
value.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from ...errors import ModelError
from ...model.model import Model, load
from ...model.paths import apply
from ..demands import DemandFit, response_regression, utilization_regression
from ..result import Calibration, Estimate, section
from .series import MetricsError, Series

SAME = 1.05
"""Classes whose service times at a station agree within this ratio share one mean."""
WITH_SERVICE = ("queue", "delay", "shards", "broker")


@dataclass
class MetricsCalibration(Calibration):
    """A :class:`~qmodel.calibrate.Calibration` that also keeps the regression fits and the
    series they came from (for the report)."""

    fits: list[DemandFit] = field(default_factory=list)
    series: Series | None = None


def from_metrics(data: Series | str | Path | Sequence[str | Path], model: Model | str | Path,
                 *, format: str | None = None, throughput: str | None = None,
                 utilization: str | None = None, response: str | None = None,
                 background: bool = False, interval: str = "ols", seed: int | None = 0,
                 rates: bool = True) -> MetricsCalibration:
    """Calibrate ``model``'s service times (and, with ``rates``, its open classes' arrival
    rates) from metrics: a :class:`Series` or file(s) read by
    :func:`qmodel.calibrate.metrics.read` (``format``, selectors ``throughput``,
    ``utilization``, ``response``). ``background`` adds an intercept (utilization no
    class accounts for); ``interval`` is ``"ols"`` or ``"bootstrap"``.

    >>> import numpy as np, qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "servers": 2,
    ...     "service": {"mean": "5ms", "cv": 0.5}}},
    ...     "arrivals": {"web": {"to": "app", "rate": "10/s"}}})
    >>> x = np.linspace(20, 80, 12)
    >>> s = Series(np.arange(12) * 60.0, np.full(12, 60.0), {"web": x},
    ...            utilization={"app": x * 0.012 / 2}, source="example")
    >>> cal = from_metrics(s, m)
    >>> round(cal.estimate("nodes.app.service.mean").value, 9)
    0.012
    >>> cal.model.to_dict()["nodes"]["app"]["service"]
    {'mean': '0.012s', 'cv': 0.5}
    """
    from . import read

    if interval not in ("ols", "bootstrap"):
        raise MetricsError(f"interval must be ols or bootstrap, got {interval!r}")
    series = data if isinstance(data, Series) else read(
        data, format, throughput=throughput, utilization=utilization, response=response)
    model = model if isinstance(model, Model) else load(model)
    net = model.network
    known = [c.name for c in net.classes]
    names = series.classes
    if not names:
        raise MetricsError(f"{series.source}: no throughput per class in the data")
    if not series.components and not series.response:
        raise MetricsError(f"{series.source}: no utilization (or response time) per component "
                           "in the data")
    warnings: list[str] = []
    assumptions = ["service time per visit = demand / visits, the visits from the model's "
                   "routing",
                   "metrics give means only: each distribution keeps the model's shape (cv)"]
    unknown = [c for c in names if c not in known]
    if unknown:
        warnings.append(f"classes in the data but not in the model: {', '.join(unknown)} (their "
                        "demands are estimated, as they use the resources, but not written)")
    absent = [c for c in known if c not in names]
    if absent:
        warnings.append(f"classes of the model with no throughput in the data: "
                        f"{', '.join(absent)} (their service times are kept)")
    X = np.column_stack([series.throughput[c] for c in names])
    visits = {c: net.visits(c) for c in known}
    fits: list[DemandFit] = []
    for comp in series.components:
        if comp not in model.spec.nodes:
            warnings.append(f"component {comp!r} in the data is not a node of the model: "
                            "ignored")
            continue
        members = [i for i, s in enumerate(net.stations) if s.component == comp]
        servers = float(sum(net.stations[i].servers for i in members))
        if comp in series.busy:
            busy = series.busy[comp]
        elif np.isfinite(servers):
            busy = series.utilization[comp] * servers
        else:
            warnings.append(f"{comp}: a per-server utilization of an infinite-server component "
                            f"means nothing; give its busy seconds (busy.{comp})")
            continue
        cols = _visiting(names, visits, members)
        if not cols:
            warnings.append(f"{comp}: no measured class visits it")
            continue
        fit = utilization_regression(X[:, cols], busy, [names[j] for j in cols], comp,
                                     servers=servers, background=background,
                                     interval=interval, seed=seed)
        fits.append(fit)
    for comp, node in model.spec.nodes.items():
        if comp in series.components or node.kind not in WITH_SERVICE:
            continue
        members = [i for i, s in enumerate(net.stations) if s.component == comp]
        cols = _visiting(names, visits, members)
        residence = [_residence(series, names[j], comp, visits, members) for j in cols]
        if not cols or all(r is None for r in residence):
            continue
        W = np.column_stack([np.full(len(series), np.nan) if r is None else r
                             for r in residence])
        servers = float(sum(net.stations[i].servers for i in members))
        fits.append(response_regression(X[:, cols], W, [names[j] for j in cols], comp,
                                        servers=servers))
    for fit in fits:
        warnings.extend(fit.warnings)
    estimates, values, per_class, notes = _service_times(model, fits, visits, series, X, names)
    assumptions.extend(notes)
    if background:
        assumptions.append("background utilization (the regression's intercept) is not a "
                           "parameter of the model: reported, not written")
    if rates:
        for e in _rates(model, series, X, names):
            estimates.append(e)
            values[e.path] = e.value
        assumptions.append("measured throughput = arrival rate (steady state, no losses)")
    calibrated = _write(model, values, per_class)
    source = f"qmodel calibrate metrics {series.describe()}"
    doc = calibrated.to_dict()
    doc["calibration"] = section([e for e in estimates if _identified(e)], source, assumptions)
    try:
        calibrated = Model.from_dict(doc, model.base_dir, model.source)
    except ModelError as exc:  # pragma: no cover - a bug: every path was just written
        raise MetricsError(f"the calibrated model does not validate: {exc}") from None
    return MetricsCalibration(
        calibrated, estimates, source, assumptions, list(dict.fromkeys(warnings)),
        {"intervals": len(series), "classes": names, "components": [f.component for f in fits],
         "demands": [d for f in fits for d in _demand_rows(f)]}, fits, series)


def _visiting(names: list[str], visits: dict[str, np.ndarray], members: list[int]) -> list[int]:
    """Columns of the classes that visit the members (classes unknown to the model too)."""
    return [j for j, c in enumerate(names) if c not in visits or visits[c][members].sum() > 0]


def _residence(series: Series, cls: str, comp: str, visits: dict[str, np.ndarray],
               members: list[int]) -> np.ndarray | None:
    if f"{cls}.{comp}" in series.response:
        return series.response[f"{cls}.{comp}"]
    v = visits.get(cls)
    only_here = v is not None and v[members].sum() > 0 and \
        np.delete(v, members).sum() == 0
    return series.response.get(cls) if only_here else None


def _service_times(model: Model, fits: list[DemandFit], visits: dict[str, np.ndarray],
                   series: Series, X: np.ndarray, names: list[str]
                   ) -> tuple[list[Estimate], dict[str, float], list[tuple], list[str]]:
    """Estimates of service times, the single values to set, the class services to add."""
    net = model.network
    estimates: list[Estimate] = []
    values: dict[str, float] = {}
    per_class: list[tuple[str, str, float]] = []
    notes: list[str] = []
    mean_x = {c: float(np.nanmean(X[:, j])) for j, c in enumerate(names)}
    for fit in fits:
        comp = fit.component
        node = model.spec.nodes[comp]
        members = [i for i, s in enumerate(net.stations) if s.component == comp]
        rows = [(j, c, float(visits[c][members].sum())) for j, c in enumerate(fit.classes)
                if c in visits]
        if node.kind not in WITH_SERVICE:
            notes.append(f"{comp} is a {node.kind}: its demands are reported, not written")
            continue
        good = [(j, c, v) for j, c, v in rows if fit.identifiable[j] and fit.demand[j] > 0]
        for j, c, _ in rows:
            if fit.identifiable[j] and not fit.demand[j] > 0:
                notes.append(f"{comp}: class {c}'s demand is estimated as 0 (at most "
                             f"{fit.high[j]:.3g} s): the model's service time is kept")
        overrides = getattr(node, "class_service", None) or {}
        times = [fit.demand[j] / v for j, _, v in good]
        shared = bool(good) and len(good) == len(rows) and \
            max(times) <= SAME * min(times) and not any(c in overrides for _, c, _ in good)
        method = fit.method
        if shared:
            weights = np.zeros(len(fit.classes))
            total = sum(mean_x[c] * v for _, c, v in good)
            for j, c, _ in good:
                weights[j] = mean_x[c] / total
            value, low, high = fit.combine(weights)
            path = f"nodes.{comp}.service.mean"
            if len(good) > 1:
                method += f"; one mean for {', '.join(c for _, c, _ in good)} (within 5%)"
            estimates.append(Estimate(path, comp, "service time", value, "s", low, high,
                                      method, fit.n))
            if np.isfinite(high):  # an estimate without an interval is not written
                values[path] = value
            else:
                notes.append(f"{comp}: no interval for its service time; the model's value "
                             "is kept")
        else:
            for j, c, v in good:
                path = f"nodes.{comp}.class_service.{c}.mean"
                estimates.append(Estimate(path, comp, f"service time of {c}",
                                          float(fit.demand[j] / v), "s",
                                          float(fit.low[j] / v), float(fit.high[j] / v),
                                          method, fit.n))
                per_class.append((comp, c, float(fit.demand[j] / v)))
        for j, c, _ in rows:
            if not fit.identifiable[j]:
                path = (f"nodes.{comp}.service.mean" if len(rows) == 1 else
                        f"nodes.{comp}.class_service.{c}.mean")
                estimates.append(Estimate(path, comp, f"service time of {c}", float("nan"),
                                          "s", 0.0, float("inf"),
                                          f"unidentifiable: {fit.reasons[j]}", fit.n,
                                          {"identifiable": False, "reason": fit.reasons[j]}))
                notes.append(f"{comp}: {c}'s service time is not identifiable from the data "
                             f"({fit.reasons[j]}); the model's value is kept")
    return estimates, values, per_class, notes


def _rates(model: Model, series: Series, X: np.ndarray, names: list[str]) -> list[Estimate]:
    out = []
    for cls in model.network.open_classes:
        if cls.name not in names:
            continue
        x = X[:, names.index(cls.name)]
        rows = np.isfinite(x)
        n = int(rows.sum())
        if n < 2:
            continue
        d = series.duration[rows]
        rate = float((x[rows] * d).sum() / d.sum())
        half = float(stats.t.ppf(0.975, n - 1) * np.std(x[rows], ddof=1) / np.sqrt(n))
        out.append(Estimate(f"arrivals.{cls.name}.rate", cls.name, "arrival rate", rate, "1/s",
                            max(rate - half, 0.0), rate + half,
                            "measured throughput, time-weighted mean (95% interval: t over "
                            "intervals)", n))
    return [e for e in out if e.value > 0]


def _write(model: Model, values: dict[str, float], per_class: list[tuple[str, str, float]]
           ) -> Model:
    values = {k: _round(v) for k, v in values.items()}
    model = apply(model, values) if values else model
    if not per_class:
        return model
    doc = model.to_dict()
    for comp, cls, mean in per_class:
        node = doc["nodes"][comp]
        shaped = apply(model, {f"nodes.{comp}.service.mean": _round(mean)}).to_dict()
        node.setdefault("class_service", {})[cls] = shaped["nodes"][comp]["service"]
    return Model.from_dict(doc, model.base_dir, model.source)


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def _identified(e: Estimate) -> bool:
    return np.isfinite(e.value) and e.high is not None and np.isfinite(e.high)


def _demand_rows(fit: DemandFit) -> list[dict[str, Any]]:
    rows = []
    for j, c in enumerate(fit.classes):
        ok = bool(fit.identifiable[j])
        rows.append({"component": fit.component, "class": c,
                     "demand_s": float(fit.demand[j]) if ok else None,
                     "low_s": float(fit.low[j]) if ok else None,
                     "high_s": float(fit.high[j]) if ok else None,
                     "identifiable": ok, "reason": fit.reasons[j] or None,
                     "method": fit.method, "intervals": fit.n})
    if fit.background is not None:
        low, high = fit.background_interval or (None, None)
        rows.append({"component": fit.component, "class": None, "background_busy": fit.background,
                     "low": low, "high": high if high is None or np.isfinite(high) else None})
    return rows


def write_model(calibration: Calibration, path: str | Path, command: str = "") -> Path:
    """Write the calibrated model as YAML with provenance comments at the top."""
    path = Path(path)
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# calibrated by qmodel on {now}", f"# from {calibration.source}"]
    if command:
        lines.append(f"# command: {command}")
    lines += [f"# warning: {w}" for w in calibration.warnings]
    body = yaml.safe_dump(calibration.model.to_dict(), sort_keys=False, allow_unicode=True,
                          width=100)
    path.write_text("\n".join(line.replace("\n", " ") for line in lines) + "\n" + body,
                    encoding="utf-8")
    return path
