"""Calibrate: a model from measurements. Trace files (OTLP, Jaeger, Zipkin JSON) go
through :func:`qmodel.calibrate.from_traces` in a worker process; the page shows the
calibrated model's components, the estimates with their 95% intervals, each component's
exclusive times with the fitted distributions, the assumptions and warnings and the model
file, and opens the model on the Model page. Metric files (CSV, Prometheus text scrapes,
range-query JSON) go through ``qmodel.calibrate.from_metrics`` for the current model: the
same estimates table, the identifiability warnings first, measured against fitted busy
servers per resource and the metrics HTML report."""

from __future__ import annotations

import streamlit as st

import qmodel
import qmodel.calibrate
from qmodel.calibrate.metrics import FORMATS as METRIC_FORMATS
from qmodel.calibrate.metrics import MetricsCalibration
from qmodel.calibrate.metrics import report as metrics_report
from qmodel.calibrate.metrics.prometheus import DEFAULTS as SELECTORS
from qmodel.calibrate.modelfile import model_text
from qmodel.calibrate.report import report_html
from qmodel.calibrate.traces.spans import MAX_BYTES
from qmodel_ui import charts, compute, jobs, state, views, work

SAMPLE = "web_service"  # the topology the sample traces are simulated from
SAMPLE_JOBS = 1500
SAMPLE_SEED = 1
FORMATS = ["auto", "otlp", "jaeger", "zipkin"]


def servers(text: str) -> tuple[tuple[str, int], ...] | None:
    """``api=8, db=4`` as pairs; None after saying what is wrong."""
    out = []
    for item in filter(None, (i.strip() for i in text.split(","))):
        name, sep, count = item.partition("=")
        if not sep or not name.strip() or not count.strip().isdigit() or int(count) < 1:
            st.error(f"**Servers per component:** `{item}` is not *component=count* with a "
                     "positive whole count, as in `api=8, db=4`.")
            return None
        out.append((name.strip(), int(count)))
    return tuple(out)


def uploads(files: list, what: str) -> tuple[tuple, tuple] | None:
    """``((name, sha256), ...)`` and the contents; None after naming a file over the limit."""
    for f in files:
        if f.size > MAX_BYTES:
            st.error(f"**{f.name}:** {f.size / 2**20:.1f} MB is over the limit of "
                     f"{MAX_BYTES / 2**20:.0f} MB for one {what} file; split the export.")
            return None
    contents = tuple(f.getvalue() for f in files)
    return tuple((f.name, work.digest(c)) for f, c in zip(files, contents)), contents


def outcome(job: jobs.Job | None) -> bool:
    """Say how a finished job that has no calibration ended; True when it has one."""
    if job is None:
        return False
    if job.status == "done":
        return True
    if job.status == "cancelled":
        st.warning(f"**Calibration:** {job.value}")
    else:
        st.error(f"**Calibration failed:** {job.value}")
    return False


