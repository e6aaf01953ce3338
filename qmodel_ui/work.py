"""What runs in worker processes (see :mod:`qmodel_ui.jobs`): plain inputs (the model's
YAML text), a ``progress`` callback, picklable results. No streamlit here."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import qmodel

from . import LIBRARY


class Progress:
    """What a worker's function gets as ``progress``: call it with the fraction done (a
    shared number the page reads); :meth:`report` sends a small picklable snapshot that
    the page draws while the work runs (:attr:`qmodel_ui.jobs.Job.updates`)."""

    def __init__(self, shared: Any, conn: Connection):
        self._shared, self._conn = shared, conn

    def __call__(self, fraction: float) -> None:
        self._shared.value = fraction

    def report(self, snapshot: dict) -> None:
        self._conn.send(("update", snapshot))


def run(fn: Callable, args: tuple, progress: Any, conn: Connection) -> None:
    """A worker process: ``fn(*args, progress=...)`` (a :class:`Progress`), its outcome
    sent on ``conn`` as ``(status, value)`` after any ``("update", snapshot)``. SIGINT
    stops it (a simulation returns what it has); the worker leads its own process group
    so that whatever it starts can be stopped with it."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        conn.send(("done", fn(*args, progress=Progress(progress, conn))))
    except KeyboardInterrupt:
        conn.send(("cancelled", "Cancelled."))
    except qmodel.QModelError as exc:
        conn.send(("failed", str(exc)))
    except Exception as exc:  # reported on the page, never as a traceback
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))


def model(text: str) -> qmodel.Model:
    return qmodel.Model.from_yaml(text, LIBRARY)


def simulate(text: str, replications: int, seed: int, customers: int | None, *,
             progress: Progress) -> dict:
    """The simulated result (``to_dict``), its table against the analytic result and the
    response-time distribution per class of both (``cdf``:
    :func:`qmodel.sim.distribution.response_cdf`); ``customers`` None runs a batch model
    until its batches are done."""
    from qmodel.sim import compare, simulate
    from qmodel.sim.distribution import response_cdf

    m = model(text)
    report = getattr(progress, "report", None)
    sim = simulate(m, replications=replications, seed=seed, customers=customers,
                   progress=progress, on_replication=None if report is None or
                   replications < 2 else lambda so_far: report(convergence_point(so_far)))
    analytic = qmodel.solve(m)
    return {"result": sim.to_dict(), "compare": compare(analytic, sim),
            "cdf": response_cdf({"analytic": analytic, "simulated": sim})}


def convergence_point(result: qmodel.Result) -> dict:
    """A live chart's point after a replication: how many, and the system's mean
    response and throughput with their 95% intervals (seconds; None where missing)."""
    point: dict[str, Any] = {"replications": result.replications}
    for key, est in (("mean_response_s", result.system.mean_response_time),
                     ("throughput_per_s", result.system.throughput)):
        point[key] = None if est is None else float(est)
        point[f"{key}_ci95"] = None if est is None or est.ci95 is None else \
            tuple(map(float, est.ci95))
    return point


def over_time(text: str, bins_s: float, replications: int, seed: int, *,
              progress: Progress):
    """``qmodel.simulate(..., bins=)``: the :class:`~qmodel.sim.TimeSeries` of the model
    ``text`` through its rate profiles."""
    return qmodel.simulate(model(text), bins=bins_s, replications=replications, seed=seed,
                           progress=progress)


def sweep(text: str, ranges: tuple[tuple[str, str], ...], metric: str, slo: str, *,
          progress: Progress):
    """``qmodel.experiments.sweep`` over ``(path, range)`` pairs, in this process."""
    from qmodel.experiments import sweep

    return sweep(model(text), dict(ranges), metric=metric, slo=slo or None,
                 executor="serial", progress=progress)


def sensitivity(text: str, metric: str, delta: float, *, progress: Progress):
    """``qmodel.experiments.sensitivity`` at the model's operating point."""
    from qmodel.experiments import sensitivity

    return sensitivity(model(text), metric, delta, executor="serial", progress=progress)


def plan(text: str, slo: str, load: str, costs: tuple[tuple[str, float], ...],
         max_utilization: float, *, progress: Progress) -> dict:
    """The cheapest configuration: ``Plan.to_dict()`` and the planned model as YAML."""
    from qmodel.experiments import plan

    best = plan(model(text), slo=slo or None, load=load or None, cost=dict(costs),
                max_utilization=max_utilization)
    return {"plan": best.to_dict(), "yaml": best.model.to_yaml()}


