"""Sensitivity: which parameters move the chosen metric most (a tornado chart)."""

from __future__ import annotations

import streamlit as st

from qmodel_ui import charts, jobs, views, work
from qmodel_ui.sweeps import METRICS, metric_scale, shown_sensitivity

cur = views.require_model()
st.title("Sensitivity")
a, b, c = st.columns(3)
metric = a.selectbox("Metric", list(METRICS), format_func=METRICS.get, key="se_metric",
                     bind="query-params")
percent = b.slider("Step (± % of each value)", 1, 50, 10, key="se_step", bind="query-params")
top = c.slider("Show the top", 3, 30, 12, key="se_top", bind="query-params")
st.caption("Each parameter is moved down and up by the step, one at a time, and the model "
           "solved again; the elasticity is the % change of the metric per % change of the "
           "parameter.")
job = jobs.run("sensitivity", work.sensitivity, cur.text, metric, percent / 100,
               label="Solving each variation")
if job is None:
    st.stop()
if job.status != "done":
    st.error(f"**Sensitivity:** {job.value}")
    st.stop()
frame = job.value
_, scale, unit = metric_scale(metric, cur.model.time_unit)
label = f"{METRICS[metric]} ({unit})" if unit else METRICS[metric]
a, b = st.columns(2)
a.metric(f"{label} now", f"{frame.attrs['base'] * scale:.4g}")
b.metric(f"most influential on {METRICS[metric]}", frame["parameter"].iloc[0],
         f"elasticity {frame['elasticity'].iloc[0]:+.3g}", delta_color="off")
views.chart(charts.tornado(frame, scale, label, top),
            f"{cur.name}-sensitivity-{metric}", "tornado")
st.dataframe(shown_sensitivity(frame, scale, label, cur.model.time_unit), width="stretch",
             hide_index=True)
views.downloads(f"{cur.name}-sensitivity", frame.to_json(orient="records"), frame)
