"""``qmodel validate MODEL --target URL``: validate a model against the user's own HTTP
service, measured from the client side.

1. Safety first, before any traffic: the target (and ``--metrics``) must be on loopback
   unless ``--allow-host HOST`` names its host; the total rate of every level and the
   window are capped (``max_rate``, ``max_duration``; raise them explicitly).
2. The request map (``qmodel.model.requests``) says which HTTP requests stand for each job
   class; it is written per class as JSON for the locustfile (``--requests-file``).
3. **Calibration** at low load (15% of the bottleneck's capacity): see
   :func:`calibrate_target`. The model sees nothing of the higher levels.
4. Each level: the open-loop locust dispatcher per class (Poisson, latency from the
   intended send time); the load generator's self-checks decide VALID/INVALID; a level
   whose error rate exceeds ``max_error_rate`` is stopped (locust stops sending) and the
   levels above it are not run. ``--metrics URL`` is scraped during the run
   (``loadtest.prom``) and the mapped metrics are compared per component.
5. Gated: each class's client-side mean and p95 against the calibrated model plus the
   measured fixed overhead.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from qmodel.errors import ModelError, Problem
from qmodel.model.model import Model
from qmodel.model.parse import read_file
from qmodel.model.requests import RequestMap, default_map, read_requests, status_matches
from qmodel.units import parse_rate

from .compare import target_rows
from .loadgen import LoadSpec, run_locust
from .predict import calibrate, predict, with_rates
from .prom import Scraper, component_figures, unmapped
from .report import Level, ValidationReport
from .samples import check_open, latency

CALIBRATION_LOAD = 0.15
OVERHEAD_RATE = 10.0          # per second: the overhead request beside the calibration
MAX_RATE_PER_S = 2000.0       # hard cap on a level's total rate (raise with max_rate)
MAX_DURATION_S = 600.0        # hard cap on a level's window (raise with max_duration)
TAIL_S = 1.0
OVERHEAD = "overhead"
ECHO = "client"
ECHO_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class EchoServer:
    """A loopback HTTP server that answers every request at once (asyncio, in a thread):
    the overhead request sent here costs the client's and the loopback's share only."""

    def __enter__(self) -> EchoServer:
        import asyncio
        import threading

        from .net import LOOPBACK, free_port

        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        class Answer(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport, self.data = transport, b""

            def data_received(self, data):
                self.data += data
                if b"\r\n\r\n" in self.data:
                    self.transport.write(ECHO_RESPONSE)
                    self.transport.close()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(
                self.loop.create_server(Answer, LOOPBACK, self.port, backlog=1024))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def check_target(url: str, allow_hosts: Sequence[str] = (), what: str = "--target") -> str:
    """The host of ``url``; raise ValueError unless it is on loopback or allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what}: must be an http:// or https:// URL with a host, got {url!r}")
    host = parts.hostname
    if host == "localhost" or _loopback(host) or host in allow_hosts:
        return host
    raise ValueError(f"{what} {url}: {host} is not a loopback address; sending load to "
                     f"another machine needs --allow-host {host}")


def _loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "localhost" or _loopback(host)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def request_map(model: Model, requests: str | Path | None) -> tuple[RequestMap, str]:
    """The request map from ``requests`` (a YAML file with a ``requests:`` section), else
    the model's own section, else one ``POST /`` per class; and where it came from."""
    classes = [c.name for c in model.network.classes]
    nodes = list(model.spec.nodes)
    if requests is not None:
        doc = read_file(requests)
        if not isinstance(doc, dict) or "requests" not in doc:
            raise ModelError([Problem("requests", f"{requests}: a request map file needs a "
                                                  "top-level 'requests:' section")])
        extra = sorted(set(doc) - {"requests"})
        if extra:
            raise ModelError([Problem(extra[0], f"{requests}: unknown key; a request map "
                                                "file holds 'requests:' only")])
        return read_requests(doc["requests"], classes, nodes), f"request map {requests}"
    if model.spec.requests is not None:
        return model.spec.requests, "the model's requests: section"
    return default_map(classes), "no request map: one POST / per class (success 2xx)"