def headroom(text: str, slo: str, *, progress: Progress) -> dict:
    """``qmodel.experiments.headroom`` as a dict with its one-line summary (``text``)."""
    from qmodel.experiments import headroom

    found = headroom(model(text), slo or None)
    return found.to_dict() | {"text": str(found)}


def validate(text: str, name: str, mode: str, loads: tuple[float, ...], duration_s: float,
             warmup_s: float, calibration_s: float, backend: str, tolerance: float, *,
             progress: Progress) -> dict:
    """``loadtest.validate`` against the reference system on loopback: the report as a dict
    and as its self-contained HTML page. Progress is time-based (the run length is known);
    each level is sent to the page as soon as it is compared."""
    from rich.console import Console

    from loadtest.validate import validate

    expected = expected_seconds(len(loads), duration_s, warmup_s, calibration_s)
    with ticking(progress, expected), \
            tempfile.TemporaryDirectory(prefix="qmodel-ui-validate-") as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        out = Path(tmp) / "validation.html"
        report = validate(str(path), loads, duration_s, mode=mode, warmup=warmup_s,
                          calibration=calibration_s, backend=backend, tolerance=tolerance,
                          out=out, console=Console(file=io.StringIO()),
                          on_level=_level_reporter(progress))
        return {"report": report.to_dict(), "html": out.read_text(encoding="utf-8")}


def _level_reporter(progress: Progress) -> Callable[[Any], None] | None:
    """Send each compared level (its JSON, as in the report) to the page: the live
    chart of a validation."""
    report = getattr(progress, "report", None)
    return None if report is None else lambda level: report(level.to_json())


@contextlib.contextmanager
def ticking(progress: Progress, expected_s: float) -> Iterator[None]:
    """Report time-based progress (the elapsed share of ``expected_s``, at most 0.99)
    every half second while the block runs."""
    started = time.monotonic()
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            progress(min(0.99, (time.monotonic() - started) / expected_s))

    threading.Thread(target=tick, daemon=True).start()
    try:
        yield
    finally:
        stop.set()


def expected_seconds(levels: int, duration_s: float, warmup_s: float,
                     calibration_s: float) -> float:
    """Roughly how long a validation runs: start-up, calibration, then each level."""
    return 10 + (warmup_s + calibration_s + 1) + levels * (warmup_s + duration_s + 1)


TRACE_SUFFIXES = (".json", ".jsonl", ".ndjson")


def calibrate_traces(files: tuple[tuple[str, str], ...], format: str | None,
                     servers: tuple[tuple[str, int], ...], by: str, empirical: bool,
                     contents: tuple[bytes, ...], *, progress: Progress):
    """``qmodel.calibrate.from_traces`` on uploaded files (``(name, sha256)`` pairs, the
    job's key, and their ``contents``): the :class:`~qmodel.calibrate.Calibration`. Each
    file is written to a private temporary directory under a name of our own
    (``trace-1.json``; the uploaded name only picks the suffix from
    :data:`TRACE_SUFFIXES`), and errors name the uploaded file again."""
    from qmodel.calibrate import from_traces

    with tempfile.TemporaryDirectory(prefix="qmodel-ui-traces-") as tmp:
        paths = {}
        for i, ((name, _), content) in enumerate(zip(files, contents, strict=True), 1):
            suffix = Path(name).suffix.lower()
            path = Path(tmp) / f"trace-{i}{suffix if suffix in TRACE_SUFFIXES else '.json'}"
            path.write_bytes(content)
            paths[str(path)] = name
        try:
            cal = from_traces(list(paths), format, dict(servers) or None, by, empirical)
        except qmodel.QModelError as exc:
            raise qmodel.QModelError(_renamed(str(exc), paths)) from None
    return _uploaded_names(cal, paths)


def calibrate_sample(topology: str, jobs: int, seed: int, servers: tuple[tuple[str, int], ...],
                     by: str, empirical: bool, *, progress: Progress) -> dict:
    """A sample trace file simulated from a library topology
    (:func:`qmodel.calibrate.traces.sample.write_sample`) and its calibration:
    ``{"file": the OTLP JSON lines, "name": a file name, "calibration": ...}``."""
    from qmodel.calibrate.traces.sample import write_sample

    name = f"{topology}-sample.jsonl"
    with tempfile.TemporaryDirectory(prefix="qmodel-ui-sample-") as tmp:
        path = write_sample(qmodel.load(LIBRARY / f"{topology}.yaml"), Path(tmp) / name,
                            jobs=jobs, seed=seed)
        content = path.read_bytes()
    progress(0.5)
    cal = calibrate_traces(((name, digest(content)),), "otlp", servers, by, empirical,
                           (content,), progress=progress)
    return {"file": content, "name": name, "calibration": cal}