def show(cal: qmodel.calibrate.Calibration, prefix: str) -> None:
    """A calibration: graph, estimates, fits, assumptions and warnings, the model file. A
    metrics calibration shows its warnings first and its measured against fitted busy
    servers in place of the fitted distributions."""
    data = cal.data
    metrics = isinstance(cal, MetricsCalibration)
    st.caption(cal.source)
    if metrics:
        for w in cal.warnings:
            st.warning(f"**Warning:** {w}")
        data = data | {"class_count": len(data.get("classes", [])),
                       "component_count": len(data.get("components", []))}
    counts = [(label, data[key]) for label, key in (("traces", "traces"), ("spans", "spans"),
                                                    ("jobs", "jobs"),
                                                    ("complete jobs", "complete_jobs"),
                                                    ("intervals", "intervals"),
                                                    ("classes", "class_count"),
                                                    ("resources fitted", "component_count"))
              if isinstance(data.get(key), int)]
    for col, (label, count) in zip(st.columns(max(len(counts), 1)), counts):
        col.metric(label, f"{count:,}")
    text = model_text(cal)
    try:
        res = compute.solve(text)
    except qmodel.QModelError as exc:
        st.warning(f"**The calibrated model cannot be solved:** {exc}")
        res = None
    if res is not None:
        views.show_instability(res, cal.model)
    st.subheader("Components and routes")
    views.chart(charts.architecture(cal.model, res, f"{cal.model.name}: calibrated"),
                f"{cal.model.name}-architecture", f"{prefix}-architecture")

    st.subheader("Estimates")
    st.caption("Durations in ms, rates per second; the 95% interval of each estimate (a "
               "server count from concurrency has a lower bound only).")
    number = st.column_config.NumberColumn(format="%.4g")
    st.dataframe(views.estimates_table(cal), width="stretch", key=f"{prefix}-estimates",
                 column_config={"estimate": number, "95% low": number, "95% high": number,
                                "KS D": number})

    figure = metrics_report._figure(cal) if metrics else None
    if figure is not None:
        st.subheader("Measured against fitted, per resource")
        st.caption("Busy servers per interval: measured (utilization × servers, or busy "
                   "seconds per second) and the regression's Σ X·D; right, the residuals.")
        views.chart(figure, f"{cal.model.name}-metrics-fit", f"{prefix}-metrics-fit")
    components = {} if metrics else data.get("components", {})
    if components:
        st.subheader("Exclusive times and fits")
        name = st.selectbox(
            "Component", list(components), key=f"{prefix}-component",
            format_func=lambda n: f"{n}: {components[n]['fit']['dist']}, mean "
                                  f"{components[n]['mean_s'] * 1e3:.4g} ms, "
                                  f"{components[n]['visits']:,} visits, "
                                  f"{components[n]['servers']} servers")
        comp = components[name]
        chosen = comp["fit"]
        views.chart(charts.fit_histogram(name, comp), f"{cal.model.name}-{name}-fit",
                    f"{prefix}-fit")
        st.caption(f"Chosen: **{chosen['dist']}** — {chosen.get('reason', '')}")
        if chosen.get("candidates"):
            st.dataframe([{"candidate": c["dist"], "mean (ms)": c["mean"] * 1e3, "cv": c["cv"],
                           "AIC": c.get("aic"), "KS D": c.get("ks"), "KS p": c.get("ks_p")}
                          for c in chosen["candidates"]], hide_index=True,
                         key=f"{prefix}-candidates")

    left, right = st.columns(2)
    with left:
        st.subheader("Assumptions")
        st.markdown("\n".join(f"- {a}" for a in cal.assumptions) or "none")
    with right:
        st.subheader("Warnings")
        if metrics:
            st.caption(f"{len(cal.warnings)} warning(s), shown at the top." if cal.warnings
                       else "None: every demand is identified.")
        else:
            for w in cal.warnings:
                st.warning(w)
            if not cal.warnings:
                st.caption("None: no clock skew corrected, no broken traces.")

    st.subheader("Calibrated model")
    st.code(text, language="yaml")
    a, b, c = st.columns(3)
    a.download_button("Model (YAML)", text.encode(), f"{cal.model.name}.yaml",
                      "application/yaml", on_click="ignore", key=f"{prefix}-yaml")
    b.download_button("Report (JSON)", cal.to_json().encode(),
                      f"{cal.model.name}-calibration.json", "application/json",
                      on_click="ignore", key=f"{prefix}-json")
    html = metrics_report.report_html if metrics else report_html
    c.download_button("Report (HTML)", lambda: html(cal).encode(),
                      f"{cal.model.name}-calibration.html", "text/html", on_click="ignore",
                      key=f"{prefix}-html", help="Self-contained: plotly.js is inside.")
    if st.button("Open on the Model page", type="primary", key=f"{prefix}-open",
                 help="Make the calibrated model the current model."):
        state.use_text(text)
        st.switch_page("qmodel_ui/pages/model.py")


def traces_tab() -> None:
    files = st.file_uploader("Trace files: OTLP JSON lines, Jaeger or Zipkin v2 JSON",
                             type=["json", "jsonl", "ndjson"], accept_multiple_files=True,
                             key="cal_files")
    a, b, c = st.columns(3)
    fmt = a.selectbox("Format", FORMATS, key="cal_format",
                      help="auto tells each file's format from its shape.")
    by = b.selectbox("One component per", ["service", "operation"], key="cal_by",
                     help="operation: a component per service and entry operation.")
    given = c.text_input("Servers per component", key="cal_servers",
                         placeholder="api=8, db=4",
                         help="Otherwise inferred from concurrency (a lower bound).")
    empirical = st.checkbox("Empirical service times (resample the observed times instead "
                            "of fitting a distribution)", key="cal_empirical")
    x, y = st.columns([1, 3])
    run = x.button("Calibrate", type="primary", key="cal_run", disabled=not files)
    sample = y.button("Try with a sample", key="cal_sample",
                      help=f"Simulate {SAMPLE_JOBS:,} jobs of topologies/{SAMPLE}.yaml, write "
                           "their spans as OTLP JSON lines and calibrate from them.")
    if run or sample:
        st.session_state["cal_source"] = "sample" if sample else "upload"
    pairs = servers(given or "")
    if pairs is None:
        return
    source = st.session_state.get("cal_source")
    job = None
    if source == "upload" and files:
        got = uploads(files, "trace")
        if got is None:
            return
        job = jobs.run("calibrate", work.calibrate_traces, got[0],
                       None if fmt == "auto" else fmt, pairs, by, empirical, start=run,
                       fresh=run, label="Calibrating", payload=(got[1],))
    elif source == "sample":
        job = jobs.run("calibrate", work.calibrate_sample, SAMPLE, SAMPLE_JOBS, SAMPLE_SEED,
                       pairs, by, empirical, start=sample, fresh=sample,
                       label="Simulating a sample and calibrating")
    if not outcome(job):
        if job is None and source is None:
            st.info("Upload trace files and press **Calibrate**, or **Try with a sample**.")
        return
    cal = job.value
    if source == "sample":
        cal = job.value["calibration"]
        st.download_button("The sample's traces (OTLP JSON lines)", job.value["file"],
                           job.value["name"], "application/x-ndjson", on_click="ignore",
                           key="cal_sample_file")
    show(cal, "traces")