def parse_loads(loads: Sequence[float | str], model: Model, peak: float
                ) -> list[tuple[float, float, str]]:
    """Each level as (offered utilization of the bottleneck, scale of the model's rates,
    label): a number is a utilization, ``50/s`` a total rate over all classes."""
    total = sum(c.rate for c in model.network.open_classes)
    out = []
    for item in loads:
        if isinstance(item, str) and "/" in item:
            rate = parse_rate(item)
            if rate <= 0:
                raise ValueError(f"--load: a rate must be positive, got {item!r}")
            scale = rate / total
            out.append((scale * peak, scale, item))
        else:
            value = float(item)
            if value <= 0:
                raise ValueError(f"--load: a level must be positive, got {item!r}")
            out.append((value, value / peak, f"{value:g}"))
    return out


@dataclass
class TargetRun:
    """One locust run against the target (all classes side by side)."""

    checks: dict[str, dict[str, Any]]
    achieved: dict[str, float]
    client: dict[str, Any]
    window: tuple[float, float]
    load_average: tuple[float, float]
    error_rates: dict[str, float]
    stopped: str
    metrics: dict[str, Any]
    unmapped: list[str]

    @property
    def valid(self) -> bool:
        return not self.stopped and all(c["valid"] for c in self.checks.values())

    @property
    def problems(self) -> list[str]:
        return [p for c in self.checks.values() for p in c["problems"]]


class TargetHarness:
    """Runs request-map loads against a target and measures them client side."""

    def __init__(self, url: str, rmap: RequestMap, work_dir: Path, warmup_s: float,
                 console: Console, retries: int, max_error_rate: float,
                 metrics_url: str | None, master_bind: str):
        self.url = url.rstrip("/")
        self.rmap = rmap
        self.work_dir = work_dir
        self.warmup_s = warmup_s
        self.console = console
        self.retries = retries
        self.max_error_rate = max_error_rate
        self.metrics_url = metrics_url
        self.master_bind = master_bind
        self.runs = 0
        self.discarded: list[str] = []
        self.files = {}
        work_dir.mkdir(parents=True, exist_ok=True)
        for cls in [*rmap.classes, *([OVERHEAD] if rmap.overhead else [])]:
            path = work_dir / f"requests-{cls}.json"
            path.write_text(json.dumps(rmap.to_locust(cls)))
            self.files[cls] = str(path)

    def success(self, cls: str):
        statuses = self.rmap.overhead.success if cls in (OVERHEAD, ECHO) else \
            self.rmap.success(cls)
        return lambda status: status_matches(statuses, status)

    def spec(self, cls: str, rate: float, length: float, seed: int) -> LoadSpec:
        return LoadSpec("open", length, rate=rate, path="/", seed=seed,
                        requests_file=self.files[cls], max_error_rate=self.max_error_rate,
                        master_bind=self.master_bind)

    def measure(self, specs: dict[str, LoadSpec]) -> TargetRun:
        self.runs += 1
        runs = [(spec, self.work_dir / f"run{self.runs}-{cls}.csv") for cls, spec in specs.items()]
        spec0 = next(iter(specs.values()))
        started = time.time()
        load_before = _load_average()
        scraper = Scraper(self.metrics_url) if self.metrics_url else nullcontext()
        with scraper:
            samples = dict(zip(specs, run_locust(self.url, runs)))
        load_after = _load_average()
        metas = [m for s in samples.values() for m in s.meta]
        start = min((m["started"] for m in metas), default=started)
        stopped_at = min((m["stopped"] for m in metas), default=time.time())
        since = start + self.warmup_s
        until = min(start + spec0.duration_s, stopped_at - 0.5) - TAIL_S
        stopped = [m["stopped_on_errors"] for m in metas if m.get("stopped_on_errors")]
        checks, achieved, client, errors = {}, {}, {}, {}
        for cls, spec in specs.items():
            s = samples[cls]
            ok = self.success(cls)
            answered = len(s.status)
            failed = sum(not ok(int(x)) for x in s.status)
            errors[cls] = failed / answered if answered else 0.0
            if answered and errors[cls] > self.max_error_rate and not stopped:
                stopped.append(f"{cls}: error rate {errors[cls]:.1%} of {answered} answers "
                               f"exceeded {self.max_error_rate:.1%}")
            if stopped or until <= since:
                checks[cls] = {"mode": "open", "valid": False, "achieved_rate": 0.0,
                               "problems": [f"{cls}: stopped before its window"]}
                achieved[cls] = 0.0
                client[cls] = latency(s, ok)
                continue
            check = check_open(s, spec.rate, since, until)
            checks[cls] = check.to_json()
            achieved[cls] = check.achieved_rate
            client[cls] = latency(s.window(since, until), ok)
        figures, names = {}, []
        if self.metrics_url:
            figures = component_figures(scraper.scrapes, since, until, self.rmap.metrics)
            names = unmapped(scraper.scrapes, self.rmap.metrics)
            if scraper.errors:
                figures["_scrape_errors"] = scraper.errors[:5]
        return TargetRun(checks, achieved, client, (since, until), (load_before, load_after),
                         errors, "; ".join(stopped), figures, names)

    def measure_valid(self, specs: dict[str, LoadSpec], what: str) -> TargetRun:
        """Measure; a run that failed its self-checks (a busy machine) is run again up to
        ``retries`` times; one stopped on errors is not (its load was the problem)."""
        for attempt in range(self.retries + 1):
            run = self.measure(specs)
            if run.valid or run.stopped or attempt == self.retries:
                return run
            note = (f"{what}: run {attempt + 1} INVALID (load average "
                    f"{run.load_average[0]:.1f}), run again: " + "; ".join(run.problems))
            self.discarded.append(note)
            self.console.print(f"[yellow]{note}[/]")
        raise AssertionError("unreachable")


