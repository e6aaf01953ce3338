"""Validate: run the model's reference system on loopback under a bounded locust load test
and set the measurements beside the predictions; load-test your own service on loopback
(a request map says which HTTP requests stand for each job class); compare the model with
result files a load test already wrote (locust, k6, wrk/wrk2, HdrHistogram logs, a plain CSV); or open an
earlier report."""

from __future__ import annotations

import json
import math
import shutil

import streamlit as st
import yaml

import qmodel
from qmodel.units import parse_duration, parse_rate
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
    if per != "one per file":
        try:
            seconds = parse_duration(window.strip())
        except (ValueError, qmodel.QModelError):
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            st.error(f"**Window:** a positive duration such as `30s` or `2min`, got "
                     f"`{window}`.")
            return
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


LOOPBACK_ONLY = ("The dashboard sends load to loopback only (127.0.0.0/8, ::1, localhost): "
                 "run the service on this machine. `--allow-host` is for the command line "
                 "(`qmodel validate --target`).")


def example_map(model: qmodel.Model, text: str) -> str:
    """The model's own ``requests:`` section, else one plain request per open class."""
    try:
        own = (yaml.safe_load(text) or {}).get("requests")
    except (yaml.YAMLError, AttributeError):
        own = None
    if own:
        return yaml.safe_dump({"requests": own}, sort_keys=False)
    lines = ["requests:",
             "  # a trivial request of your service measures the fixed overhead (client,",
             "  # connection): recommended",
             "  # overhead: {method: GET, path: /health}"]
    for c in model.network.open_classes:
        lines += [f"  {c.name}:                # job class {c.name} of the model",
                  "    method: POST", f"    path: '/{c.name}?id={{id}}'", "    success: [2xx]"]
    return "\n".join(lines) + "\n"


def map_problems(text: str, model: qmodel.Model) -> list[qmodel.Problem]:
    """What is wrong with a request map (a ``requests:`` section in YAML), with field
    paths, as ``loadtest.target.request_map`` would say it before any traffic."""
    from qmodel.model.parse import read_yaml
    from qmodel.model.requests import read_requests

    try:  # the model file's limits: nesting, aliases, size, duplicate keys
        doc = read_yaml(text, "request map")
    except qmodel.ModelError as exc:
        return [qmodel.Problem(p.path or "requests", p.message) for p in exc.problems]
    if not isinstance(doc, dict) or "requests" not in doc:
        return [qmodel.Problem("requests", "a request map needs a top-level 'requests:' "
                                           "section")]
    extra = sorted(str(k) for k in doc if k != "requests")
    if extra:
        return [qmodel.Problem(extra[0], "unknown key; a request map holds 'requests:' only")]
    try:
        read_requests(doc["requests"], [c.name for c in model.network.classes],
                      list(model.spec.nodes))
    except qmodel.ModelError as exc:
        return exc.problems
    return []


def service_levels(text: str) -> tuple[float | str, ...] | None:
    """``0.3, 0.5`` (offered utilizations) or ``50/s, 100/s`` (total rates); None after
    saying what is wrong."""
    out: list[float | str] = []
    for item in filter(None, (i.strip() for i in text.split(","))):
        try:
            value = parse_rate(item) if "/" in item else float(item)
        except (ValueError, qmodel.QModelError):
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            st.error(f"**Levels:** `{item}` is neither a fraction of saturation (`0.5`) nor a "
                     "total rate (`50/s`).")
            return None
        out.append(item if "/" in item else value)
    if not out:
        st.error("**Levels:** give at least one, such as `0.5` or `50/s`.")
        return None
    return tuple(out)


