"""What a solved model means for its user, on the Solve page: each class end to end,
whether the model's SLO is met (with the value of each clause), and the response-time
distribution per class, analytic beside simulated."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

import qmodel
from qmodel.experiments.rows import result_row
from qmodel.model.slo import Clause, model_slo
from qmodel.results import grouped_notes
from qmodel.sim import distribution
from qmodel.units import TIME_UNITS, format_duration, human_rate

from . import state
from .views import chart, fmt, rates_per, unit

SHOWN_PERCENTILES = (0.5, 0.95, 0.99, 0.999)

CLASS_COLUMNS = (("throughput", "throughput", "rate"),
                 ("mean response", "mean_response_time", "time"),
                 ("p95 response", "p95_response_time", "time"))


def class_table(res: dict) -> pd.DataFrame:
    """One row per class, end to end: throughput, mean and p95 response (with 95%
    intervals from a simulation), in the view's units; ``unstable`` where it has none."""
    tu, per = res["time_unit"], rates_per(res)
    missing = "—" if res["stable"] else "unstable"
    rows = []
    for name, c in res.get("classes", {}).items():
        row = {"class": name, "kind": c["kind"],
               "population": "" if c.get("population") is None else str(c["population"])}
        for label, key, kind in CLASS_COLUMNS:
            row[f"{label} ({unit(kind, tu, per)})"] = fmt(c.get(key), kind, tu, per=per,
                                                          missing=missing)
        row["method"] = (c.get("mean_response_time") or {}).get("method", "")
        rows.append(row)
    return pd.DataFrame(rows).set_index("class")


def stopped_early(sim: dict) -> str:
    """Why a simulation's result is partial: a limit of the run (the event budget, or
    too many jobs at once: its note says what to change) or a stop asked for (the
    replications that finished).

    >>> stopped_early({"notes": ["stopped after 1,000,000 events (the event budget, ..."]})
    'Stopped at a limit of the run: this is what was simulated before it; see the note below.'
    >>> stopped_early({"notes": []})
    'Stopped early: these are the replications that finished.'
    """
    from qmodel.results import LIMIT_NOTE

    if any(note.startswith(LIMIT_NOTE) for note in sim.get("notes", [])):
        return ("Stopped at a limit of the run: this is what was simulated before it; "
                "see the note below.")
    return "Stopped early: these are the replications that finished."


def notes(res: dict) -> list[str]:
    """The result's notes, each once (:func:`qmodel.results.grouped_notes`)."""
    return grouped_notes(res["notes"], not res["stable"])


@st.cache_data(show_spinner=False, max_entries=256)
def slo_check(text: str, method: str = "auto") -> dict | None:
    """The model's ``slo:`` against its analytic solution: the SLO, whether it is met and
    each clause with its value (None when the model has no SLO)."""
    model = state.parse(text)
    target = model_slo(model, None)
    if target is None:
        return None
    result = qmodel.solve(model, method)
    row = result_row(result, target.quantiles, wait_quantiles=target.wait_quantiles)
    return {"slo": str(target), "met": bool(target.met(row)), "time_unit": model.time_unit,
            "clauses": [{"clause": str(c), "value": _shown(c, row.get(c.column, math.nan),
                                                           model.time_unit),
                         "met": bool(c.holds(row.get(c.column, math.nan)))}
                        for c in target.clauses]}


def _shown(clause: Clause, value: float, time_unit: str) -> str:
    if value is None or math.isnan(value):
        return "none (no steady state, or no analytic value for it)"
    if clause.metric == "utilization":
        return f"{value:.3g}"
    if clause.metric == "throughput":
        return human_rate(value)
    return format_duration(value, time_unit)


def show_slo(text: str, method: str = "auto") -> None:
    """A green or red line: the model's SLO, met or missed, with each clause's value."""
    check = slo_check(text, method)
    if check is None:
        return
    parts = "; ".join(f"{c['clause'].split()[0]} = {c['value']}"
                      + ("" if c["met"] else f" (needs {c['clause']})")
                      for c in check["clauses"])
    if check["met"]:
        st.success(f"**SLO met:** {check['slo']} — {parts}")
    else:
        st.error(f"**SLO missed:** {check['slo']} — {parts}")



def response_distribution(frame: pd.DataFrame, name: str, time_unit: str) -> None:
    """The response-time CDF per class (simulated with its 95% band, analytic dashed) or
    its histogram, and the chosen percentiles of each, in the model's ``time_unit``; nothing for an empty
    ``frame`` (no class has quantiles)."""
    if frame.empty:
        return
    st.subheader("Response-time distribution")
    scale = 1 / TIME_UNITS[time_unit]
    chosen = st.multiselect("Percentiles", list(distribution.PERCENTILES),
                            list(SHOWN_PERCENTILES), format_func=distribution.label,
                            key="percentiles",
                            help="Simulated: the mean over replications of each "
                                 "replication's percentile, with its 95% interval. A high "
                                 "percentile needs many jobs per replication.")
    if chosen:
        sources = dict.fromkeys(frame["source"])
        st.dataframe(distribution.percentile_table(frame, sorted(chosen), scale),
                     hide_index=True, width="stretch", key="percentile-table",
                     column_config={c: st.column_config.NumberColumn(
                         f"{c} ({time_unit})", format="%.4g") for c in sources})
    view = st.radio("View", ["CDF", "Histogram"], horizontal=True, key="distribution-view",
                    help="Histogram: the probability between two consecutive percentiles "
                         "over their distance, so bins hold equal shares of the jobs.")
    if view == "CDF":
        chart(distribution.cdf_figure(frame, time_unit, scale), f"{name}-response-cdf",
              "response-cdf")
    else:
        chart(distribution.histogram_figure(frame, time_unit, scale),
              f"{name}-response-histogram", "response-histogram")
    if "analytic" not in set(frame["source"]):
        st.caption("No analytic curve: the method gives means, not a distribution.")


def converging(points: list[dict], time_unit: str) -> None:
    """While a simulation runs: its estimates after each replication so far
    (:func:`qmodel_ui.charts.convergence`) and how wide the mean's interval is now."""
    from qmodel_ui.charts import convergence

    last = points[-1]
    band = last["mean_response_s_ci95"]
    if band is not None and last["mean_response_s"]:
        half = (band[1] - band[0]) / 2 / last["mean_response_s"]
        st.caption(f"after {last['replications']} replications: mean response "
                   f"± {half:.1%} (95%)")
    st.plotly_chart(convergence(points, time_unit, 1 / TIME_UNITS[time_unit]),
                    key="live-convergence", config={"displaylogo": False})