def _load_average() -> float:
    import os

    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _nominal(model: Model) -> dict[str, float]:
    return {s.component: max(d.mean for d in s.service.values())
            for s in model.network.stations if s.service}


def _mean_response(result, classes: list[str], weights: dict[str, float]) -> float:
    if len(classes) == 1:
        return float(result.system.mean_response_time)
    total = sum(weights.values())
    return sum(weights[c] * float(result.classes[c].mean_response_time) for c in classes) / total


def fit_factor(model: Model, rates: dict[str, float], target_s: float,
               weights: dict[str, float], seed: int = 0) -> tuple[float, float]:
    """The factor k on every component's mean service time (shapes and relative demands
    kept) at which the model's mean response at ``rates`` is ``target_s``; and the
    model's mean at that k. Fixed point k <- k * target / R(k): R grows a little faster
    than k (queueing), so the iteration contracts; a handful of solves."""
    nominal = _nominal(model)
    classes = list(rates)
    k, response = 1.0, float("nan")
    for _ in range(25):
        m = with_rates(calibrate(model, {c: v * k for c, v in nominal.items()}), rates)
        result = predict(m, seed)
        if not result.stable:
            k *= 0.5
            continue
        response = _mean_response(result, classes, weights)
        new = k * target_s / response
        if abs(new - k) <= 1e-5 * k:
            return new, response
        k = new
    return k, response


def calibrate_target(model: Model, run: TargetRun, rates: dict[str, float],
                     overhead: bool, seed: int = 0) -> tuple[Model, dict[str, Any]]:
    """The calibrated model from the low-load run, and what the report shows of it.

    The estimator: a request's client-side latency is a fixed delay d (client, loopback,
    connection set-up: no queueing) plus the model's response time. The map's
    ``overhead`` request (a trivial endpoint) is sent beside the calibration load twice:
    to the target (latency o: d plus the worker's own per-request work, accept, parse,
    answer, which occupies a server and so queues) and, for a loopback target, to an
    echo server of the harness that needs no worker (latency e: the client's and the
    loopback's share). d = min(e, o); o - e is reported as the server's share of the overhead
    and stays in the demand. Without an echo (a remote target) d = o; without an
    overhead request d = 0 (then the client's share is counted as service).

    Each class's demand is its low-load mean client latency minus d; the model's service
    means are scaled by one factor k so that the model's mean response at the
    calibration rates equals the (throughput-weighted) demand: the little queueing the
    model itself predicts at 15% load is not taken for service. Predictions are then the
    model's response (mean, p95) plus d (a constant delay shifts every percentile by d).
    Per-class demands are reported; one factor serves all classes (a model's relative
    demands are kept)."""
    classes = [c for c in run.client if c not in (OVERHEAD, ECHO)]
    o = run.client[OVERHEAD]["client"]["mean_s"] if overhead and OVERHEAD in run.client \
        else None
    e = run.client[ECHO]["client"]["mean_s"] if ECHO in run.client else None
    d = (min(e, o) if e is not None and o is not None else o) or 0.0  # never above o
    means = {c: run.client[c]["client"]["mean_s"] for c in classes}
    missing = [c for c, v in means.items() if v is None]
    if missing:
        raise ValueError(f"calibration: no successful answer for {', '.join(missing)}: "
                         "check the request map and the target")
    demands = {c: means[c] - d for c in classes}
    if any(v <= 0 for v in demands.values()):
        raise ValueError(f"calibration: the overhead request's latency {d * 1e3:.2f} ms is "
                         f"not below the classes' ({means}): is it really trivial?")
    weights = {c: rates[c] for c in classes}
    target = sum(weights[c] * demands[c] for c in classes) / sum(weights.values())
    k, fitted = fit_factor(model, rates, target, weights, seed)
    services = {c: v * k for c, v in _nominal(model).items()}
    info = {"kind": "target", "load": CALIBRATION_LOAD, "rates": rates, "overhead_s": d,
            "overhead_measured": bool(overhead), "overhead_request_s": o,
            "client_share_s": e, "client_mean_s": means,
            "demand_s": demands, "factor": k, "model_mean_at_calibration_s": fitted,
            "mean_service_s": services, "nominal_service_s": _nominal(model),
            "valid": run.valid, "checks": run.checks, "load_average": run.load_average}
    return calibrate(model, services), info


