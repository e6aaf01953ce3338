"""Compare: the current model (A) beside another topology or a variant of itself (B)."""

from __future__ import annotations

import streamlit as st

from qmodel_ui import charts, state, views

VARIANT, OTHER = "this model with changes", "another topology"

cur = views.require_model()
st.title("Compare")
mode = st.radio("Compare the current model (A) with", [VARIANT, OTHER], key="cmp_mode",
                bind="query-params", horizontal=True)
if mode == VARIANT:
    text = st.text_area("B's changes, one per line (path=value, as for `qmodel solve --set`)",
                        key="cmp_set", bind="query-params", height=100,
                        placeholder="nodes.app.servers=10\narrivals.web.rate=250/s")
    other = state.changed(cur, state.overrides(text.splitlines()))
else:
    other = state.topology(st.selectbox("Topology B", state.library(), key="cmp_model",
                                        bind="query-params"))
if other.model is None:
    views.show_problems(other.problems, "B is not a valid model")
    st.stop()
a, b = views.solved(cur), views.solved(other)
if a is None or b is None:
    st.stop()

st.subheader(f"B: {other.name}" + ("" if mode == OTHER else " with changes"))
st.caption("Each B metric shows its change from A.")
views.system_metrics(b, baseline=a)
st.dataframe(views.compare_table(a, b), width="stretch")
for label, res, cfg in (("A", a, cur), ("B", b, other)):
    views.show_instability(res, cfg.model, f"{label}: ")
left, right = st.columns(2)
with left:
    views.chart(charts.architecture(cur.model, a, f"A: {cur.name}"), f"A-{cur.name}",
                "compare-a")
with right:
    views.chart(charts.architecture(other.model, b, f"B: {other.name}"), f"B-{other.name}",
                "compare-b")
views.chart(charts.utilization_bars({"A": charts.component_load(a),
                                     "B": charts.component_load(b)}),
            "utilization-A-vs-B", "compare-util")
