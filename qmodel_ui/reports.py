"""Validation reports (``loadtest``'s ``qmodel.validation/1`` JSON) shown in the page."""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

SCHEMA = "qmodel.validation/1"


def read(data: bytes) -> dict:
    """A report from an uploaded JSON file; ValueError says what is wrong with it."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"not a validation report (expected \"schema\": \"{SCHEMA}\")")
    return doc


def verdict(level: dict) -> str:
    if not level["valid"]:
        problems = [p for check in level["checks"].values() for p in check.get("problems", [])]
        return "invalid run, not compared: " + "; ".join(problems)
    if not level["predicted_stable"]:
        return "the model predicts instability: " + "; ".join(level["instability"])
    return {True: "within tolerance", False: "OUT of tolerance", None: "not gated"}[
        level["passed"]]


def rows(level: dict) -> pd.DataFrame:
    """Predicted against measured, one row per component or end-to-end metric; times in ms."""
    out = pd.DataFrame(level["rows"], columns=["scope", "metric", "measured", "predicted",
                                               "rel_error", "predicted_at_measured",
                                               "rel_error_at_measured", "within", "gate"])
    times = out["metric"].str.endswith("_s") & ~out["metric"].str.endswith("_per_s")
    for column in ("measured", "predicted", "predicted_at_measured"):
        out[column] = out[column].astype(float).where(~times, out[column].astype(float) * 1000)
    out["metric"] = out["metric"].where(~times, out["metric"].str.removesuffix("_s") + " (ms)")
    return out


def figure(report: dict) -> go.Figure:
    """End-to-end mean and p95 against load: predicted (lines) and measured (markers)."""
    levels = [lv for lv in report["levels"] if lv["predicted_stable"]]
    fig = go.Figure()
    for metric, dash in (("mean_response_s", "solid"), ("p95_response_s", "dot")):
        found = [next((r for r in lv["rows"] if r["metric"] == metric
                       and r["scope"].startswith("end-to-end")), None) for lv in levels]
        x = [lv["load"] for lv in levels]
        for key, mode in (("predicted", "lines"), ("measured", "markers")):
            fig.add_trace(go.Scatter(
                x=x, y=[r[key] * 1000 if r and r[key] is not None else None for r in found],
                mode=mode, line={"dash": dash}, marker={"size": 10},
                name=f"{metric.split('_')[0]} {key}"))
    axis = "offered utilization of the bottleneck" if report["mode"] == "open" else \
        "population (fraction of the model's)"
    fig.update_layout(height=360, xaxis_title=axis, yaxis_title="end-to-end response (ms)",
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def show(report: dict) -> None:
    """Verdict, notes, the latency-against-load chart and a table per load level."""
    (st.success if report["passed"] else st.warning)(
        f"**{report['model']}:** {'passed' if report['passed'] else 'not passed'} "
        f"(tolerance ±{report['tolerance']:.0%}, {report['mode']} loop, "
        f"{report['duration_s']:g} s windows × {report['repeats']})")
    for note in report["notes"]:
        st.caption(note)
    st.plotly_chart(figure(report), key="validation-figure")
    for level in report["levels"]:
        st.markdown(f"**load {level['load']:g}** — {verdict(level)}")
        if level["rows"]:
            st.dataframe(rows(level), width="stretch", hide_index=True)
