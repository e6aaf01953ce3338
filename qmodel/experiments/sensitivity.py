"""Sensitivity: how much a metric moves per relative change of each parameter.

The elasticity of metric ``M`` to parameter ``x`` is ``(dM/M) / (dx/x)``, estimated at the
model's operating point by central differences at ``x (1 ± delta)``; an elasticity of 2
means 1% more ``x`` gives 2% more ``M``. Integer parameters step by ``max(1, delta x)``
units. Where one side is not a valid model (a probability above 1, zero servers) the
difference is one-sided. The same runs give the one-at-a-time range of the metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelError, Problem, QModelError
from ..model.fields import value_at
from ..model.model import Model
from ..model.paths import Parameter, apply, catalogue, resolve
from .rows import metric_column
from .sweep import as_model, evaluate

DEFAULT_KINDS = ("rate", "duration", "count", "servers", "probability")


def sensitivity(model: Model | str, metric: str = "p95_response_time", delta: float = 0.05,
                parameters: Iterable[str] | None = None, *, method: str = "analytic",
                replications: int = 10, seed: int | None = 0, executor: str = "serial",
                scheduler: Any = None, progress: Any = None) -> pd.DataFrame:
    """Elasticities of ``metric`` at the operating point, sorted by magnitude.

    ``parameters`` defaults to every rate, time, count and routing probability set in the
    model that can move at least one way. Columns: ``parameter``, ``value`` (SI units),
    ``low`` / ``high`` (the values tried), ``metric_low`` / ``metric_high``,
    ``elasticity``, ``swing`` (``metric_high - metric_low``) and ``note``;
    ``attrs["base"]`` is the metric at the operating point.

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"cpu": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"jobs": {"to": "cpu", "rate": "50/s"}}})
    >>> s = sensitivity(m, "mean_response_time", delta=1e-4)
    >>> s.set_index("parameter")["elasticity"].round(4).to_dict()   # rho/(1-rho) = 1
    {'nodes.cpu.service': 2.0, 'arrivals.jobs.rate': 1.0}
    """
    model = as_model(model)
    if not 0 < delta < 1:
        raise ModelError([Problem("delta", f"must lie between 0 and 1, got {delta!r}")])
    try:
        column = metric_column(metric)
    except ValueError as exc:
        raise ModelError([Problem("metric", str(exc))]) from None
    params = resolve(model, list(parameters)) if parameters is not None else _defaults(model)
    lows, highs = {}, {}
    for path, p in list(params.items()):
        lows[path], highs[path] = _steps(model, p, delta)
        if parameters is None and math.isnan(lows[path]) and math.isnan(highs[path]):
            del params[path]  # e.g. the only route out of a node: nothing to vary
    rows: list[dict[str, float]] = [{}]
    for path in params:
        rows += [{path: lows[path]}, {path: highs[path]}]
    points = pd.DataFrame(rows, columns=list(params), dtype=float)
    table = evaluate(model, points, metric=metric, method=method, replications=replications,
                     seed=seed, executor=executor, scheduler=scheduler, progress=progress,
                     params=params)
    values = table[column].to_numpy(dtype=float)
    base = values[0]
    if not math.isfinite(base):
        why = "the model is unstable there; sensitivity needs a stable model" \
            if not table["stable"].iloc[0] else \
            f"the method gave none ({table['method'].iloc[0]}); choose another " \
            "metric, or simulate"
        raise QModelError(f"{column} is not available at the operating point: {why}")
    out = []
    for k, (path, p) in enumerate(params.items()):
        out.append(_row(p, lows[path], highs[path], base, values[2 * k + 1], values[2 * k + 2]))
    frame = pd.DataFrame(out)
    order = np.argsort(-np.nan_to_num(frame["elasticity"].abs().to_numpy(), nan=-1.0),
                       kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    frame.attrs.update(kind="sensitivity", metric=column, base=float(base), delta=delta, model=model.name,
                       partial=table.attrs.get("partial", False),
                       stopped=table.attrs.get("stopped", 0))
    return frame


def _defaults(model: Model) -> dict[str, Parameter]:
    """Every rate, time, count and probability the model file sets (not one it leaves to
    its default, such as the probability 1 of a node's only route); one path per
    distribution mean."""
    out = {}
    document = model.to_dict()
    for path, p in catalogue(model).items():
        if p.kind not in DEFAULT_KINDS or p.value is None or not math.isfinite(p.value) \
                or p.value <= 0 or path.endswith(".mean") or path.split(".")[-1] in (
                    "low", "high", "scale", "value") \
                or value_at(document, p.where or p.path) is None:
            continue
        out[path] = p
    return out


def _steps(model: Model, p: Parameter, delta: float) -> tuple[float, float]:
    """The values below and above ``p.value`` (NaN where that side is not a valid model)."""
    x = float(p.value)
    step = max(1.0, round(delta * x)) if p.integer else delta * x
    return _valid(model, p, x - step), _valid(model, p, x + step)


def _valid(model: Model, p: Parameter, x: float) -> float:
    if x <= 0 or (p.kind == "probability" and x > 1):
        return math.nan
    try:
        apply(model, {p.path: x}, {p.path: p})
    except ModelError:
        return math.nan
    return x


def _row(p: Parameter, low: float, high: float, base: float, m_low: float,
         m_high: float) -> dict[str, Any]:
    x = float(p.value)
    lo_x, lo_m = (low, m_low) if math.isfinite(low) else (x, base)
    hi_x, hi_m = (high, m_high) if math.isfinite(high) else (x, base)
    note = ""
    if not (math.isfinite(low) and math.isfinite(high)):
        note = "one-sided: " + ("no valid lower value" if not math.isfinite(low) else
                                "no valid upper value")
    if not (math.isfinite(lo_m) and math.isfinite(hi_m)):
        note = "unstable at " + ("the lower" if not math.isfinite(lo_m) else "the upper") + \
            " value"
    elasticity = math.nan
    if hi_x != lo_x and math.isfinite(lo_m) and math.isfinite(hi_m):
        elasticity = (hi_m - lo_m) / base / ((hi_x - lo_x) / x)
    return {"parameter": p.path, "kind": p.kind, "value": x, "low": low, "high": high,
            "metric_low": m_low, "metric_high": m_high, "elasticity": elasticity,
            "swing": m_high - m_low, "note": note}
