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
    if level.get("stopped"):
        return f"STOPPED, not compared: {level['stopped']}"
    if not level["valid"]:
        problems = [p for check in level["checks"].values() for p in check.get("problems", [])]
        return "invalid run, not compared: " + "; ".join(problems)
    if not level["predicted_stable"]:
        return "the model predicts instability: " + "; ".join(level["instability"])
    return {True: "within tolerance", False: "OUT of tolerance", None: "not gated"}[
        level["passed"]]


def rows(level: dict, short: bool = False) -> pd.DataFrame:
    """Predicted against measured, one row per component or end-to-end metric; times in ms.
    ``short`` (levels read from result files, predicted at the measured rate only) leaves
    out the at-measured columns; a ``note`` column says why a row is not comparable."""
    columns = ["scope", "metric", "measured", "predicted", "rel_error"] + (
        [] if short else ["predicted_at_measured", "rel_error_at_measured"]) + ["within", "gate"]
    if any(r.get("note") for r in level["rows"]):
        columns.append("note")
    out = pd.DataFrame(level["rows"], columns=columns)
    if "note" in out:
        out["note"] = out["note"].fillna("")
    times = out["metric"].str.endswith("_s") & ~out["metric"].str.endswith("_per_s")
    for column in ("measured", "predicted", "predicted_at_measured")[:2 if short else 3]:
        out[column] = out[column].astype(float).where(~times, out[column].astype(float) * 1000)
    out["metric"] = out["metric"].where(~times, out["metric"].str.removesuffix("_s") + " (ms)")
    return out


def figure(report: dict) -> go.Figure:
    """End-to-end mean and p95 against load: predicted (lines, an x at each level: one
    level alone is still seen) and measured (dots)."""
    levels = sorted((lv for lv in report["levels"] if lv["predicted_stable"]),
                    key=lambda lv: lv["load"])
    fig = go.Figure()
    for metric, dash in (("mean_response_s", "solid"), ("p95_response_s", "dot")):
        found = [next((r for r in lv["rows"] if r["metric"] == metric
                       and r["scope"].startswith("end-to-end")), None) for lv in levels]
        x = [lv["load"] for lv in levels]
        for key, mode, marker in (("predicted", "lines+markers", {"size": 8, "symbol": "x"}),
                                  ("measured", "markers", {"size": 10})):
            fig.add_trace(go.Scatter(
                x=x, y=[r[key] * 1000 if r and r[key] is not None else None for r in found],
                mode=mode, line={"dash": dash}, marker=marker,
                name=f"{metric.split('_')[0]} {key}"))
    axis = "offered utilization of the bottleneck" if report["mode"] == "open" else \
        "population (fraction of the model's)"
    if report.get("source") == "results":
        axis += " at the measured rate"
    fig.update_layout(height=360, xaxis_title=axis, yaxis_title="end-to-end response (ms)",
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def title(level: dict) -> str:
    """A level's heading: its load, or for a level read from a result file its name, the
    measured rate and the offered utilization it gives the model."""
    if level.get("label") is None:
        return f"**load {level['load']:g}** — {verdict(level)}"
    rates = ", ".join(f"{k} {v:.4g}/s" for k, v in level["achieved"].items())
    load = f", offered utilization {level['load']:.3g}" if level["load"] else ""
    return f"**{level['label']}** — measured {rates}{load} — {verdict(level)}"


def target_calibration(cal: dict) -> str:
    """A service's calibration run (``--target``) in a line: delay, demands, factor."""
    delay = (f"delay {cal['overhead_s'] * 1e3:.2f} ms" if cal.get("overhead_measured")
             else "no overhead request in the map: delay 0")
    demands = ", ".join(f"{c} client {cal.get('client_mean_s', {}).get(c, float('nan')) * 1e3:.2f}"
                        f" ms → demand {v * 1e3:.2f} ms"
                        for c, v in (cal.get("demand_s") or {}).items())
    factor = cal.get("factor")
    return (f"**Calibration** at load {cal.get('load', 0):g}: {delay}; {demands}"
            + (f"; the model's service times × {factor:.4f}" if factor else ""))


def target_lines(level: dict) -> list[str]:
    """A service level's error rates, scrape problems and unmapped metrics."""
    measured = level.get("measured") or {}
    lines = []
    if measured.get("error_rates"):
        lines.append("error rate: " + ", ".join(f"{c} {v:.2%}" for c, v in
                                                measured["error_rates"].items()))
    for component, doc in (measured.get("metrics") or {}).items():
        if component == "_scrape_errors":
            lines.append("scrape errors: " + "; ".join(doc))
            continue
        for quantity, figures in doc.items():
            if isinstance(figures, dict) and figures.get("missing"):
                lines.append(f"metrics {component}.{quantity}: {figures['missing']}")
    if measured.get("unmapped"):
        lines.append("unmapped metrics (not compared): " + ", ".join(measured["unmapped"]))
    return lines


def live(levels: list[dict], mode: str, key: str) -> None:
    """While a validation runs: each level compared so far (its verdict) and the
    latency-against-load chart of those levels."""
    for level in levels:
        st.caption(f"load {level['load']:g}: {verdict(level)}")
    if any(level["predicted_stable"] and level["rows"] for level in levels):
        st.plotly_chart(figure({"levels": levels, "mode": mode}), key=key)


def show(report: dict, key: str = "validation-figure") -> None:
    """Verdict, notes, the latency-against-load chart and a table per load level, with
    each level's source file, caveats (what its file cannot tell) and row notes."""
    results = report.get("source") == "results"
    n = len(report["levels"])
    how = (f"{n} level{'s' if n != 1 else ''} from result files" if results else
           f"{report['mode']} loop, {report['duration_s']:g} s windows × {report['repeats']}")
    (st.success if report["passed"] else st.warning)(
        f"**{report['model']}:** {'passed' if report['passed'] else 'not passed'} "
        f"(tolerance ±{report['tolerance']:.0%}, {how})")
    cal = report.get("calibration") or {}
    if cal.get("kind") == "target":
        if cal.get("stopped"):
            st.error(f"**Calibration stopped:** {cal['stopped']}; no level was run.")
        else:
            st.caption(target_calibration(cal))
    caveats = {c for level in report["levels"] for c in level.get("caveats", [])}
    for note in report["notes"]:
        if not any(note.endswith(": " + c) for c in caveats):  # shown with its level
            st.caption(note)
    if any(level["predicted_stable"] and level["rows"] for level in report["levels"]):
        st.plotly_chart(figure(report), key=key)
    for level in report["levels"]:
        st.markdown(title(level))
        source = level.get("source")
        if source:
            st.caption(f"from {source.get('file')} ({source.get('tool')})")
        for line in target_lines(level):
            st.caption(line)
        for caveat in level.get("caveats", []):
            (st.warning if "coordinated omission" in caveat else st.info)(
                f"**Caveat:** {caveat}")
        if level["rows"]:
            st.dataframe(rows(level, results), width="stretch", hide_index=True)
