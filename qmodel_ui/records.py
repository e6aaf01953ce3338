"""The Solve page's job records: one replication with every visit recorded, browsable
job by job (slowest first, by class) and downloadable as CSV."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from qmodel.units import TIME_UNITS
from qmodel_ui import jobs, recording, state

SHOWN_JOBS = 500
"""Rows of the job table on the page (all of them go into the CSV)."""


def job_records(cur: state.Current, seed: int, batch_only: bool) -> None:
    """The expander: how many jobs, a button, then the jobs and one job's visits."""
    with st.expander("Job records: every visit of one replication"):
        customers = 0 if batch_only else int(st.number_input(
            "Jobs", 100, recording.RECORD_JOBS, 2000, step=100, key="records-jobs",
            help="One replication on the simpy engine, warm-up included: every job's "
                 "visits, as `qmodel simulate --trace` writes them."))
        clicked = st.button("Record jobs", key="record-jobs")
        job = jobs.run("records", recording.job_records, cur.text, int(seed), customers,
                       start=clicked, fresh=clicked, label="Recording jobs")
        if job is None:
            return
        if job.status != "done":
            (st.warning if job.status == "cancelled" else st.error)(f"Job records: {job.value}")
            return
        _show(job.value, cur.model.time_unit, cur.name)


def _show(value: dict, time_unit: str, name: str) -> None:
    table: pd.DataFrame = value["jobs"]
    visits: pd.DataFrame = value["visits"]
    scale = 1 / TIME_UNITS[time_unit]
    classes = list(dict.fromkeys(table["class"]))
    chosen = st.multiselect("Classes", classes, classes, key="records-classes")
    shown = table[table["class"].isin(chosen)]
    if shown.empty:
        st.info("No job of the chosen classes.")
        return
    lost = int(shown["lost"].sum())
    st.caption(f"{len(shown):,} jobs, slowest first (the first {min(len(shown), SHOWN_JOBS)} "
               f"shown); mean response {shown['response_s'].mean() * scale:.4g} {time_unit}"
               + (f"; {lost:,} lost" if lost else ""))
    st.dataframe(_in_unit(shown.head(SHOWN_JOBS), scale, time_unit), hide_index=True,
                 width="stretch", key="records-table")
    picked = st.selectbox("Visits of job", shown["job"].head(SHOWN_JOBS).tolist(),
                          key="records-job", help="Jobs in the table's order.")
    path = visits[visits["job"] == picked].sort_values("arrival_s").assign(
        wait_s=lambda v: v["start_s"] - v["arrival_s"],
        service_s=lambda v: v["end_s"] - v["start_s"])
    st.dataframe(_in_unit(path[["node", "task", "arrival_s", "start_s", "end_s", "wait_s",
                                "service_s", "lost"]], scale, time_unit),
                 hide_index=True, width="stretch", key="records-visits")
    st.download_button("Every visit (CSV)", visits.to_csv(index=False).encode(),
                       f"{name}-visits.csv", "text/csv", key="records-csv", on_click="ignore")
    for note in value["notes"]:
        st.caption(f"note: {note}")


def _in_unit(frame: pd.DataFrame, scale: float, time_unit: str) -> pd.DataFrame:
    """Times (``*_s`` columns) in ``time_unit``, renamed so."""
    out = frame.copy()
    for column in [c for c in out.columns if c.endswith("_s")]:
        out[column] = out[column] * scale
        out = out.rename(columns={column: f"{column[:-2]} ({time_unit})"})
    return out