def metrics_tab() -> None:
    cur = views.require_model()
    st.caption(f"Estimates the service times (and arrival rates) of the current model, "
               f"**{cur.name}**, from metrics per interval (throughput per class, utilization "
               "per resource) by utilization-law regression; pick another model on the Model "
               "page. See docs/calibration.md, *From metrics*.")
    files = st.file_uploader("Metric files: a CSV, Prometheus text scrapes (one or more) or "
                             "a range-query JSON", accept_multiple_files=True,
                             key="cal_metric_files")
    fmt = st.selectbox("Format", ["auto", *METRIC_FORMATS], key="cal_metric_format",
                       help="auto: .csv is CSV, .json a range query, anything else text "
                            "scrapes.")
    with st.expander("Prometheus selectors (scrapes and raw range queries)"):
        st.caption("`NAME{LABEL}` plus optional `key=\"value\"` filters; the LABEL's value "
                   "names the class or component. Empty: the default shown.")
        a, b, c = st.columns(3)
        chosen = tuple(
            col.text_input(label, key=f"cal_metric_{role}", placeholder=SELECTORS[role],
                           help=text).strip() or None
            for col, role, label, text in (
                (a, "throughput", "Throughput", "A counter of completed requests per class."),
                (b, "utilization", "Utilization", "A counter of busy seconds per component."),
                (c, "response", "Response time", "A summary or histogram per class.")))
    a, b, c = st.columns(3)
    background = a.checkbox("Background utilization (intercept)", key="cal_metric_background",
                            help="Fit utilization that no class accounts for; reported, not "
                                 "written into the model.")
    interval = b.selectbox("95% intervals", ["ols", "bootstrap"], key="cal_metric_interval",
                           help="ols: least-squares covariance with t quantiles; bootstrap: "
                                "resample the intervals (400 times).")
    rates = c.radio("Arrival rates", ["measured", "keep the model's"], key="cal_metric_rates",
                    horizontal=True,
                    help="measured: each open class's mean throughput becomes its rate.")
    options = (background, interval, rates == "measured")
    x, y = st.columns([1, 3])
    run = x.button("Calibrate the current model", type="primary", key="cal_metrics_run",
                   disabled=not files)
    sample = y.button("Try with a synthetic sample", key="cal_metrics_sample",
                      help=f"Generate {work.SAMPLE_INTERVALS} one-minute intervals from the "
                           "current model (Poisson counts at varying load, utilizations from "
                           "its own service times plus noise) and calibrate from them.")
    if run or sample:
        st.session_state["cal_metrics_source"] = "sample" if sample else "upload"
    source = st.session_state.get("cal_metrics_source")
    job = None
    if source == "upload" and files:
        got = uploads(files, "metrics")
        if got is None:
            return
        job = jobs.run("calibrate-metrics", work.calibrate_metrics, got[0], cur.text,
                       None if fmt == "auto" else fmt, chosen, *options, start=run,
                       fresh=run, label="Calibrating", payload=(got[1],))
    elif source == "sample":
        job = jobs.run("calibrate-metrics", work.calibrate_metrics_sample, cur.text, 1,
                       *options, start=sample, fresh=sample,
                       label="Generating a synthetic sample and calibrating")
    if not outcome(job):
        if job is None and source is None:
            st.info("Upload metric files and press **Calibrate the current model**, or **Try "
                    "with a synthetic sample**.")
        return
    cal = job.value
    if source == "sample":
        cal = job.value["calibration"]
        st.info(f"**Synthetic data**, generated from **{cur.name}** itself: the estimates "
                "should come back close to the model's own service times.")
        st.download_button("The synthetic metrics (CSV)", job.value["file"], job.value["name"],
                           "text/csv", on_click="ignore", key="cal_metrics_sample_file")
    show(cal, "metrics")


st.title("Calibrate")
traces, metrics = st.tabs(["Traces", "Metrics"])
with traces:
    traces_tab()
with metrics:
    metrics_tab()
