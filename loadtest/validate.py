"""``qmodel validate``: run the model for real and compare the measurements with the
model's predictions.

1. Start the reference system (unless ``url`` names a running one).
2. Calibrate: one low-load run (15% of the bottleneck's capacity, or a tenth of the
   population) measures each component's mean delivered service time; the model gets
   those means (shapes kept). No higher level's measurements are seen by the model.
3. Each level: locust per job class for warm-up + duration; the warm-up and the last
   second are discarded; repeated ``repeats`` times (metrics averaged).
4. Predict with the calibrated model at the target rate and at the achieved rate.

A class whose clients time out, retry or hedge (the model's ``timeout``, ``retries``,
``hedge``) is played by locust's clients (:mod:`loadtest.locustfile`) at every level but
the calibration (which measures service times, and the unhedged response time that a
``hedge: {after: p95}`` is resolved from: a measured pilot). Each level then reports per
such class the requests, attempts, successes, timeouts, failures, goodput and retry
amplification (``measured["clients"]``, and rows ``CLASS (client)`` against the model's
prediction where the predictor gives them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console

from qmodel import QModelError
from qmodel.model.behaviour_spec import QUANTILE
from qmodel.model.model import Model, load
from qmodel.units import parse_duration

from .clients import client_rows, client_stats, read_client_rows, write_client_spec
from .compare import rows_for
from .loadgen import LoadSpec, run_locust
from .predict import calibrate, offered_peak, predict, with_population, with_rates
from .refsys.gateway import job_classes
from .refsys.supervisor import RefSystem, check_traffic
from .report import Level, ValidationReport
from .retrying import client_spec
from .samples import (
    LOOP_LAG_P99_LIMIT_S,
    TRACED_LOOP_LAG_P99_LIMIT_S,
    check_closed,
    check_open,
    check_system,
    latency,
)

CALIBRATION_LOAD = 0.15
TAIL_S = 1.0


def _seconds(value: float | str) -> float:
    return parse_duration(value) if isinstance(value, str) else float(value)


def class_path(model: Model, cls: str) -> str:
    jobs = job_classes(model)
    path = "/jobs" if cls in jobs else "/events"
    return path if len(model.network.classes) == 1 else f"{path}?class={cls}"


def _specs(model: Model, mode: str, load: float, scale: float, duration: float,
           seed: int, clients: dict[str, str] | None = None) -> dict[str, LoadSpec]:
    net = model.network
    clients = clients or {}
    if mode == "open":
        return {c.name: LoadSpec("open", duration, rate=c.rate * scale,
                                 path=class_path(model, c.name), seed=seed,
                                 client_file=clients.get(c.name, ""))
                for c in net.open_classes}
    return {c.name: LoadSpec("closed", duration, users=max(1, round(c.population * load)),
                             think_s=c.think.mean if c.think else 0.0,
                             path=class_path(model, c.name), seed=seed)
            for c in net.closed_classes}


def _average(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Average numeric leaves of several /metrics documents (repetitions)."""
    first = docs[0]
    if isinstance(first, dict):
        return {k: _average([d.get(k) for d in docs]) if all(isinstance(d, dict) for d in docs)
                else _average_values([d.get(k) for d in docs]) for k in first}
    return _average_values(docs)


def _average_values(values: list[Any]) -> Any:
    if all(isinstance(v, dict) for v in values):
        return _average(values)
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(values):
        return sum(numbers) / len(numbers)
    return values[0]


@dataclass
class Run:
    """One locust run against the system: the system's ``/metrics`` for the steady window,
    the self-checks (one per job class, plus ``system``), achieved rates, client-side
    latency, the window and the machine's load average (1 min) before and after."""

    measured: dict[str, Any]
    checks: dict[str, dict[str, Any]]
    achieved: dict[str, float]
    client: dict[str, Any]
    window: tuple[float, float]
    load_average: tuple[float, float]
    latencies: dict[str, np.ndarray] = field(default_factory=dict)  # successes, from intended

    @property
    def valid(self) -> bool:
        return all(c["valid"] for c in self.checks.values())

    @property
    def problems(self) -> list[str]:
        return [p for c in self.checks.values() for p in c["problems"]]


