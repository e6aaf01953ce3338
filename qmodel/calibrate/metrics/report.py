"""The calibration report of :func:`~qmodel.calibrate.metrics.from_metrics`: JSON
(:meth:`Calibration.to_json`) or one self-contained HTML page (plotly, offline) with, per
resource, the measured busy servers against the fitted sum of throughput x demand over
time, the residuals, the estimates with their intervals, and the warnings."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ...errors import ModelError, Problem
from .calibrate import MetricsCalibration

FORMATS = (".html", ".json")


def write_report(calibration: MetricsCalibration, path: str | Path) -> Path:
    """Write the report as ``.html`` or ``.json`` (by the suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ModelError([Problem("--report", f"cannot write {path.name!r}; use a name ending "
                                              f"in {', '.join(FORMATS)}")])
    text = calibration.to_json() if suffix == ".json" else report_html(calibration)
    path.write_text(text, encoding="utf-8")
    return path


def report_html(calibration: MetricsCalibration) -> str:
    """The HTML page (plotly.js included: it opens offline)."""
    parts = [f"<h1>Calibration of {html.escape(calibration.model.name)}</h1>",
             f"<p>{html.escape(calibration.source)}</p>"]
    if calibration.warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(
            f"<li>{html.escape(w)}</li>" for w in calibration.warnings) + "</ul>")
    parts.append("<h2>Estimates (95% intervals)</h2>" + _table(calibration))
    figure = _figure(calibration)
    if figure is not None:
        parts.append("<h2>Fit per resource</h2>")
        parts.append(figure.to_html(full_html=False, include_plotlyjs=True))
    if calibration.assumptions:
        parts.append("<h2>Assumptions</h2><ul>" + "".join(
            f"<li>{html.escape(a)}</li>" for a in calibration.assumptions) + "</ul>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>qmodel calibration"
            "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
            "collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            "td:first-child{text-align:left}</style></head><body>" + "".join(parts) +
            "</body></html>")


def _table(calibration: MetricsCalibration) -> str:
    rows = ["<table><tr><th>parameter</th><th>estimate</th><th>low</th><th>high</th>"
            "<th>n</th><th>method</th></tr>"]
    for e in calibration.estimates:
        scale, unit = (1e3, " ms") if e.unit == "s" else (1.0, " /s" if e.unit == "1/s" else "")
        cells = [_number(v, scale, unit) for v in (e.value, e.low, e.high)]
        rows.append(f"<tr><td>{html.escape(e.path)}</td><td>{cells[0]}</td><td>{cells[1]}</td>"
                    f"<td>{cells[2]}</td><td>{e.n if e.n is not None else ''}</td>"
                    f"<td style='text-align:left'>{html.escape(e.method)}</td></tr>")
    return "".join(rows) + "</table>"


def _number(value: float | None, scale: float, unit: str) -> str:
    if value is None or not np.isfinite(value):
        return "unbounded" if value is not None and value > 0 else "—"
    return f"{value * scale:.4g}{unit}"


def _figure(calibration: MetricsCalibration) -> go.Figure | None:
    fits = [f for f in calibration.fits if np.isfinite(f.measured).any()]
    series = calibration.series
    if not fits or series is None:
        return None
    fig = make_subplots(rows=len(fits), cols=2, column_widths=[0.7, 0.3],
                        subplot_titles=[t for f in fits for t in
                                        (f"{f.component}: busy servers, measured and fitted",
                                         f"{f.component}: residuals")])
    t = series.start - series.start[0]
    for i, fit in enumerate(fits, 1):
        fig.add_trace(go.Scatter(x=t, y=fit.measured, mode="markers", name="measured",
                                 legendgroup="measured", showlegend=i == 1,
                                 marker_color="steelblue"), row=i, col=1)
        fig.add_trace(go.Scatter(x=t, y=fit.fitted, mode="lines", name="fitted Σ X·D",
                                 legendgroup="fitted", showlegend=i == 1,
                                 line_color="darkorange"), row=i, col=1)
        fig.add_trace(go.Scatter(x=fit.fitted, y=fit.residuals, mode="markers",
                                 name="residual", legendgroup="residual", showlegend=i == 1,
                                 marker_color="gray"), row=i, col=2)
        fig.update_xaxes(title_text="time (s)", row=i, col=1)
        fig.update_xaxes(title_text="fitted busy servers", row=i, col=2)
        fig.update_yaxes(title_text="busy servers", row=i, col=1)
    fig.update_layout(height=320 * len(fits), template="plotly_white")
    return fig