def validate_target(model: Model, loads: Sequence[float | str], duration_s: float, *,
                    target: str, requests: str | Path | None, metrics: str | None,
                    allow_hosts: Sequence[str], max_error_rate: float, max_rate: float,
                    max_duration: float, warmup_s: float, repeats: int, tolerance: float,
                    calibration_s: float, seed: int, retries: int, console: Console,
                    work_dir: Path, peak: float, bottleneck: str,
                    master_bind: str = "127.0.0.1",
                    on_level: Callable[[Level], None] | None = None) -> ValidationReport:
    """Validate ``model`` against ``target`` (everything checked before any traffic)."""
    check_target(target, allow_hosts)
    if metrics:
        check_target(metrics, allow_hosts, "--metrics")
    if not 0 < max_error_rate < 1:
        raise ValueError(f"--max-error-rate must be in (0, 1), got {max_error_rate!r}")
    if duration_s > max_duration or calibration_s > max_duration:
        raise ValueError(f"--duration {max(duration_s, calibration_s):g}s exceeds the cap of "
                         f"{max_duration:g}s (raise it with --max-duration)")
    rmap, origin = request_map(model, requests)
    levels = parse_loads(loads, model, peak)
    total = sum(c.rate for c in model.network.open_classes)
    for _, scale, label in levels:
        if total * scale > max_rate:
            raise ValueError(f"--load {label}: {total * scale:.4g} requests/s exceeds the cap "
                             f"of {max_rate:g}/s (raise it with --max-rate)")
    harness = TargetHarness(target, rmap, work_dir, warmup_s, console, retries,
                            max_error_rate, metrics, master_bind)
    cal_scale = CALIBRATION_LOAD / peak
    rates = {c.name: c.rate * cal_scale for c in model.network.open_classes}
    length = warmup_s + calibration_s + TAIL_S
    specs = {c: harness.spec(c, r, length, seed) for c, r in rates.items()}
    if rmap.overhead:
        specs[OVERHEAD] = harness.spec(OVERHEAD, OVERHEAD_RATE, length, seed + 1)
    split = bool(rmap.overhead) and _loopback_url(target)
    echo = EchoServer() if split else nullcontext()
    with console.status("calibrating: overhead and service demand at low load"), echo:
        if split:  # the same request to a server that needs no worker: the client's share
            specs[ECHO] = replace(harness.spec(OVERHEAD, OVERHEAD_RATE, length, seed + 2),
                                  host=echo.url)
        cal = harness.measure_valid(specs, "calibration")
    if cal.stopped:  # nothing to calibrate from, no level run
        report = ValidationReport(
            model=model.name, mode="open", tolerance=tolerance, duration_s=duration_s,
            warmup_s=warmup_s, repeats=repeats, backend=f"target {target}",
            calibration={"kind": "target", "stopped": cal.stopped, "load": CALIBRATION_LOAD,
                         "error_rates": cal.error_rates, "checks": cal.checks})
        report.notes.append(f"calibration stopped: {cal.stopped}; no level was run")
        return report
    calibrated, info = calibrate_target(model, cal, rates, bool(rmap.overhead), seed)
    report = ValidationReport(
        model=model.name, mode="open", tolerance=tolerance, duration_s=duration_s,
        warmup_s=warmup_s, repeats=repeats, backend=f"target {target}", calibration=info)
    report.notes.append(f"target {target} ({origin}); latency measured client side, from "
                        "the intended send time; the target's own health is not checked "
                        "(only the load generator's)")
    if not cal.valid:
        report.notes.append("the calibration run was INVALID (" + "; ".join(cal.problems)
                            + "): its demands are suspect")
    report.notes.append(f"load = offered utilization of the bottleneck ({bottleneck}, "
                        f"{peak:.3g} at the model's rates)")
    report.notes.append(
        f"calibrated from a {calibration_s:g} s run at load {CALIBRATION_LOAD}: delay "
        + (f"{info['overhead_s'] * 1e3:.2f} ms ({rmap.overhead.method} {rmap.overhead.path}"
           + (f" {info['overhead_request_s'] * 1e3:.2f} ms, of which the client's share, "
              "measured against an echo server, is the delay; the rest is service)"
              if info["client_share_s"] is not None else " taken as delay)")
           if rmap.overhead else "not measured (no overhead request in the map): 0")
        + "; demand " + ", ".join(f"{c} {v * 1e3:.2f} ms" for c, v in info["demand_s"].items())
        + f"; model service times x {info['factor']:.4f}")
    if metrics:
        report.notes.append(f"metrics scraped from {metrics}")
    for i, (load, scale, label) in enumerate(levels, 1):
        console.print(f"[bold]level {i}/{len(levels)}[/]: load {label}")
        lv = _level(harness, calibrated, load, scale, duration_s, repeats, tolerance,
                    seed + i, console, info["overhead_s"], bottleneck)
        report.levels.append(lv)
        if on_level is not None:
            on_level(lv)
        if lv.stopped:
            skipped = [lab for _, _, lab in levels[i:]]
            report.notes.append(f"load {label} stopped: {lv.stopped}"
                                + (f"; not run: {', '.join(skipped)}" if skipped else ""))
            break
    report.notes += harness.discarded
    return report


