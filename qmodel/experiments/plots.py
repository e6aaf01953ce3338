"""Plotly figures of experiment tables: latency against one parameter (with the knee, the
SLO line and, for a makespan, its lower bound), a heat map for two, and the tornado chart of
a sensitivity table. Their numbers (knee, grid, bars) come from :mod:`.shapes`, shared with
the dashboard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..errors import QModelError
from ..model.slo import parse_slo
from .shapes import heat_grid, knee, tornado_bars

_TIME_SCALE = 1000.0  # plot times in ms
_BOUNDS = {"makespan_s": "makespan_bound_s"}  # a metric -> its analytic lower bound


def sweep_figure(table: pd.DataFrame, metric: str | None = None) -> go.Figure:
    """Metric against the swept parameter (one), a heat map (two), or one line per
    combination of the others (more). Unstable points are marked, not plotted as values."""
    metric = metric or table.attrs.get("metric", "p95_response_time_s")
    params = list(table.attrs.get("parameters", []))
    if not params:
        raise QModelError("the table has no swept parameters to plot against")
    if len(params) == 2:
        return _heatmap(table, params, metric)
    return _lines(table, params, metric)


def _scale(metric: str) -> tuple[float, str]:
    if metric.endswith("_s") and "response" in metric:
        return _TIME_SCALE, metric.removesuffix("_s") + " (ms)"
    return 1.0, metric


def _lines(table: pd.DataFrame, params: list[str], metric: str) -> go.Figure:
    scale, label = _scale(metric)
    x_name, others = params[0], params[1:]
    fig = go.Figure()
    groups = table.groupby(others, sort=False) if others else [((), table)]
    for key, group in groups:
        group = group.sort_values(x_name)
        name = ", ".join(f"{p}={v:g}" for p, v in zip(others, np.atleast_1d(key))) or metric
        x = group[x_name].to_numpy(dtype=float)
        y = group[metric].to_numpy(dtype=float) * scale
        error = None
        if f"{metric}_ci95_high" in group:
            error = dict(type="data", symmetric=False,
                         array=group[f"{metric}_ci95_high"].to_numpy() * scale - y,
                         arrayminus=y - group[f"{metric}_ci95_low"].to_numpy() * scale)
        if f"{metric}_high" in group and f"{metric}_low" in group:
            _band(fig, x, group, metric, scale, name)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, error_y=error))
        if _BOUNDS.get(metric) in group:
            fig.add_trace(go.Scatter(x=x, y=group[_BOUNDS[metric]].to_numpy(dtype=float) * scale,
                                     mode="lines", line_dash="dot",
                                     name=f"lower bound ({name})"))
        unstable = ~group["stable"].to_numpy(dtype=bool)
        if unstable.any():
            fig.add_trace(go.Scatter(x=x[unstable], y=np.full(unstable.sum(), np.nanmax(
                np.append(y, 0.0))), mode="markers", marker_symbol="x", marker_color="crimson",
                name=f"unstable ({name})"))
        k = knee(x, y)
        if k is not None and not others:
            fig.add_trace(go.Scatter(x=[x[k]], y=[y[k]], mode="markers+text", text=["knee"],
                                     textposition="top left", marker=dict(size=12),
                                     name="knee"))
    _slo_line(fig, table, metric, scale)
    fig.update_layout(title=f"{table.attrs.get('model', '')}: {label} vs {x_name}",
                      xaxis_title=x_name, yaxis_title=label, template="plotly_white")
    return fig


def _band(fig: go.Figure, x: np.ndarray, group: pd.DataFrame, metric: str, scale: float,
          name: str) -> None:
    """The 95% band of ``qmodel sweep --uncertainty`` (``METRIC_low``/``_high``): one
    filled polygon per run of points with a bounded high end; where too many samples are
    unstable for a high end, an upward marker at the low end says "unbounded"."""
    high = group[f"{metric}_high"].to_numpy(dtype=float) * scale
    low = group[f"{metric}_low"].to_numpy(dtype=float) * scale
    bounded = np.isfinite(high) & np.isfinite(low)
    runs = np.split(np.arange(len(x)), np.flatnonzero(np.diff(bounded.astype(int))) + 1)
    first = True
    for run in runs:
        if not bounded[run[0]]:
            continue
        fig.add_trace(go.Scatter(
            x=np.concatenate([x[run], x[run][::-1]]),
            y=np.concatenate([high[run], low[run][::-1]]), fill="toself", mode="lines",
            line_width=0, fillcolor="rgba(70,130,180,0.25)", hoverinfo="skip",
            legendgroup=f"band {name}", showlegend=first,
            name=f"95% band, calibrated intervals ({name})"))
        first = False
    open_ended = ~bounded & np.isfinite(low)
    if open_ended.any():
        fig.add_trace(go.Scatter(x=x[open_ended], y=low[open_ended], mode="markers",
                                 marker=dict(symbol="triangle-up", size=11,
                                             color="rgba(70,130,180,0.8)"),
                                 name=f"95% band unbounded above ({name})"))


def _slo_line(fig: go.Figure, table: pd.DataFrame, metric: str, scale: float) -> None:
    slo = table.attrs.get("slo")
    if not slo:
        return
    for clause in parse_slo(slo).clauses:
        if clause.column == metric:
            fig.add_hline(y=clause.limit * scale, line_dash="dash", line_color="firebrick",
                          annotation_text=f"SLO {clause}")


def _heatmap(table: pd.DataFrame, params: list[str], metric: str) -> go.Figure:
    scale, label = _scale(metric)
    grid = heat_grid(table, params[0], params[1], metric) * scale
    stable = heat_grid(table, params[0], params[1], "stable")
    text = np.where(stable.to_numpy(dtype=bool), "", "unstable")
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=grid.columns, y=grid.index,
                               colorbar_title=label, text=text, texttemplate="%{text}",
                               hovertemplate=f"{params[0]}=%{{x}}<br>{params[1]}=%{{y}}<br>"
                                             f"{label}=%{{z}}<extra></extra>"))
    if "meets_slo" in table:
        meets = heat_grid(table, params[0], params[1], "meets_slo").astype(float)
        fig.add_trace(go.Contour(z=meets.to_numpy(), x=meets.columns, y=meets.index,
                                 contours=dict(start=0.5, end=0.5, coloring="none"),
                                 line=dict(color="white", width=3), showscale=False,
                                 name=f"SLO {table.attrs.get('slo')}", hoverinfo="skip"))
    fig.update_layout(title=f"{table.attrs.get('model', '')}: {label}",
                      xaxis_title=params[0], yaxis_title=params[1], template="plotly_white")
    return fig


def tornado_figure(table: pd.DataFrame) -> go.Figure:
    """Tornado chart of a :func:`~qmodel.experiments.sensitivity` table: the metric at
    ``value (1 - delta)`` and ``value (1 + delta)`` of each parameter, biggest swing on top."""
    metric = table.attrs.get("metric", "metric")
    scale, label = _scale(metric)
    base = table.attrs.get("base", 0.0) * scale
    rows = tornado_bars(table).iloc[::-1]  # plotly draws the first bar at the bottom
    fig = go.Figure()
    for side, color in (("low", "steelblue"), ("high", "darkorange")):
        values = rows[f"metric_{side}"].to_numpy(dtype=float) * scale
        fig.add_trace(go.Bar(y=rows["parameter"], x=values - base, base=base, orientation="h",
                             name=f"parameter {'-' if side == 'low' else '+'}"
                                  f"{table.attrs.get('delta', 0):.0%}", marker_color=color))
    fig.add_vline(x=base, line_color="black")
    fig.update_layout(barmode="overlay", title=f"Sensitivity of {label}", xaxis_title=label,
                      template="plotly_white")
    return fig