class Harness:
    """Runs loads against one system and measures them."""

    def __init__(self, model: Model, url: str, work_dir: Path, warmup_s: float,
                 console: Console, retries: int = 1, traced: bool = False):
        self.model = model
        self.url = url
        self.work_dir = work_dir
        self.warmup_s = warmup_s
        self.console = console
        self.retries = retries
        self.runs = 0
        self.discarded: list[str] = []
        # a system writing spans has their cost on its event loop (samples.py)
        self.loop_lag_limit_s = TRACED_LOOP_LAG_P99_LIMIT_S if traced else LOOP_LAG_P99_LIMIT_S

    def measure(self, specs: dict[str, LoadSpec]) -> Run:
        self.runs += 1
        runs = [(spec, self.work_dir / f"run{self.runs}-{cls}.csv") for cls, spec in specs.items()]
        spec0 = next(iter(specs.values()))
        started = time.time()
        load_before = _load_average()
        samples = dict(zip(specs, run_locust(self.url, runs)))
        load_after = _load_average()
        start = min((min(m["started"] for m in s.meta) for s in samples.values() if s.meta),
                    default=started)
        stopped = min((min(m["stopped"] for m in s.meta) for s in samples.values() if s.meta),
                      default=time.time())
        # the sample files are written 0.5 s after the users stop
        since = start + self.warmup_s
        until = min(start + spec0.duration_s, stopped - 0.5) - TAIL_S
        self._settle()
        measured = httpx.get(f"{self.url}/metrics", params={"since": since, "until": until},
                             timeout=120).json()
        checks, achieved, client, latencies = {}, {}, {}, {}
        clients = {cls: client_stats(read_client_rows(out), since, until)
                   for (spec, out), cls in zip(runs, specs) if spec.client_file}
        if clients:
            measured["clients"] = clients
        for cls, spec in specs.items():
            s = samples[cls]
            ok = (s.status >= 200) & (s.status < 300)
            latencies[cls] = (s.done - s.intended)[ok]
            check = check_open(s, spec.rate, since, until) if spec.mode == "open" else \
                check_closed(s, spec.users, spec.think_s, since, until)
            checks[cls] = check.to_json()
            achieved[cls] = check.achieved_rate
            client[cls] = latency(s.window(since, until))
        checks["system"] = check_system(measured.get("system"), self.loop_lag_limit_s).to_json()
        return Run(measured, checks, achieved, client, (since, until), (load_before, load_after),
                   latencies)

    def measure_valid(self, specs: dict[str, LoadSpec], what: str) -> Run:
        """Measure; an invalid run (a self-check failed: the machine was too busy to
        trust it) is discarded and run again, up to ``retries`` times. The last run is
        returned valid or not, and the discarded ones are noted in the report."""
        for attempt in range(self.retries + 1):
            run = self.measure(specs)
            if run.valid or attempt == self.retries:
                return run
            note = (f"{what}: run {attempt + 1} INVALID (load average "
                    f"{run.load_average[0]:.1f}), run again: " + "; ".join(run.problems))
            self.discarded.append(note)
            self.console.print(f"[yellow]{note}[/]")
        raise AssertionError("unreachable")

    def _settle(self, timeout_s: float = 30.0) -> None:
        """Wait until nothing is in flight (so every item of the window is complete)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            doc = httpx.get(f"{self.url}/results/summary", timeout=30).json()
            if doc["in_flight"] == 0 and not any(doc["backlog"].values()):
                return
            time.sleep(0.1)


def _console() -> Console:
    """The terminal's console; a wide one when the output is not a terminal (the tables
    have ten columns)."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def validate(model: Model | str | Path, loads: Sequence[float | str] = (0.3, 0.5, 0.7, 0.85),
             duration: float | str = "60s", *, mode: str = "open",
             warmup: float | str = "5s", repeats: int = 1, tolerance: float = 0.10,
             calibration: float | str = "20s", backend: str = "embedded",
             out: str | Path | None = "validation.html", url: str | None = None,
             seed: int = 0, retries: int = 1, keep: bool = False,
             otel_traces: str | Path | None = None,
             console: Console | None = None, target: str | None = None,
             requests: str | Path | None = None, metrics: str | None = None,
             allow_hosts: Sequence[str] = (), max_error_rate: float = 0.05,
             max_rate: float | None = None, max_duration: float | str | None = None,
             master_bind: str = "127.0.0.1",
             on_level: Callable[[Level], None] | None = None) -> ValidationReport:
    """Validate ``model`` against the real system; write ``out`` (HTML) and its ``.json``.

    ``loads`` are offered utilizations of the bottleneck (open mode) or fractions of the
    model's populations (closed mode). A run that fails its self-checks (load generator
    or system) is run again up to ``retries`` times; still invalid, it is reported
    INVALID and not compared. The raw samples and the system's traces, stores and logs
    go to a temporary directory, removed at the end unless ``keep`` (its path is then in
    the report's notes). ``otel_traces``: the started system writes its OpenTelemetry
    spans there (OTLP JSON lines; not with ``url``, a system this does not start).

    ``target``: validate the user's own HTTP service at this URL instead of the reference
    system (``loadtest.target``): the request map from ``requests`` (a YAML file) or the
    model's ``requests:`` section, client-side latency gated, ``metrics`` a Prometheus
    endpoint to scrape; loopback only unless ``allow_hosts`` names the host; ``loads``
    may be total rates (``"50/s"``); capped at ``max_rate`` per second and
    ``max_duration`` per window; a level failing more than ``max_error_rate`` of its
    requests is stopped and the levels above it are not run.

    ``on_level`` is called with each :class:`~loadtest.report.Level` as soon as it is
    compared (a live chart), before the next level starts.
    """
    if mode not in ("open", "closed"):
        raise ValueError(f"mode must be open or closed, got {mode!r}")
    if on_level is not None and not callable(on_level):
        raise ValueError(f"on_level must be callable, got {on_level!r}")
    if (url or target) and otel_traces:
        raise ValueError("otel_traces: spans come from a system validate starts, not from "
                         "one at --url or --target")
    console = console or _console()
    path = str(model) if not isinstance(model, Model) else model.source
    model = load(model) if not isinstance(model, Model) else model
    check_traffic(model)
    if (mode == "open") != bool(model.network.open_classes):
        raise ValueError(f"mode {mode} needs a model with "
                         f"{'open arrivals' if mode == 'open' else 'closed users'}")
    if target is None and (requests or metrics or any(isinstance(v, str) for v in loads)):
        raise ValueError("--requests, --metrics and rates as --load need --target URL")
    if target is not None and mode != "open":
        raise ValueError("--target validates open traffic (arrival rates) only")
    duration_s, warmup_s = _seconds(duration), _seconds(warmup)
    peak, bottleneck = offered_peak(model) if mode == "open" else (1.0, "")
    if target is not None:
        from .target import MAX_DURATION_S, MAX_RATE_PER_S, check_target

        check_target(target, allow_hosts)  # before anything else, no traffic
    work_dir = Path(tempfile.mkdtemp(prefix="qmodel-validate-"))
    system = nullcontext() if url or target else RefSystem(path, backend=backend, seed=seed,
                                                           run_dir=work_dir / "system",
                                                           otel_traces=otel_traces)
    try:
        if target is not None:
            from .target import validate_target

            report = validate_target(
                model, loads, duration_s, target=target, requests=requests, metrics=metrics,
                allow_hosts=allow_hosts, max_error_rate=max_error_rate,
                max_rate=MAX_RATE_PER_S if max_rate is None else max_rate,
                max_duration=MAX_DURATION_S if max_duration is None else
                _seconds(max_duration), warmup_s=warmup_s, repeats=repeats,
                tolerance=tolerance, calibration_s=_seconds(calibration), seed=seed,
                retries=retries, console=console, work_dir=work_dir, peak=peak,
                bottleneck=bottleneck, master_bind=master_bind, on_level=on_level)
        else:
            report = _run(model, loads, mode, tolerance, duration_s, warmup_s, repeats,
                          calibration, backend, url, seed, retries, console, work_dir, peak,
                          bottleneck, system, on_level)
    finally:
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    if keep:
        report.notes.append(f"samples, traces, stores and logs kept in {work_dir}")
    if otel_traces:
        report.notes.append(f"OpenTelemetry spans written to {otel_traces}")
    report.print(console)
    if out is not None:
        out = Path(out)
        report.write_html(out)
        report.write_json(out.with_suffix(".json"))
        console.print(f"wrote {out} and {out.with_suffix('.json')}")
    return report


