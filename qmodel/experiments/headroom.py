"""Headroom: the largest load that still meets the SLO, and what breaks it first.

Every open class's rate is scaled by one factor (the class mix is kept); the boundary is
found by bisection between zero and the saturation factor, assuming — as in every open
network — that latencies and utilizations grow with load. Where the vectorised fast path
gives every metric in closed form, each round tries 32 factors at once; otherwise each
step solves one point (plain bisection).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelError, Problem
from ..model.model import Model
from ..model.paths import resolve
from ..model.slo import SLO, model_slo
from ..units import format_rate
from . import fastpath
from .loads import rate_paths
from .sweep import as_model, evaluate

RTOL = 1e-9
GRID = 32


@dataclass(frozen=True)
class Headroom:
    """``factor`` × today's open arrival rates is the most the SLO allows."""

    factor: float
    rate: float
    rates: dict[str, float]
    current_rate: float
    saturation_rate: float
    slo: SLO
    limiting: str | None
    bottleneck: str | None
    metrics: dict[str, Any]

    @property
    def headroom(self) -> float:
        """Extra load the SLO allows, as a fraction of today's (0.25 = 25% more)."""
        return self.factor - 1.0

    def __str__(self) -> str:
        what = f"; then {self.limiting} fails first" if self.limiting else ""
        where = f", bottleneck nodes.{self.bottleneck}" if self.bottleneck else ""
        return (f"{format_rate(self.rate)} meets {self.slo} ({self.factor:.4g}x today's "
                f"{format_rate(self.current_rate)}){what}{where}")

    def to_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "rate": self.rate, "rates": self.rates,
                "current_rate": self.current_rate, "saturation_rate": self.saturation_rate,
                "slo": str(self.slo), "limiting": self.limiting, "bottleneck": self.bottleneck,
                "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                            for k, v in self.metrics.items()}}


def headroom(model: Model | str, slo: str | list[str] | SLO | None = None,
             method: str = "analytic") -> Headroom:
    """The largest total open arrival rate (today's class mix) meeting ``slo`` (default:
    the model's ``slo:``), the clause that fails beyond it and the busiest component there.

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"cpu": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"jobs": {"to": "cpu", "rate": "50/s"}}})
    >>> h = headroom(m, "mean < 50ms")          # M/M/1: 1/(mu - lam) < 50ms -> lam < 80/s
    >>> round(h.rate, 6), h.limiting, h.bottleneck
    (80.0, 'mean < 50ms', 'cpu')
    """
    model = as_model(model)
    target = model_slo(model, slo)
    if target is None:
        raise ModelError([Problem("slo", "headroom needs an SLO: pass one or give the model "
                                         "an slo: field")])
    rates = rate_paths(model)
    if not rates:
        raise ModelError([Problem("arrivals", "headroom scales the open classes' rates; "
                                              "this model has none")])
    params = resolve(model, list(rates))
    fast = fastpath.fast_network(model, params)
    closed_form = fast is not None and (fastpath.is_single_station(fast) or not target.quantiles)
    grid = GRID if closed_form else 1

    def rows(factors: np.ndarray) -> list[dict[str, Any]]:
        points = pd.DataFrame({p: r * factors for p, r in rates.items()})
        table = evaluate(model, points, metric="mean", slo=target, method=method, quantiles=(),
                         executor="serial", progress=False, params=params, components=True)
        return table.to_dict("records")

    base = rows(np.array([1.0]))[0]
    saturation = base["saturation_rate_per_s"] / sum(rates.values())
    hi = saturation if math.isfinite(saturation) else _upper(rows)
    lo, scale = 0.0, hi
    best = None
    while hi - lo > RTOL * scale:
        factors = lo + (hi - lo) * np.arange(1, grid + 1) / (grid + 1)
        results = rows(factors)
        ok = [bool(r["meets_slo"]) for r in results]
        below = [i for i, good in enumerate(ok) if good]
        last = below[-1] if below else -1
        if last >= 0:
            lo, best = float(factors[last]), results[last]
        hi = float(factors[last + 1]) if last + 1 < grid else hi
    beyond = rows(np.array([hi]))[0]
    failing = target.failing(beyond)
    at = best if best is not None else beyond
    station = at.get("bottleneck") or beyond.get("bottleneck")
    component = model.network.station(station).component if station else None
    total = sum(rates.values())
    return Headroom(lo, lo * total, {p: r * lo for p, r in rates.items()}, total,
                    saturation * total, target, str(failing[0]) if failing else None,
                    component, at)


def _upper(rows) -> float:
    """A load factor that fails the SLO, for models without a saturation point."""
    factor = 1.0
    while rows(np.array([factor]))[0]["meets_slo"]:
        factor *= 2.0
        if factor > 1e12:
            raise ModelError([Problem("slo", "the SLO holds at any load; nothing to bound")])
    return factor
