"""What-if: a metric over a range of one parameter (a curve with the SLO line and the knee,
and a slider that walks along it) or of two (a heat map)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import qmodel
from qmodel.experiments.ranges import require_units
from qmodel.model.paths import catalogue
from qmodel.model.slo import parse_slo
from qmodel_ui import charts, jobs, views, work
from qmodel_ui.sweeps import (
    METRICS,
    NONE,
    axis,
    default_range,
    metric_scale,
    shown,
    slo_limit,
    sweepable,
)


@st.fragment
def explore(frame: pd.DataFrame, key: str, x_label: str, label: str, slo: float | None,
            name: str) -> None:
    """The slider and what it moves: only this part reruns when the slider does."""
    values = [float(v) for v in frame["_x"]]
    at = st.select_slider("Explore along the curve", values, value=values[len(values) // 2],
                          key=key, format_func=lambda v: f"{v:.4g}")
    row = frame[frame["_x"] == at].iloc[0]
    views.chart(charts.curve(frame, "_x", "_m", x_label=x_label, y_label=label, slo=slo,
                             marker=at), name, "whatif-curve")
    cols = st.columns(4)
    cols[0].metric(f"{label} at {at:.4g}",
                   "unstable" if row["_m"] != row["_m"] else f"{row['_m']:.4g}")
    cols[1].metric("max utilization", f"{row['max_utilization']:.3g}")
    cols[2].metric("bottleneck", str(row["bottleneck"]))
    if "meets_slo" in frame:
        cols[3].metric("meets the SLO", "yes" if row["meets_slo"] else "no")


cur = views.require_model()
st.title("What-if")
res = views.solved(cur)
tu = cur.model.time_unit
params = sweepable(catalogue(cur.model))
paths = sorted(params, key=lambda path: params[path].kind != "rate")  # load first

a, b = st.columns(2)
x = a.selectbox("Vary", paths, key="wi_x", bind="query-params")
x_range = b.text_input("over", default_range(params[x], cur.model, res), key=f"wi_range_{x}",
                       bind="query-params",
                       help="LOW..HIGH:N (N values), LOW..HIGH:logN, 1..16 (whole numbers) or "
                            "a list [A, B]; rates and durations with their unit (50/s, 20ms).")
c, d = st.columns(2)
y = c.selectbox("…and (for a heat map)", [NONE] + [p for p in paths if p != x], key="wi_y",
                bind="query-params")
y_range = d.text_input("over", default_range(params[y], cur.model, res),
                       key=f"wi_range_{y}", bind="query-params") if y != NONE else ""
e, f = st.columns(2)
metric = e.selectbox("Metric", list(METRICS), format_func=METRICS.get, key="wi_metric",
                     bind="query-params")
own_slo = cur.model.spec.slo
slo_text = f.text_input("SLO", " and ".join(own_slo) if isinstance(own_slo, list) else
                        own_slo or "", key="wi_slo", bind="query-params",
                        placeholder="p95 < 200ms").strip()
try:
    slo = parse_slo(slo_text, tu) if slo_text else None
except qmodel.ModelError as exc:
    views.show_problems(exc.problems, "The SLO cannot be read")
    st.stop()

ranges = ((x, x_range),) + (((y, y_range),) if y != NONE else ())
try:
    for path, text in ranges:
        require_units(params[path], text, tu)
except qmodel.ModelError as exc:
    views.show_problems(exc.problems, "The range cannot be read")
    st.stop()
job = jobs.run("whatif", work.sweep, cur.text, ranges, metric, slo_text, label="Sweeping")
if job is None:
    st.stop()
if job.status != "done":
    st.error(f"**Sweep:** {job.value}")
    st.stop()
table = job.value
column, scale, unit = metric_scale(metric, tu)
label = f"{METRICS[metric]} ({unit})" if unit else METRICS[metric]
x_label, x_scale = axis(params[x], tu)
frame = table.assign(_x=table[x] * x_scale, _m=table[column] * scale)
name = f"{cur.name}-{metric}"
if y != NONE:
    y_label, y_scale = axis(params[y], tu)
    frame["_y"] = frame[y] * y_scale
    views.chart(charts.heatmap(frame, "_x", "_y", "_m", x_label=x_label, y_label=y_label,
                               z_label=label), name, "whatif-heatmap")
else:
    explore(frame, f"wi_at-{x}-{x_range}", x_label, label,
            slo_limit(slo.clauses, metric, tu) if slo else None, name)
st.dataframe(shown(table, params, tu), width="stretch", hide_index=True)
views.downloads(name, table.to_json(orient="records"), table)