def service_tab() -> None:
    from loadtest.target import check_target

    if not cur.model.network.open_classes:
        st.info(f"**{cur.name}** has no open arrivals: a service is validated under the "
                "model's open traffic (arrival rates). Pick a model with `arrivals:` on the "
                "Model page.")
        return
    st.caption(f"Load-tests **your own HTTP service** with the current model's traffic "
               f"(**{cur.name}**): a calibration run at low load, then each level, latency "
               "measured client side. " + LOOPBACK_ONLY)
    a, b = st.columns(2)
    url = a.text_input("Service URL", key="va_svc_url", placeholder="http://127.0.0.1:9000")
    metrics = b.text_input("Prometheus metrics URL (optional)", key="va_svc_metrics",
                           placeholder="http://127.0.0.1:9000/metrics",
                           help="Scraped every 2 s during each run; the request map's "
                                "metrics: section says which figures are which component's.")
    classes = ", ".join(c.name for c in cur.model.network.classes)
    key = f"va_svc_map:{work.digest(cur.text.encode())[:12]}"  # a new model, a new example
    text = st.text_area("Request map (YAML)", example_map(cur.model, cur.text), key=key,
                        height=260,
                        help=f"Which HTTP request stands for each job class ({classes}): "
                             "method, path, headers, body, success; placeholders {id}, "
                             "{key}, {choice:a|b}. docs/loadtest.md, *Validate your own "
                             "service*. Empty: the model's requests: section, else POST / "
                             "per class.")
    c, d, h = st.columns([2, 2, 1])
    levels = c.text_input("Levels", "0.5", key="va_svc_levels",
                          help="Offered utilization of the bottleneck (0.5) or total rates "
                               "(50/s), comma-separated.")
    tolerance = d.slider("Tolerance (%)", 2, 50, 10, key="va_svc_tol")
    retries = h.number_input("Retries", 0, 3, 1, key="va_svc_retries",
                             help="Run a level (or the calibration) again when the load "
                                  "generator's self-checks find it INVALID (a busy machine).")
    e, f, g = st.columns(3)
    duration = e.slider("Measured window per level (s)", 5, 120, 20, key="va_svc_duration")
    warmup = f.slider("Warm-up (s)", 1, 30, 3, key="va_svc_warmup")
    calibration = g.slider("Calibration run (s)", 5, 60, 10, key="va_svc_calibration")
    ok = True
    for what, value in (("--target", url.strip()), ("Metrics URL", metrics.strip())):
        if value:
            try:
                check_target(value, (), what)
            except ValueError as exc:
                st.error(f"**Refused, nothing was sent:** {exc}\n\n{LOOPBACK_ONLY}")
                ok = False
    problems = map_problems(text, cur.model) if text.strip() else []
    if problems:
        views.show_problems(problems, "The request map is not valid", text=text)
        ok = False
    loads = service_levels(levels)
    ok = ok and loads is not None and bool(url.strip())
    if loads is not None:
        st.caption(f"About {work.expected_seconds(len(loads), duration, warmup, calibration):.0f}"
                   " s. Cancel stops every process the test started (the load generators).")
    running = st.session_state.get("job:validate-service")
    running = running if running is not None and running.status == "running" else None
    clicked = st.button("Start the load test", type="primary", key="va_svc_start",
                        disabled=not ok or running is not None)
    if running is not None:  # a test in progress is watched (and cancelled), never replaced
        st.caption("A load test is running with the inputs it was started with; Cancel it "
                   "to start another.")
        args = running.args
    elif ok:
        args = (cur.text, cur.name, url.strip(), text if text.strip() else None,
                metrics.strip() or None, loads, float(duration), float(warmup),
                float(calibration), tolerance / 100, int(retries))
    else:
        return
    job = jobs.run("validate-service", work.validate_service, *args, start=clicked,
                   fresh=clicked, label="Load testing your service",
                   live=lambda levels: reports.live(levels, "open", "live-service"))
    if job is not None and job.status != "done":
        (st.warning if job.status == "cancelled" else st.error)(f"**Load test:** {job.value}")
    elif job is not None:
        reports.show(job.value["report"], key="validation-figure-service")
        downloads(job.value, cur.name, "va_svc")


cur = views.require_model()
st.title("Validate")
run_tab, service_tab_, results_tab_, open_tab = st.tabs(
    ["Run a load test", "My service", "Results files", "Open a report"])

with service_tab_:
    absent = optional.missing_package("loadtest.target")
    if absent is not None:
        views.missing("Validating your own service", absent, "pip install -e '.[loadtest]'")
    else:
        service_tab()

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
        # An upload is untrusted: st.html sanitizes it (DOMPurify) and runs no script from
        # it, so the report's tables show here and its chart (a script) does not.
        st.caption("The report's tables; its chart needs the report's script, which is not "
                   "run here: open the validation.json written beside it for the chart.")
        st.html(upload.getvalue().decode("utf-8", errors="replace"))
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
                   start=clicked, fresh=clicked, label="Load testing",
                   live=lambda levels: reports.live(levels, mode, "live-validation"))
    if job is not None and job.status != "done":
        (st.warning if job.status == "cancelled" else st.error)(
            f"**Load test:** {job.value}")
    elif job is not None:
        reports.show(job.value["report"])
        downloads(job.value, cur.name, "va_run")