def _run(model: Model, loads: Sequence[float], mode: str, tolerance: float,
         duration_s: float, warmup_s: float, repeats: int, calibration: float | str,
         backend: str, url: str | None, seed: int, retries: int, console: Console,
         work_dir: Path, peak: float, bottleneck: str, system,
         on_level: Callable[[Level], None] | None = None) -> ValidationReport:
    with system as running:
        base = url or running.url
        harness = Harness(model, base, work_dir, warmup_s, console, retries,
                          traced=running is not None and running.otel_traces is not None)
        with console.status("calibrating service times at low load"):
            specs = _specs(model, mode, CALIBRATION_LOAD, CALIBRATION_LOAD / peak,
                           warmup_s + _seconds(calibration) + TAIL_S, seed)
            cal = harness.measure_valid(specs, "calibration")
        clients = client_files(model, cal, work_dir)
        nominal = _nominal(model)
        services = calibrated_services(cal.measured, nominal)
        calibrated = calibrate(model, services)
        report = ValidationReport(
            model=model.name, mode=mode, tolerance=tolerance, duration_s=duration_s,
            warmup_s=warmup_s, repeats=repeats, backend=backend,
            calibration={"load": CALIBRATION_LOAD, "mean_service_s": services,
                         "sample_mean_service_s": measured_services(cal.measured),
                         "overhead_s": {c: services[c] - nominal[c] for c in services
                                        if c in nominal},
                         "nominal_service_s": nominal, "valid": cal.valid,
                         "checks": cal.checks, "load_average": cal.load_average})
        if not cal.valid:
            report.notes.append("the calibration run was INVALID (" + "; ".join(cal.problems)
                                + "): its service times are suspect")
        if mode == "open":
            report.notes.append(f"load = offered utilization of the bottleneck "
                                f"({bottleneck}, {peak:.3g} at the model's rates)")
        report.notes.append(f"service times calibrated from a {_seconds(calibration):g} s run "
                            f"at load {CALIBRATION_LOAD}; windows of {duration_s:g} s after a "
                            f"{warmup_s:g} s warm-up, x{repeats}")
        for i, level in enumerate(loads, 1):
            console.print(f"[bold]level {i}/{len(loads)}[/]: load {level:g}")
            lv = _level(harness, calibrated, mode, level, peak, duration_s, repeats, tolerance,
                        seed + i, console, clients)
            if mode == "open" and level >= 1.0 and lv.predicted_stable:
                lv.predicted_stable = False  # a finite capacity turns it into losses
                lv.instability = [f"{bottleneck} is saturated (offered utilization "
                                  f"{level:.4g} >= 1): the model predicts instability"]
                lv.rows = []
            report.levels.append(lv)
            if on_level is not None:
                on_level(lv)
        report.notes += harness.discarded
    return report


