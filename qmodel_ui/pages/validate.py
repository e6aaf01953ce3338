"""Validate: run the model's reference system on loopback under a bounded locust load test
and set the measurements beside the predictions; compare the model with result files a
load test already wrote (locust, k6, wrk/wrk2, HdrHistogram logs, a plain CSV); or open an
earlier report."""

from __future__ import annotations

import json
import shutil

import streamlit as st
import streamlit.components.v1 as components

from qmodel_ui import jobs, optional, reports, views, work

RESULT_HELP = ("locust --csv (_stats.csv, _stats_history.csv) or --json-file, k6 summary "
               "JSON or --out json (NDJSON), wrk/wrk2 --latency output, HdrHistogram .hlog, "
               "a plain CSV send_time,latency,status[,class]. The format is told from the "
               "content.")


def downloads(value: dict, name: str, key: str) -> None:
    x, y = st.columns(2)
    x.download_button("Report (JSON)", json.dumps(value["report"], indent=2).encode(),
                      f"{name}-validation.json", "application/json", on_click="ignore",
                      key=f"{key}-json")
    y.download_button("Report (HTML)", value["html"].encode(), f"{name}-validation.html",
                      "text/html", on_click="ignore", key=f"{key}-html")


def result_uploads(files: list) -> tuple[tuple, tuple] | None:
    """``((name, sha256), ...)`` and the contents; None after naming a file over the limit."""
    for f in files:
        if f.size > work.MAX_RESULT_BYTES:
            st.error(f"**{f.name}:** {f.size / 2**20:.1f} MB is over the limit of "
                     f"{work.MAX_RESULT_BYTES / 2**20:.0f} MB for one result file (use an "
                     "aggregated export: locust's _stats_history.csv, k6's summary, an .hlog).")
            return None
    contents = tuple(f.getvalue() for f in files)
    return tuple((f.name, work.digest(c)) for f, c in zip(files, contents)), contents


def results_tab() -> None:
    if not cur.model.network.open_classes:
        st.info(f"**{cur.name}** has no open arrivals (`arrivals:`): result files are compared "
                "with a model's arrival rates. Pick a model with open classes on the Model "
                "page.")
        return
    st.caption(f"Compares the current model, **{cur.name}**, with result files of a load test "
               "already run: each level is predicted at its measured rate and set beside the "
               "client-side latency in the file.")
    files = st.file_uploader("Result files", accept_multiple_files=True, key="va_res_files",
                             help=RESULT_HELP)
    a, b = st.columns(2)
    per = a.radio("Levels", ["one per file", "one per time window"], key="va_res_per",
                  horizontal=True)
    window = b.text_input("Window", "30s", key="va_res_window",
                          disabled=per == "one per file",
                          help="A duration: 30s, 2min. Each window of each file is a level.")
    c, d = st.columns(2)
    tolerance = c.slider("Tolerance (%)", 2, 50, 10, key="va_res_tol")
    unit = d.selectbox(".hlog value unit", ["us", "ns", "ms", "s"], key="va_res_unit",
                       help="An HdrHistogram log does not say its unit.")
    classes = ", ".join(c.name for c in cur.model.network.open_classes)
    mapping = st.text_area("Class mapping (optional)", key="va_res_classes", height=80,
                           placeholder="GET /search=web\nPOST /buy=web",
                           help="One NAME=CLASS a line: a request name in the files and the "
                                f"model's open class it is ({classes}). Names equal to a "
                                "class need none.")
    level_by = "file" if per == "one per file" else f"window:{window.strip()}"
    class_of = tuple(line.strip() for line in mapping.splitlines() if line.strip())
    x, y = st.columns([1, 3])
    run = x.button("Compare", type="primary", key="va_res_run", disabled=not files)
    sample = y.button("Try with a sample", key="va_res_sample",
                      help=f"Simulate {work.SAMPLE_JOBS:,} jobs of the current model, write "
                           "them as a plain CSV (send time, latency, status, class) and "
                           "compare the model with it.")
    if run or sample:
        st.session_state["va_res_source"] = "sample" if sample else "upload"
    source = st.session_state.get("va_res_source")
    job = None
    if source == "upload" and files:
        got = result_uploads(files)
        if got is None:
            return
        job = jobs.run("validate-results", work.validate_results, got[0], cur.text, level_by,
                       class_of, tolerance / 100, unit, start=run, fresh=run,
                       label="Reading the result files", payload=(got[1],))
    elif source == "sample":
        job = jobs.run("validate-results", work.validate_results_sample, cur.text, 1,
                       level_by, class_of, tolerance / 100, start=sample, fresh=sample,
                       label="Simulating a sample and comparing")
    if job is None:
        if source is None:
            st.info("Upload result files and press **Compare**, or **Try with a sample**.")
        return
    if job.status != "done":
        (st.warning if job.status == "cancelled" else st.error)(
            f"**Comparison failed:** {job.value}")
        return
    if source == "sample":
        st.info(f"**Simulated data**, from **{cur.name}** itself (`qmodel.simulate`, seed 1): "
                "the model should pass.")
        st.download_button("The sample (CSV)", job.value["file"], job.value["name"],
                           "text/csv", on_click="ignore", key="va_res_sample_file")
    reports.show(job.value["report"], key="validation-figure-results")
    downloads(job.value, cur.name, "va_res")


cur = views.require_model()
st.title("Validate")
run_tab, results_tab_, open_tab = st.tabs(["Run a load test", "Results files",
                                           "Open a report"])

with results_tab_:
    absent = optional.missing_package("loadtest.results")
    if absent is not None:
        views.missing("Validation against result files", absent,
                      "pip install -e '.[loadtest]'")
    else:
        results_tab()

with open_tab:
    upload = st.file_uploader("An earlier report (validation.json or validation.html)",
                              type=["json", "html"], key="va_upload")
    if upload is not None and upload.name.endswith(".html"):
        components.html(upload.getvalue().decode("utf-8", errors="replace"), height=900,
                        scrolling=True)
    elif upload is not None:
        try:
            reports.show(reports.read(upload.getvalue()), key="validation-figure-open")
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
        downloads(job.value, cur.name, "va_run")
