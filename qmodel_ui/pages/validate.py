"""Validate: run the model's reference system on loopback under a bounded locust load test
and set the measurements beside the predictions; or open an earlier report."""

from __future__ import annotations

import json
import shutil

import streamlit as st
import streamlit.components.v1 as components

from qmodel_ui import jobs, optional, reports, views, work

cur = views.require_model()
st.title("Validate")
run_tab, open_tab = st.tabs(["Run a load test", "Open a report"])

with open_tab:
    upload = st.file_uploader("An earlier report (validation.json or validation.html)",
                              type=["json", "html"], key="va_upload")
    if upload is not None and upload.name.endswith(".html"):
        components.html(upload.getvalue().decode("utf-8", errors="replace"), height=900,
                        scrolling=True)
    elif upload is not None:
        try:
            reports.show(reports.read(upload.getvalue()))
        except ValueError as exc:
            st.error(f"**{upload.name}:** {exc}")

with run_tab:
    absent = optional.missing_package("loadtest.validate")
    if absent is not None:
        views.missing("Load-test validation", absent, "pip install -e '.[loadtest]'")
        st.stop()
    mode = "open" if cur.model.network.open_classes else "closed"
    st.caption("Open loop: Poisson arrivals at the model's rates, scaled." if mode == "open" else
               "Closed loop: the model's users with their think time.")
    b, c = st.columns(2)
    levels = b.text_input("Levels", "0.3, 0.6", key="va_levels", bind="query-params",
                          help="Offered utilization of the bottleneck (open) or fraction of "
                               "the users (closed), comma-separated.")
    backend = c.selectbox("Broker", ["embedded", "redis"], key="va_backend",
                          bind="query-params")
    d, e, f = st.columns(3)
    duration = d.slider("Measured window per level (s)", 5, 120, 15, key="va_duration",
                        bind="query-params")
    warmup = e.slider("Warm-up (s)", 1, 30, 3, key="va_warmup", bind="query-params")
    tolerance = f.slider("Tolerance (%)", 2, 50, 10, key="va_tol", bind="query-params")
    try:
        loads = tuple(float(x) for x in levels.split(",") if x.strip())
    except ValueError:
        st.error(f"**Levels:** comma-separated numbers such as 0.3, 0.6 — got {levels!r}.")
        st.stop()
    if backend == "redis" and shutil.which("redis-server") is None:
        st.error("**redis-server is not installed** (Debian: `apt-get install redis-server`, "
                 "or `scripts/setup.sh --system`). Choose the embedded broker to run without "
                 "it.")
        st.stop()
    calibration = max(5, duration // 2)
    st.caption(f"About {work.expected_seconds(len(loads), duration, warmup, calibration):.0f} s:"
               f" start-up, a {calibration} s calibration run at low load, then each level. "
               "Everything runs on 127.0.0.1 and is stopped afterwards (also on Cancel).")
    clicked = st.button("Start the load test", type="primary", key="va_start")
    job = jobs.run("validate", work.validate, cur.text, cur.name, mode, loads, float(duration),
                   float(warmup), float(calibration), backend, tolerance / 100,
                   start=clicked, fresh=clicked, label="Load testing")
    if job is not None and job.status != "done":
        (st.warning if job.status == "cancelled" else st.error)(
            f"**Load test:** {job.value}")
    elif job is not None:
        reports.show(job.value["report"])
        x, y = st.columns(2)
        x.download_button("Report (JSON)", json.dumps(job.value["report"], indent=2).encode(),
                          f"{cur.name}-validation.json", "application/json",
                          on_click="ignore")
        y.download_button("Report (HTML)", job.value["html"].encode(),
                          f"{cur.name}-validation.html", "text/html", on_click="ignore")