def client_files(model: Model, pilot: Run, work_dir: Path) -> dict[str, str]:
    """Each open class's client spec as a file for locust, a ``hedge.after`` quantile
    resolved from the pilot run's (the calibration's, unhedged) response times."""
    files = {}
    for c in model.network.open_classes:
        spec = client_spec(c.client)
        if spec is None:
            continue
        hedge = spec.get("hedge")
        if hedge is not None and isinstance(hedge["after"], str):
            times = pilot.latencies.get(c.name, np.empty(0))
            if not len(times):
                raise ValueError(f"arrivals.{c.name}.hedge.after: {hedge['after']} needs "
                                 f"answered requests in the calibration run; none were")
            q = float(QUANTILE.match(hedge["after"]).group(1))
            hedge["after"] = float(np.percentile(times, q))
        files[c.name] = str(write_client_spec(work_dir / f"client-{c.name}.json", spec))
    return files


def _nominal(model: Model) -> dict[str, float]:
    return {s.component: max(d.mean for d in s.service.values())
            for s in model.network.stations if s.service}


def measured_services(measured: dict[str, Any]) -> dict[str, float]:
    """Mean delivered service time per component of a ``/metrics`` document."""
    return {c: d["mean_service_s"] for c, d in measured["components"].items()
            if d.get("mean_service_s")}