def _level(harness: TargetHarness, model: Model, load: float, scale: float,
           duration_s: float, repeats: int, tolerance: float, seed: int, console: Console,
           overhead_s: float, bottleneck: str) -> Level:
    length = harness.warmup_s + duration_s + TAIL_S
    rates = {c.name: c.rate * scale for c in model.network.open_classes}
    runs: list[TargetRun] = []
    for r in range(repeats):
        specs = {c: harness.spec(c, rate, length, seed + 7919 * r) for c, rate in rates.items()}
        with console.status(f"load {load:.3g}: run {r + 1}/{repeats} ({length:g} s)"):
            run = harness.measure_valid(specs, f"load {load:.3g} repetition {r + 1}")
        runs.append(run)
        if run.stopped:
            break
    from .validate import _average

    checks = {cls: next((run.checks[cls] for run in runs if not run.checks[cls]["valid"]),
                        runs[0].checks[cls]) for cls in runs[0].checks}
    achieved = {cls: sum(run.achieved[cls] for run in runs) / len(runs) for cls in rates}
    client = _average([run.client for run in runs])
    stopped = "; ".join(run.stopped for run in runs if run.stopped)
    measured = {"metrics": _average([run.metrics for run in runs]) if runs[0].metrics else {},
                "unmapped": runs[-1].unmapped,
                "error_rates": {c: max(run.error_rates[c] for run in runs) for c in rates}}
    lv = Level(load, rates, achieved, checks, [run.window for run in runs], measured, client,
               load_average=[run.load_average for run in runs], stopped=stopped)
    if stopped:
        return lv
    at_target = with_rates(model, rates)
    p_target = predict(at_target, seed)
    lv.methods = [p_target.method]
    if not p_target.stable or load >= 1.0:
        lv.predicted_stable = False
        lv.instability = [str(u) for u in p_target.unstable] or [
            f"{bottleneck} is saturated (offered utilization {load:.4g} >= 1): the model "
            "predicts instability"]
        return lv
    p_measured = predict(with_rates(model, {c: max(v, 1e-9) for c, v in achieved.items()}),
                         seed)
    lv.methods = sorted({p_target.method, p_measured.method})
    lv.rows = target_rows(client, achieved, p_target, p_measured, overhead_s, tolerance,
                          list(rates), measured["metrics"], model)
    return lv