def calibrate_metrics(files: tuple[tuple[str, str], ...], text: str, format: str | None,
                      selectors: tuple[str | None, str | None, str | None], background: bool,
                      interval: str, rates: bool, contents: tuple[bytes, ...], *,
                      progress: Progress):
    """``qmodel.calibrate.from_metrics`` on uploaded metric files for the model ``text``
    (files as in :func:`calibrate_traces`, written keeping a known suffix; ``selectors``:
    the throughput, utilization and response Prometheus selectors, None for the default):
    the :class:`~qmodel.calibrate.metrics.MetricsCalibration`."""
    from qmodel.calibrate import from_metrics

    throughput, utilization, response = selectors
    with tempfile.TemporaryDirectory(prefix="qmodel-ui-metrics-") as tmp:
        paths = {}
        for i, ((name, _), content) in enumerate(zip(files, contents, strict=True), 1):
            suffix = Path(name).suffix.lower()
            path = Path(tmp) / f"metrics-{i}{suffix if suffix in METRIC_SUFFIXES else ''}"
            path.write_bytes(content)
            paths[str(path)] = name
        names = paths | {Path(p).name: n for p, n in paths.items()}  # sources say names
        try:
            cal = from_metrics(list(paths), model(text), format=format, throughput=throughput,
                               utilization=utilization, response=response,
                               background=background, interval=interval, seed=0, rates=rates)
        except qmodel.QModelError as exc:
            raise qmodel.QModelError(_renamed(str(exc), names)) from None
    if getattr(cal, "series", None) is not None:
        cal.series.source = _renamed(cal.series.source, names)
    return _uploaded_names(cal, names)


SAMPLE_INTERVALS = 40
SAMPLE_SECONDS = 60.0
SAMPLE_NOISE = 0.01  # busy servers, Gaussian, as in tests/calibrate/test_demands.py


def metrics_sample_csv(text: str, seed: int = 1, intervals: int = SAMPLE_INTERVALS) -> bytes:
    """A synthetic metrics CSV for the model ``text``: per one-minute interval, each open
    class's Poisson completion count at its rate times a random load factor (0.4..1.2),
    and per component with service times its busy servers ``Σ count·D / duration`` (D, the
    class's demand there from the model's own service means and visits) plus Gaussian
    noise, as ``utilization.COMPONENT`` (``busy.COMPONENT`` for infinite servers)."""
    import numpy as np

    net = model(text).network
    classes = [c for c in net.open_classes if c.rate > 0]
    if not classes:
        raise qmodel.QModelError("a synthetic sample needs open classes with an arrival "
                                 "rate; this model has none")
    rng = np.random.default_rng(seed)
    counts = {c.name: rng.poisson(c.rate * SAMPLE_SECONDS * rng.uniform(0.4, 1.2, intervals))
              for c in classes}
    columns: dict[str, np.ndarray] = {f"count.{c}": x for c, x in counts.items()}
    for comp in dict.fromkeys(s.component for s in net.stations):
        members = [i for i, s in enumerate(net.stations) if s.component == comp]
        demand = {c.name: sum(float(net.visits(c.name)[i]) * net.stations[i].service[c.name].mean
                              for i in members if c.name in net.stations[i].service)
                  for c in classes}
        if not any(demand.values()):
            continue
        busy = sum(counts[c] * d for c, d in demand.items()) / SAMPLE_SECONDS
        busy = np.maximum(busy + rng.normal(0.0, SAMPLE_NOISE, intervals), 0.0)
        servers = float(sum(net.stations[i].servers for i in members))
        if np.isfinite(servers):
            columns[f"utilization.{comp}"] = np.minimum(busy / servers, 1.0)
        else:
            columns[f"busy.{comp}"] = busy * SAMPLE_SECONDS
    lines = [",".join(["time", "duration", *columns])]
    for t in range(intervals):
        lines.append(",".join([f"{t * SAMPLE_SECONDS:g}", f"{SAMPLE_SECONDS:g}",
                               *(f"{columns[k][t]:.6g}" for k in columns)]))
    return ("\n".join(lines) + "\n").encode()


def calibrate_metrics_sample(text: str, seed: int, background: bool, interval: str,
                             rates: bool, *, progress: Progress) -> dict:
    """A synthetic metrics CSV for the model ``text`` (:func:`metrics_sample_csv`) and its
    calibration: ``{"file": the CSV, "name": a file name, "calibration": ...}``."""
    content = metrics_sample_csv(text, seed)
    name = f"{model(text).name}-synthetic-metrics.csv"
    cal = calibrate_metrics(((name, digest(content)),), text, "csv", (None, None, None),
                            background, interval, rates, (content,), progress=progress)
    return {"file": content, "name": name, "calibration": cal}