def calibrated_services(measured: dict[str, Any], nominal: dict[str, float]
                        ) -> dict[str, float]:
    """Each component's mean service time as the system delivers it, from the per-item
    timings of a calibration run: the model's mean plus the mean *overhead* (delivered
    minus drawn, per item).

    The plain sample mean of the delivered times would carry the sampling error of the
    random draws themselves (an exponential mean from n items is off by 1/sqrt(n): 4.6%
    for 480 items), and that error would go straight into every prediction. The overhead
    (real work beyond the draw, timer and scheduling lateness) is what the calibration
    has to find, and its mean is known far better: the draw's noise cancels item by item
    (a control variate). Components without drawn times keep the sample mean."""
    out = {}
    for component, doc in measured["components"].items():
        delivered, drawn = doc.get("mean_service_s"), doc.get("mean_target_service_s")
        if not delivered:
            continue
        if drawn and component in nominal:
            out[component] = nominal[component] + (delivered - drawn)
        else:
            out[component] = delivered
    return out


def _level(harness: Harness, model: Model, mode: str, level: float, peak: float,
           duration_s: float, repeats: int, tolerance: float, seed: int,
           console: Console, clients: dict[str, str] | None = None) -> Level:
    scale = level / peak
    length = harness.warmup_s + duration_s + TAIL_S
    runs: list[Run] = []
    for r in range(repeats):
        # each repetition its own arrival stream
        specs = _specs(model, mode, level, scale, length, seed + 7919 * r, clients)
        with console.status(f"load {level:g}: run {r + 1}/{repeats} ({length:g} s)"):
            runs.append(harness.measure_valid(specs, f"load {level:g} repetition {r + 1}"))
    measured = _average([run.measured for run in runs])
    checks = {cls: next((run.checks[cls] for run in runs if not run.checks[cls]["valid"]),
                        runs[0].checks[cls]) for cls in runs[0].checks}
    achieved = {cls: sum(run.achieved[cls] for run in runs) / repeats for cls in specs}
    client = _average([run.client for run in runs])
    if mode == "open":
        target = {c: s.rate for c, s in specs.items()}
        at_target = with_rates(model, target)
        at_measured = with_rates(model, achieved)
    else:
        target = {c: float(s.users) for c, s in specs.items()}
        at_target = at_measured = with_population(model, {c: s.users for c, s in specs.items()})
    # the model at this level's measured rate *and* measured service times: what is left
    # is the queueing model's own error (not the load generator's, not the emulation's)
    at_service = calibrate(at_measured, measured_services(measured))
    windows, loads = [run.window for run in runs], [run.load_average for run in runs]
    try:
        p_target, p_measured = predict(at_target, seed), predict(at_measured, seed)
        p_service = predict(at_service, seed)
    except QModelError as exc:  # behaviours no solver or simulator models yet
        lv = Level(level, target, achieved, checks, windows, measured, client,
                   load_average=loads, caveats=[f"not compared: {exc}"])
        lv.rows = client_rows(measured.get("clients", {}), None, tolerance)
        return lv
    lv = Level(level, target, achieved, checks, windows, measured, client,
               methods=sorted({p_target.method, p_measured.method, p_service.method}),
               load_average=loads)
    if not p_target.stable:
        lv.predicted_stable = False
        lv.instability = [str(u) for u in p_target.unstable]
        return lv
    lv.rows = rows_for(measured, p_target, p_measured, tolerance, list(specs), p_service,
                       client) + client_rows(measured.get("clients", {}), p_target, tolerance)
    return lv

