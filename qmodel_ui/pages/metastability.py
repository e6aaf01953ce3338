"""Metastability: a retrying client's load swept up, then down (a hysteresis loop), and
which single change removes the region where two stable states coexist."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

import qmodel
from qmodel.experiments.metastability import HIGH, LOW, figure, metastability, remedies, setting
from qmodel.results import finite_json
from qmodel.units import human_rate
from qmodel_ui import ROOT, state, views

EXAMPLE = ROOT / "examples" / "models" / "metastable_retries.yaml"


@st.cache_data(show_spinner=False, max_entries=64)
def loop(text: str, job_class: str, low: float, high: float, points: int):
    """The sweep and the remedies of the model ``text`` (raises qmodel.QModelError)."""
    model = state.parse(text)
    return (metastability(model, job_class, low, high, points),
            remedies(model, job_class, low, high, points))


def rate(x: float) -> str:
    return "—" if pd.isna(x) else f"{x:.4g}"


def shown_remedies(fixes: pd.DataFrame) -> pd.DataFrame:
    """The remedies as read: rates to 4 digits, a dash where no region is left, the note
    column only when a row has one."""
    table = pd.DataFrame({
        "change (a --set)": fixes.change,
        "metastable from (/s)": fixes.metastable_low.map(rate),
        "to (/s)": fixes.metastable_high.map(rate),
        "removes it": fixes.removes.map({True: "yes", False: "no"}),
        "at the class's rate": fixes.at_rate, "note": fixes.note})
    return table if fixes.note.str.len().any() else table.drop(columns="note")


cur = views.require_model()
st.title("Metastability")
st.caption("A client that times out and retries can keep a queue overloaded after a spike "
           "has passed: between two offered loads there are two stable states, healthy and "
           "a retry storm (Bronson et al., HotOS 2021). Sweeping the load up and then down, "
           "following the state one is in, draws the loop; the band is where both exist.")
retrying = [c.name for c in cur.model.network.open_classes
            if c.client is not None and c.client.retries is not None]
if not retrying:
    st.info("No client of this model retries (an open class with `timeout:` and "
            "`retries:`). Try a checkout API whose clients give up after 100 ms and retry "
            "three times.")
    if EXAMPLE.exists() and st.button("Open the retrying checkout example", key="ms_example"):
        state.use_text(EXAMPLE.read_text(encoding="utf-8"))
        st.rerun()
    st.stop()
a, b, c, d = st.columns(4)
job_class = a.selectbox("Class", retrying, key="ms_class")
try:
    s = setting(cur.model, job_class)
except qmodel.ModelError as exc:
    views.show_problems(exc.problems, "The metastability sweep cannot take this model",
                        cur.text)
    st.stop()
capacity = f"{s.capacity:.6g}"  # new defaults when the queue changes
low = b.number_input("From (requests/s)", min_value=1e-9, value=LOW * s.capacity,
                     key=f"ms_from_{capacity}", format="%.4g")
high = c.number_input("To (requests/s)", min_value=1e-9, value=HIGH * s.capacity,
                      key=f"ms_to_{capacity}", format="%.4g")
points = d.slider("Offered loads", 10, 100, 40, key="ms_points")
try:
    with st.spinner("Sweeping the load up and down, then each change…"):
        result, fixes = loop(cur.text, job_class, float(low), float(high), int(points))
except qmodel.ModelError as exc:
    views.show_problems(exc.problems, "Cannot sweep", cur.text)
    st.stop()
except qmodel.QModelError as exc:  # a queue the fixed point cannot compute
    st.error(f"**Cannot sweep:** {views.plain(str(exc))}")
    st.stop()
cols = st.columns(4)
band = result.interval
cols[0].metric("metastable region (/s)", "none" if band is None else
               f"{band[0]:.4g} – {band[1]:.4g}")
cols[1].metric(f"{job_class} now", human_rate(s.rate))
cols[2].metric("stable states at its rate", len(result.here))
storm = result.here[-1]
cols[3].metric("goodput in the worst state", human_rate(storm.goodput),
               f"{storm.amplification:.3g} attempts per request", delta_color="off")
if result.inside:
    st.warning(f"**{job_class} at {human_rate(s.rate)} is inside the metastable region:** "
               "a spike can leave it in a retry storm that outlasts the spike.")
views.chart(figure(result), f"{cur.name}-metastability", "metastability-loop")
st.caption(f"{result.method}. Back-off and jitter are not in the fixed point: they change "
           "how fast a state is left, not the states.")
st.subheader("What removes it")
st.dataframe(shown_remedies(fixes), width="stretch", hide_index=True)
views.downloads(f"{cur.name}-metastability",
                json.dumps(finite_json({**result.to_dict(),
                                        "remedies": fixes.to_dict("records")})),
                result.table)