def uncertainty(text: str, samples: int, seed: int, *, progress: Progress) -> dict:
    """``qmodel.experiments.uncertainty.uncertainty`` of the model ``text``:
    ``Uncertainty.to_dict()`` (plain, picklable)."""
    from qmodel.experiments.uncertainty import uncertainty

    return uncertainty(model(text), samples=samples, seed=seed).to_dict()


METRIC_SUFFIXES = (".csv", ".json", ".txt", ".prom")


def digest(content: bytes) -> str:
    """The SHA-256 of an upload: what a job's key holds in place of its content."""
    return hashlib.sha256(content).hexdigest()


def _uploaded_names(cal, paths: dict[str, str]):
    """``cal`` saying the uploaded names where it says our temporary paths (its source, the
    model's description and ``calibration:`` section, the model file's comments)."""
    cal.source = _renamed(cal.source, paths)
    cal.data["header"] = [_renamed(h, paths) for h in cal.data.get("header", [])]
    quoted = {json.dumps(p)[1:-1]: json.dumps(n)[1:-1] for p, n in paths.items()}
    cal.model = qmodel.Model.from_dict(json.loads(_renamed(json.dumps(cal.model.to_dict()),
                                                           quoted)))
    return cal


def _renamed(text: str, paths: dict[str, str]) -> str:
    """``text`` with our temporary paths replaced by the names the files were uploaded as."""
    for path, name in paths.items():
        text = text.replace(path, name)
    return text


RESULT_SUFFIXES = (".csv", ".json", ".jsonl", ".ndjson", ".txt", ".log", ".out", ".hlog")
MAX_RESULT_BYTES = 64 << 20  # one uploaded result file
OPTION_NAMES = {"--class-of NAME=CLASS": "the class mapping (NAME=CLASS)",
                "--class-of": "class mapping", "--level-by": "levels",
                "--hlog-unit": ".hlog unit", "--results": "result files"}


def validate_results(files: tuple[tuple[str, str], ...], text: str, level_by: str,
                     class_of: tuple[str, ...], tolerance: float, hlog_unit: str,
                     contents: tuple[bytes, ...], *, progress: Progress) -> dict:
    """``loadtest.results.validate_results`` of the model ``text`` on uploaded result files
    (``(name, sha256)`` pairs, the job's key, and their ``contents``): the report as a dict
    and as its HTML page, saying the uploaded names. Each file is written to a private
    temporary directory as ``results-1.csv`` (the uploaded name only picks a suffix from
    :data:`RESULT_SUFFIXES`; the format is told from the content); errors name the
    uploaded file and line."""
    from loadtest.report import ValidationReport
    from loadtest.results import validate_results

    with tempfile.TemporaryDirectory(prefix="qmodel-ui-results-") as tmp:
        names = {}
        for i, ((name, _), content) in enumerate(zip(files, contents, strict=True), 1):
            suffix = Path(name).suffix.lower()
            path = Path(tmp) / f"results-{i}{suffix if suffix in RESULT_SUFFIXES else ''}"
            path.write_bytes(content)
            names[str(path)] = name
            names[path.name] = name
        try:
            report = validate_results(model(text), [p for p in names if "/" in p],
                                      level_by=level_by, class_of=list(class_of),
                                      tolerance=tolerance, hlog_unit=hlog_unit)
        except qmodel.QModelError as exc:
            raise qmodel.QModelError(_options(_replaced(str(exc), names))) from None
        progress(0.9)
        quoted = {p: json.dumps(n)[1:-1] for p, n in names.items()}
        doc = json.loads(_options(_replaced(json.dumps(report.to_dict(), default=float),
                                            quoted)))
        again = Path(tmp) / "renamed.json"  # the HTML page from the renamed report
        again.write_text(json.dumps(doc), encoding="utf-8")
        out = Path(tmp) / "validation.html"
        ValidationReport.read_json(again).write_html(out)
        return {"report": doc, "html": out.read_text(encoding="utf-8")}


SAMPLE_JOBS = 3000


