"""Capacity plan: an SLO and a load in; the cheapest configuration and its headroom out."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from qmodel.experiments.planning import KNOBS
from qmodel_ui import jobs, state, views, work


def _now(doc: dict, path: str) -> str:
    """The value a knob (``nodes.app.servers``) has in the model file."""
    return str(doc["nodes"][path.split(".")[1]].get(path.split(".")[2], 1))


cur = views.require_model()
st.title("Capacity plan")
doc = cur.model.to_dict()
offered = sum(c.rate for c in cur.model.network.open_classes)
own_slo = cur.model.spec.slo
a, b, c = st.columns(3)
slo = a.text_input("SLO", " and ".join(own_slo) if isinstance(own_slo, list) else own_slo or "",
                   key="pl_slo", bind="query-params", placeholder="p95 < 200ms").strip()
load = b.text_input("Load", f"{offered:.6g}/s" if offered else "", key="pl_load",
                    bind="query-params", help="A total rate (800/s, shared in today's class "
                    "mix) or a factor (2x).", disabled=not offered).strip()
ceiling = c.slider("Max utilization of any station", 0.5, 1.0, 0.8, 0.05, key="pl_util",
                   bind="query-params")
knobs = pd.DataFrame([{"component": f"nodes.{name}", "capacity": KNOBS[node["kind"]],
                       "now": _now(doc, f"nodes.{name}.{KNOBS[node['kind']]}"), "cost per unit": 1.0}
                      for name, node in doc["nodes"].items() if node["kind"] in KNOBS])
st.caption("Cost per unit of capacity; 0 keeps a component as it is.")
costs = st.data_editor(knobs, key="pl_costs", hide_index=True, width="stretch",
                       disabled=["component", "capacity", "now"],
                       column_config={"cost per unit": st.column_config.NumberColumn(
                           min_value=0.0, step=0.5)})
priced = tuple((row["component"], float(row["cost per unit"]))
               for row in costs.to_dict("records") if row["cost per unit"])
job = jobs.run("plan", work.plan, cur.text, slo, load, priced, float(ceiling),
               label="Searching configurations")
if job is None:
    st.stop()
if job.status != "done":
    st.error(f"**No plan:** {job.value}")
    st.stop()
found = job.value["plan"]
metrics = found["metrics"]
tu = cur.model.time_unit
cols = st.columns(5)
cols[0].metric("cost", f"{found['cost']:g}")
cols[1].metric("load (/s)", f"{sum(found['load'].values()):.4g}")
for col, (label, column) in zip(cols[2:], (("mean", "mean_response_time_s"),
                                           ("p95", "p95_response_time_s"))):
    col.metric(f"{label} response ({tu})", views.fmt({"value": metrics.get(column)}, "time", tu))
cols[4].metric("max utilization", f"{metrics['max_utilization']:.3g}")
st.dataframe(pd.DataFrame([{"capacity": path, "now": _now(doc, path),
                            "planned": value, "lower bound": found["lower_bounds"][path]}
                           for path, value in found["configuration"].items()]),
             width="stretch", hide_index=True)
clicked = st.button("Find the headroom of this plan", key="pl_headroom",
                    help="The largest load (today's mix) that still meets the SLO: a search "
                         "that can take a while for percentile SLOs.")
room = jobs.run("headroom", work.headroom, job.value["yaml"], slo, start=clicked,
                fresh=clicked, label="Finding the headroom of the plan")
if room is not None and room.status == "done":
    st.success(f"**Headroom of the plan:** {room.value['factor'] - 1:+.1%} more load — "
               f"{room.value['text']}.")
elif room is not None:
    st.info(f"**No headroom figure:** {room.value}")
changes = {path: str(value) for path, value in found["configuration"].items()}
changes |= {path: f"{rate:.6g}/s" for path, rate in found["load"].items()}
if st.button("Use this configuration", type="primary", key="pl_use"):
    trial = state.changed(cur, changes)
    state.set_scenario(trial.scenario)
    st.rerun()
x, y = st.columns(2)
x.download_button("Planned model (YAML)", job.value["yaml"].encode(), f"{cur.name}-plan.yaml",
                  "application/yaml", on_click="ignore")
y.download_button("Plan (JSON)", json.dumps(found, indent=2).encode(), f"{cur.name}-plan.json",
                  "application/json", on_click="ignore")
