"""Load over time: a rate profile (spike, step, ramp, sine) on an open class, simulated per
time bin from an empty system: the rate, jobs in system and response time over time with
95% bands and, for a single M/M/c queue, the analytic transient lines; the peak and the
recovery after a spike (docs/time-varying.md)."""

from __future__ import annotations

import json

import streamlit as st

import qmodel
from qmodel.results import finite_json
from qmodel.units import parse_duration
from qmodel_ui import jobs, overtime, views, work

KEEP = "as in the model"

cur = views.require_model()
st.title("Load over time")
st.caption("Load tests are about time: how fast a queue builds during a spike, how long it "
           "takes to drain. Give an open class a rate profile and simulate from an empty "
           "system, bin by bin, with 95% bands over replications.")
classes = {c.name: c for c in cur.model.network.open_classes}
if not classes:
    st.info("This model has no open class (`arrivals:`): a rate profile is the arrival "
            "rate of one. Pick a model with arrivals on the **Model** page.")
    st.stop()
a, b = st.columns(2)
job_class = a.selectbox("Class", list(classes), key="ts_class")
own = overtime.profile_of(cur.model, job_class)
kinds = ([KEEP] if own else []) + list(overtime.KINDS)
kind = b.selectbox("Profile", kinds, key=f"ts_kind_{job_class}_{bool(own)}",
                   help="The model's own profile, or one drawn from the fields below "
                        "(rates with a unit such as 200/s, times such as 10s).")
rate = classes[job_class].rate
if kind == KEEP:
    st.code(json.dumps(own), language="json")
    spec = None
else:
    fields = overtime.defaults(kind, rate) | {"length": ""}
    spec = {"profile": kind}
    for col, (name, default) in zip(st.columns(len(fields)), fields.items()):
        spec[name] = col.text_input(name, default, key=f"ts_{kind}_{name}_{rate:.6g}",
                                    help="how long the run lasts; empty: twice the time "
                                         "of the last change" if name == "length" else None
                                    ).strip()
a, b, c = st.columns(3)
bins = a.text_input("Bin width", "1s", key="ts_bins", help="A duration such as 1s or 500ms.")
replications = b.number_input("Replications", 1, overtime.MAX_REPLICATIONS, 5,
                              key="ts_replications")
seed = c.number_input("Seed", 0, 2**31 - 1, 1, key="ts_seed")

try:
    model = cur.model if spec is None else overtime.with_profile(cur.model, job_class, spec)
except qmodel.ModelError as exc:
    views.show_problems(exc.problems, "The profile is not valid")
    st.stop()
try:
    bins_s = parse_duration(bins, "s")
    if not bins_s > 0:
        raise ValueError(f"must be a positive duration, got {bins!r}")
except ValueError as exc:
    st.error(f"**The profile is not valid** — fix these fields:\n- `bins`: "
             f"{views.plain(str(exc))}")
    st.stop()
count = overtime.bin_count(model, bins_s)
if count > overtime.MAX_BINS:
    st.error(f"**The profile is not valid** — fix these fields:\n- `bins`: {count:,} bins "
             f"of {bins_s:g} s; at most {overtime.MAX_BINS:,}: use wider bins")
    st.stop()

clicked = st.button("Simulate over time", type="primary", key="ts_simulate")
job = jobs.run("over_time", work.over_time, model.to_yaml(), bins_s, int(replications), int(seed),
               start=clicked, fresh=clicked, label="Simulating over time")
if job is None:
    st.stop()
if job.status != "done":
    (st.warning if job.status == "cancelled" else st.error)(f"Simulation: {job.value}")
    st.stop()
ts = job.value
for col, (label, value, caption) in zip(st.columns(4), overtime.cards(ts)):
    col.metric(label, value)
    col.caption(caption)
name = f"{cur.name}-over-time"
views.chart(ts.figure(), name, "ts-figure")
for note in ts.notes:
    st.caption(f"note: {note}")
table = ts.frame.set_index("time_s")
st.dataframe(table, width="stretch", key="ts-table")
views.downloads(name, json.dumps(finite_json(ts.to_dict())), table)
