"""Solve: end-to-end metrics and a per-component table, with the method behind each
number; for a model with a ``calibration:`` section, each metric's 95% interval from
sampling the calibrated parameters (``qmodel.experiments.uncertainty``); simulate the same
model to see analytic and simulated side by side, and record one replication's jobs
visit by visit."""

from __future__ import annotations

import json

import streamlit as st

from qmodel.methods import SOLVE
from qmodel_ui import jobs, outcome, records, views, work

cur = views.require_model()
st.title("Solve")
method = st.selectbox("Method", SOLVE, key="method", bind="query-params",
                      help="auto picks the exact method when there is one.")
res = views.solved(cur, method)
if res is None:
    st.stop()
views.show_instability(res, cur.model)
outcome.show_slo(cur.text, method)
views.system_metrics(res)
st.subheader("End to end")
st.dataframe(views.system_table(res), width="content")
if len(res.get("classes", {})) > 1:
    st.subheader("Per class")
    st.dataframe(outcome.class_table(res), width="stretch")
st.subheader("Per station")
table = views.node_table(res)
st.dataframe(views.node_table(res, words=True), width="stretch")
for note in outcome.notes(res):
    st.caption(f"note: {note}")
views.downloads(f"{cur.name}-solution", json.dumps(res, indent=2), table)
views.calibration_intervals(cur, res["time_unit"])

st.subheader("Simulation")
network = cur.model.network
batch_only = len(network.batch_classes) == len(network.classes)
a, b, c = st.columns(3)
replications = a.number_input("Replications", 1, 100, 5, key="replications")
seed = b.number_input("Seed", 0, 2**31 - 1, 1, key="seed")
customers = None if batch_only else int(c.number_input(
    "Jobs per replication", 1000, 1_000_000, 20_000, step=1000, key="customers"))
if batch_only:
    c.caption("Each replication runs until the batches are done.")
clicked = st.button("Simulate", type="primary", key="simulate")
job = jobs.run("simulate", work.simulate, cur.text, int(replications), int(seed),
               customers, start=clicked, fresh=clicked, label="Simulating",
               live=lambda points: outcome.converging(points, res["time_unit"]))
if job is None:
    st.stop()
if job.status != "done":
    (st.warning if job.status == "cancelled" else st.error)(f"Simulation: {job.value}")
    st.stop()
sim = job.value["result"]
if sim.get("partial"):
    st.warning(outcome.stopped_early(sim))
views.show_instability(sim, cur.model)
st.caption("Simulated, with the change from the analytic value:")
views.system_metrics(sim, baseline=res)
if len(sim.get("classes", {})) > 1:
    st.dataframe(outcome.class_table(sim), width="stretch")
if network.batch_classes:
    st.dataframe(views.batch_table(sim, res), width="content")
else:
    st.dataframe(views.agreement(job.value["compare"], res["time_unit"]), width="stretch",
                 column_config={"agrees": st.column_config.CheckboxColumn(
                     help="The analytic value lies in the 95% interval or within 5%.")})
for note in outcome.notes(sim):
    st.caption(f"note: {note}")
views.downloads(f"{cur.name}-simulation", json.dumps(sim, indent=2), views.node_table(sim))
outcome.response_distribution(job.value["cdf"], cur.name, res["time_unit"])
records.job_records(cur, int(seed), batch_only)