def results_sample_csv(text: str, seed: int = 1, jobs: int = SAMPLE_JOBS) -> bytes:
    """A plain result CSV (``send_time,latency,status,class``) simulated from the model
    ``text`` itself: ``qmodel.simulate(..., trace=True)``, one row per job from its
    arrival to its last departure (a lost job is status 503); the last 2% of sends are
    left out (jobs still inside when the run stopped)."""
    m = model(text)
    if not any(c.rate > 0 for c in m.network.open_classes):
        raise qmodel.QModelError("a sample of result files needs open classes with an "
                                 "arrival rate; this model has none")
    trace = qmodel.simulate(m, replications=1, seed=seed, customers=jobs, trace=True).trace
    per_job = trace.groupby("job").agg(send=("arrival_s", "min"), end=("end_s", "max"),
                                       cls=("class", "first"), lost=("lost", "any"))
    per_job = per_job.sort_values("send")
    per_job = per_job[per_job["send"] <= per_job["send"].quantile(0.98)]
    lines = ["send_time,latency,status,class"]
    lines += [f"{s:.6f},{e - s:.6f},{503 if lost else 200},{c}" for s, e, c, lost in
              zip(per_job["send"], per_job["end"], per_job["cls"], per_job["lost"])]
    return ("\n".join(lines) + "\n").encode()


def validate_results_sample(text: str, seed: int, level_by: str, class_of: tuple[str, ...],
                            tolerance: float, *, progress: Progress) -> dict:
    """A plain CSV simulated from the model ``text`` (:func:`results_sample_csv`) and its
    validation: the report, ``"file"`` (the CSV) and ``"name"``."""
    content = results_sample_csv(text, seed)
    progress(0.5)
    name = f"{model(text).name}-sample-results.csv"
    out = validate_results(((name, digest(content)),), text, level_by, class_of, tolerance,
                           "us", (content,), progress=progress)
    return out | {"file": content, "name": name}


def _replaced(text: str, mapping: dict[str, str]) -> str:
    """``text`` with every key of ``mapping`` replaced in one pass (longest first), so that
    a name replaced is never replaced again."""
    if not mapping:
        return text
    pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len,
                                                                 reverse=True)))
    return pattern.sub(lambda m: mapping[m.group(0)], text)


def _options(text: str) -> str:
    """Messages written for the command line, in the page's words."""
    return _replaced(text, OPTION_NAMES)


def validate_service(text: str, name: str, target: str, requests_yaml: str | None,
                     metrics: str | None, loads: tuple[float | str, ...], duration_s: float,
                     warmup_s: float, calibration_s: float, tolerance: float,
                     retries: int = 1, *, progress: Progress) -> dict:
    """``loadtest.validate.validate(..., target=URL)``: the user's own HTTP service on
    loopback under the model's open traffic (``loads``: offered utilizations of the
    bottleneck, or total rates such as ``"50/s"``), the request map ``requests_yaml`` (a
    YAML text with a ``requests:`` section; None: the model's own, else ``POST /`` per
    class); a run that fails the load generator's self-checks is run again up to
    ``retries`` times. The report as a dict and as its HTML page.

    Cancel (SIGINT) first kills the process group of every child of this worker (locust
    runs in sessions of its own, out of reach of the worker's group), then stops."""
    from rich.console import Console

    from loadtest.validate import validate

    def interrupted(signum, frame) -> None:
        _stop_children()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    expected = expected_seconds(len(loads), duration_s, warmup_s, calibration_s)
    with ticking(progress, expected), \
            tempfile.TemporaryDirectory(prefix="qmodel-ui-service-") as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        requests, names = None, {str(path): f"{name}.yaml"}
        if requests_yaml:
            requests = Path(tmp) / "requests.yaml"
            requests.write_text(requests_yaml, encoding="utf-8")
            names[str(requests)] = "from the page"
        out = Path(tmp) / "validation.html"
        try:
            report = validate(str(path), list(loads), duration_s, warmup=warmup_s,
                              calibration=calibration_s, tolerance=tolerance, target=target,
                              retries=retries, requests=requests,
                              metrics=metrics or None, allow_hosts=(), out=out,
                              console=Console(file=io.StringIO()),
                              on_level=_level_reporter(progress))
        except (qmodel.QModelError, ValueError) as exc:
            raise qmodel.QModelError(_replaced(str(exc), names)) from None
        finally:
            signal.signal(signal.SIGINT, previous)
            _stop_children()  # nothing started here outlives the job
        quoted = {p: json.dumps(n)[1:-1] for p, n in names.items()}
        return {"report": json.loads(_replaced(json.dumps(report.to_dict(), default=float),
                                               quoted)),
                "html": _replaced(out.read_text(encoding="utf-8"), names)}


def _stop_children() -> None:
    """SIGKILL the process group of every child of this process that leads a group of its
    own (read from /proc: each child's parent and process group)."""
    me, mine = os.getpid(), os.getpgrp()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            ppid, pgrp = int(fields[1]), int(fields[2])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and pgrp != mine:
            try:
                os.killpg(pgrp, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
