"""Uncertainty propagation: what the calibrated parameters' 95% intervals mean for the
predictions.

The model's ``calibration:`` section (:func:`qmodel.model.calibration.intervals`) gives
each calibrated parameter an estimate and a 95% interval. :func:`uncertainty` draws
``samples`` parameter sets and solves every one:

* each parameter independently (the section records no covariances; a calibration that
  knew one would have to say so, and this one would then be too wide or too narrow);
* from a two-piece distribution whose median is the estimate and whose 2.5% and 97.5%
  percentiles are the interval's ends: log-normal on each side (normal on a side whose
  end is 0, truncated at 0; probabilities clipped to [0, 1]; counts rounded) — so a
  prediction that is monotone in one parameter has the prediction at the interval's ends
  as its 2.5/97.5 percentiles;
* by Latin hypercube sampling (each parameter's probability range cut into ``samples``
  strata, one draw in each), so 200 samples already pin down the tails of a monotone
  prediction.

Samples are solved through :func:`qmodel.experiments.evaluate`, which takes the
vectorised fast path for open Jackson networks (200 samples in well under a second) and
``qmodel.solve`` per sample otherwise. A sample where a station saturates is *unstable*:
it is counted (``unstable`` fraction) and its latencies and queue lengths count as
infinite in the percentiles (so a high end past 2.5% unstable samples is unbounded),
never averaged in; utilizations take every sample (an unstable one's offered load, 1 or
more), throughputs the stable samples.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelError, Problem
from ..model.calibration import Interval, intervals
from ..model.model import Model
from ..model.paths import INTEGER_KINDS, apply, resolve
from ..solve import solve
from . import fastpath
from .rows import DEFAULT_QUANTILES, result_row
from .sweep import evaluate

LEVEL = 0.95
Z = float(stats.norm.ppf(0.5 + LEVEL / 2))
LOADS = ("utilization", "saturation_rate_per_s")
"""Metrics every sample has (an unstable sample's offered load is 1 or more)."""
STABLE_ONLY = ("throughput_per_s",)
"""Metrics taken over the stable samples; every other metric is infinite when unstable."""
POSITIVE = ("rate", "duration", "count", "servers")
COMPONENT_METRICS = ("utilization", "mean_response_s", "mean_in_system")


@dataclass
class Uncertainty:
    """Every metric's value at the estimates (``point``), the 2.5/97.5 percentiles over
    the samples (``low``, ``high``) and their median (``summary``, one row per metric);
    ``samples`` holds every sample's parameters and metrics; ``unstable`` is the fraction
    of samples in which a station saturates."""

    model: str
    parameters: dict[str, Interval]
    summary: pd.DataFrame
    samples: pd.DataFrame
    unstable: float
    seed: int | None
    method: str
    notes: list[str] = field(default_factory=list)

    def metric(self, name: str) -> pd.Series:
        return self.summary.loc[name]

    def to_dict(self) -> dict[str, Any]:
        rows = {name: {**{k: _plain(v) for k, v in row.items()},
                       "unbounded": bool(row["high"] == math.inf)}
                for name, row in self.summary.to_dict("index").items()}
        return {"model": self.model, "samples": len(self.samples), "seed": self.seed,
                "method": self.method, "level": LEVEL, "unstable_fraction": self.unstable,
                "parameters": {p: {"kind": i.kind, "estimate": i.estimate, "low": i.low,
                                   "high": i.high} for p, i in self.parameters.items()},
                "sampling": "independent two-piece log-normal per parameter (median: the "
                            "estimate; 2.5/97.5 percentiles: the interval), Latin hypercube",
                "metrics": rows, "notes": self.notes}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def calibrated(model: Model) -> dict[str, Interval]:
    """The model's calibrated intervals; none (or none wider than a point) is an error at
    ``calibration`` saying there is nothing to sample."""
    found = intervals(model)
    if not found:
        raise ModelError([Problem("calibration", "the model has no calibration: section with "
                                                 "intervals, so there is nothing to sample; "
                                                 "write one with qmodel calibrate "
                                                 "(docs/calibration.md)")])
    if all(i.low == i.high for i in found.values()):
        raise ModelError([Problem("calibration", "every calibrated interval has zero width: "
                                                 "there is nothing to sample")])
    return found


def draw(found: Mapping[str, Interval], samples: int, seed: int | None = 0) -> pd.DataFrame:
    """``samples`` parameter sets (columns: paths; SI units), Latin hypercube.

    >>> from qmodel.model.calibration import Interval
    >>> iv = {"nodes.app.service.mean": Interval("nodes.app.service.mean", "duration",
    ...                                          0.02, 0.018, 0.023)}
    >>> s = draw(iv, 1000, seed=1)["nodes.app.service.mean"]
    >>> [round(float(v), 4) for v in np.percentile(s, [2.5, 50, 97.5])]
    [0.018, 0.02, 0.023]
    """
    if samples < 1:
        raise ModelError([Problem("samples", f"must be a positive integer, got {samples}")])
    rng = np.random.default_rng(seed)
    columns = {}
    for path, iv in found.items():
        u = (rng.permutation(samples) + rng.uniform(size=samples)) / samples
        columns[path] = quantile(iv, u)
    return pd.DataFrame(columns)


def quantile(iv: Interval, u: np.ndarray) -> np.ndarray:
    """The two-piece distribution's quantile function at probabilities ``u``."""
    z = stats.norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
    x = np.empty_like(z)
    for side, end in ((z < 0, iv.low), (z >= 0, iv.high)):
        if end == iv.estimate:
            x[side] = iv.estimate
        elif end > 0 and iv.estimate > 0:
            x[side] = iv.estimate * np.exp(z[side] * abs(math.log(end / iv.estimate)) / Z)
        else:
            x[side] = iv.estimate + z[side] * abs(end - iv.estimate) / Z
    x = np.maximum(x, 0.0)
    if iv.kind in POSITIVE:  # a side reaching 0: the smallest positive value instead
        x = np.maximum(x, 1e-9 * max(iv.estimate, iv.high))
    if iv.kind == "probability":
        x = np.minimum(x, 1.0)
    if iv.kind in INTEGER_KINDS:
        x = np.maximum(np.round(x), 1.0)
    return x


def uncertainty(model: Model, *, samples: int = 200, seed: int | None = 0,
                quantiles: tuple[float, ...] | None = None) -> Uncertainty:
    """Sample the calibrated parameters of ``model`` and solve each sample (module text).

    ``quantiles``: the response-time percentiles to sample; default p95 and p99 on the fast
    path, none when every sample is solved on its own (a network's percentile costs about
    0.1 s a sample there; ask for them explicitly).

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
    ...     "arrivals": {"web": {"to": "app", "rate": "50/s"}},
    ...     "calibration": {"parameters": {"nodes.app.service.mean":
    ...         {"estimate": "10ms", "low": "9ms", "high": "11ms"}}}})
    >>> u = uncertainty(m, samples=400, seed=1)
    >>> row = u.metric("mean_response_time_s")          # R = S / (1 - 50 S)
    >>> [round(float(row[k]), 4) for k in ("point", "low", "high")]
    [0.02, 0.0164, 0.0244]
    """
    found = calibrated(model)
    drawn = draw(found, samples, seed)
    points = pd.concat([pd.DataFrame({p: [i.estimate] for p, i in found.items()}), drawn],
                       ignore_index=True)
    params = resolve(model, list(found))
    fast = fastpath.fast_network(model, params)
    notes = []
    if quantiles is None:
        quantiles = DEFAULT_QUANTILES if fast is not None else ()
        if fast is None:
            notes.append("response-time percentiles not sampled (no fast path for this "
                         "model): pass quantiles to have them")
    if fast is not None:
        table = evaluate(model, points, quantiles=quantiles, executor="serial", progress=False,
                         params=params)
        table = pd.concat([table, _fast_components(fast, points)], axis=1)
        method = "analytic fast path"
    else:
        table = pd.DataFrame([_solved(model, row, params, quantiles)
                              for row in points.to_dict("records")])
        table = pd.concat([points, table], axis=1)
        method = "qmodel.solve per sample"
    point, table = table.iloc[0], table.iloc[1:].reset_index(drop=True)
    summary = summarize(table, point, [c for c in table.columns if c not in found])
    unstable = float((~table["stable"].astype(bool)).mean())
    if unstable:
        notes.append(f"{unstable:.1%} of the samples are unstable (a station saturates): "
                     "counted, and infinite in the latency percentiles")
    if not bool(point["stable"]):
        notes.append("the model is unstable at its estimates")
    return Uncertainty(model.name, dict(found), summary, table, unstable, seed, method, notes)


def summarize(table: pd.DataFrame, point: pd.Series | None, metrics: list[str]
              ) -> pd.DataFrame:
    """Per numeric metric: the point value, 2.5/97.5 percentiles and median over
    ``table``'s rows (unstable rows infinite, or left out for bounded metrics)."""
    stable = table["stable"].to_numpy(dtype=bool)
    rows = {}
    for name in metrics:
        if name in ("stable", "method", "bottleneck") or \
                not pd.api.types.is_numeric_dtype(table[name]) or table[name].dtype == bool:
            continue
        values = table[name].to_numpy(dtype=float)
        if name.endswith(LOADS):
            values = values[np.isfinite(values)]
        elif name.endswith(STABLE_ONLY):
            values = values[stable & np.isfinite(values)]
        else:
            values = np.where(stable, values, np.inf)
            values = values[~np.isnan(values)]
        low, median, high = percentiles(values, (2.5, 50.0, 97.5))
        rows[name] = {"point": float(point[name]) if point is not None else np.nan,
                      "low": float(low), "median": float(median), "high": float(high)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["point", "low", "median",
                                                                 "high"])


def percentiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Linear-interpolation percentiles that stay infinite where an infinite value takes
    part (numpy's give NaN for inf - inf).

    >>> percentiles(np.array([1.0, 2.0, np.inf, np.inf]), (50, 97.5))
    [inf, inf]
    >>> percentiles(np.array([1.0, 2.0, 3.0, np.inf]), (50,))
    [2.5]
    """
    x = np.sort(np.asarray(values, dtype=float))
    if not x.size:
        return [math.nan] * len(qs)
    out = []
    for q in qs:
        pos = q / 100 * (x.size - 1)
        lo, hi = int(math.floor(pos)), int(math.ceil(pos))
        if math.isinf(x[hi]) or math.isinf(x[lo]):
            out.append(math.inf if x[hi] > 0 else float(x[lo]))
        else:
            out.append(float(x[lo] + (pos - lo) * (x[hi] - x[lo])))
    return out


def _solved(model: Model, values: dict[str, float], params, quantiles) -> dict[str, Any]:
    result = solve(apply(model, values, params))
    row = result_row(result, quantiles)
    for comp, metrics in _components(result).items():
        for key, value in metrics.items():
            row[f"nodes.{comp}.{key}"] = value
    return row


def _components(result) -> dict[str, dict[str, float]]:
    """Per component: its busiest member's utilization, the mean response per visit
    (members weighted by arrivals) and the mean number in it."""
    out: dict[str, dict[str, float]] = {}
    for node in result.nodes.values():
        entry = out.setdefault(node.component, {"utilization": 0.0, "_rw": 0.0, "_w": 0.0,
                                                "mean_in_system": 0.0})
        load = node.utilization if node.utilization is not None else node.offered_load
        entry["utilization"] = max(entry["utilization"], _num(load))
        lam = _num(node.arrival_rate)
        entry["_rw"] += lam * _num(node.mean_response)
        entry["_w"] += lam
        entry["mean_in_system"] += _num(node.mean_in_system)
    return {comp: {"utilization": e["utilization"],
                   "mean_response_s": e["_rw"] / e["_w"] if e["_w"] > 0 else math.nan,
                   "mean_in_system": e["mean_in_system"]} for comp, e in out.items()}


def _fast_components(fast: fastpath.FastNetwork, points: pd.DataFrame) -> pd.DataFrame:
    """Per-component metrics for every point of a Jackson network, from the M/M/c kernel
    (the same arrays :func:`fastpath.evaluate` builds for the system metrics)."""
    from ..solvers.mmc import erlang_c_values

    size = len(points)
    rates = np.tile(fast.rates, (size, 1))
    servers = np.tile(fast.servers, (size, 1))
    means = np.tile(fast.means, (size, 1))
    columns = {"rate": rates, "servers": servers, "mean": means}
    for path in points.columns:
        what, index = fast.targets[path]
        given = points[path].to_numpy(dtype=float)[:, None]
        columns[what][:, index] = np.where(np.isnan(given), columns[what][:, index], given)
    queue = fast.queues
    lam = (rates[:, :, None] * fast.visits[None]).sum(axis=1)          # [P, n]
    with np.errstate(divide="ignore", invalid="ignore"):
        offered = np.where(queue, lam * means / servers, 0.0)
        busy = np.where(queue, offered, lam * means)
        c = np.where(queue, servers, 1.0)
        p_wait = np.where(queue & (offered < 1), erlang_c_values(c, lam * means), 0.0)
        wait = np.where(queue, p_wait / (c / means - lam), 0.0)
        unstable = queue & (offered >= 1)
        response = np.where(unstable, np.inf, wait + means)
        in_system = np.where(unstable, np.inf, lam * response)
    out = {}
    for comp in dict.fromkeys(s.component for s in fast.network.stations):
        idx = [i for i, s in enumerate(fast.network.stations) if s.component == comp]
        flow = lam[:, idx].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"nodes.{comp}.utilization"] = np.where(queue[idx].any(),
                                                        offered[:, idx].max(axis=1),
                                                        busy[:, idx].sum(axis=1))
            out[f"nodes.{comp}.mean_response_s"] = (lam[:, idx] * response[:, idx]).sum(
                axis=1) / flow
            out[f"nodes.{comp}.mean_in_system"] = in_system[:, idx].sum(axis=1)
    return pd.DataFrame(out, index=points.index)


def sweep_bands(model: Model, table: pd.DataFrame, *, samples: int = 100,
                seed: int | None = 0) -> pd.DataFrame:
    """``table`` (a :func:`~qmodel.experiments.sweep` of ``model``) with ``METRIC_low`` and
    ``METRIC_high`` (the 95% band from the calibrated intervals) for its headline metric and
    the system metrics, and ``unstable_fraction`` per point. Every point is solved at every
    sample (one :func:`evaluate` call: the fast path takes all at once). A swept parameter
    that is also calibrated takes the sweep's values, not samples."""
    found = calibrated(model)
    swept = list(table.attrs.get("parameters", []))
    drawn = draw({p: i for p, i in found.items() if p not in swept}, samples, seed) \
        if any(p not in swept for p in found) else pd.DataFrame(index=range(samples))
    grid = table[swept].reset_index(drop=True)
    points = grid.loc[grid.index.repeat(samples)].reset_index(drop=True)
    tiled = pd.concat([drawn] * len(grid), ignore_index=True)
    points = pd.concat([points, tiled], axis=1)
    metric = table.attrs.get("metric", "p95_response_time_s")
    result = evaluate(model, points, metric=metric, quantiles=(), executor="serial",
                      progress=False, method=_sweep_method(table))
    result["_point"] = np.repeat(np.arange(len(grid)), samples)
    wanted = [c for c in (metric, "mean_response_time_s", "throughput_per_s",
                          "max_utilization") if c in result.columns]
    out = table.copy()
    for column in wanted:
        out[f"{column}_low"] = np.nan
        out[f"{column}_high"] = np.nan
    out["unstable_fraction"] = np.nan
    for i, group in result.groupby("_point"):
        summary = summarize(group, None, wanted)
        for column in wanted:
            if column in summary.index:
                out.loc[out.index[i], f"{column}_low"] = summary.loc[column, "low"]
                out.loc[out.index[i], f"{column}_high"] = summary.loc[column, "high"]
        out.loc[out.index[i], "unstable_fraction"] = float(
            (~group["stable"].astype(bool)).mean())
    out.attrs = dict(table.attrs, uncertainty={"samples": samples, "seed": seed,
                                               "parameters": list(found)})
    return out


def _sweep_method(table: pd.DataFrame) -> str:
    method = table.attrs.get("method", "auto")
    return "auto" if method in ("analytic", "exact") else method


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.item() if hasattr(value, "item") else value
