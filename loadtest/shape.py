"""``qmodel validate MODEL --shape``: run a model's rate profile once against the
reference system and compare the measured series with the simulated one, bin by bin.

1. Start the reference system; calibrate the service times at low load exactly as the
   steady ``validate`` does (:func:`loadtest.validate.calibrated_services`).
2. Run the profile: one locust per open class, its rate following the class's profile
   (``--profile-file``, drawn by the simulator's thinning), from the dispatcher's start
   for the profile's length; the run's self-checks (:func:`loadtest.samples.check_profile`
   and the system's) decide whether it can be compared, and an invalid run is run again
   up to ``retries`` times.
3. Bin the requests by completion time (:mod:`loadtest.series`: the simulation's bins
   and columns; with a broker, the records end to end from the system's trace, since the
   clients' 202 comes before the consumers: :mod:`loadtest.shape_records`), simulate the
   calibrated model over the same bins with ``replications``, and judge the peak p95, the
   recovery and the queue peak (:mod:`loadtest.shape_compare`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import httpx
from rich.console import Console

import qmodel
from qmodel.model.model import Model, load
from qmodel.sim.timeseries import bin_edges
from qmodel.units import parse_duration

from .loadgen import LoadSpec, run_locust
from .predict import calibrate, offered_peak
from .profile_file import write_profile_file
from .refsys.supervisor import RefSystem, check_traffic
from .samples import Samples, check_open, check_profile, check_system
from .series import measured_series
from .shape_compare import compare, run_metrics
from .shape_records import MEASURES_RECORDS, brokers_of, check_broker_model, records_series
from .shape_report import MEASURES_REQUESTS, ShapeReport
from .validate import (
    CALIBRATION_LOAD,
    TAIL_S,
    Harness,
    _console,
    _nominal,
    _specs,
    calibrated_services,
    class_path,
    client_files,
)

MAX_HORIZON_S = 3600.0
RUN_BOUND_S = 15.0  # locust's run time beyond the profile: a bound, not the end


def validate_shape(model: Model | str | Path, *, bins: float | str = "1s",
                   replications: int = 20, calibration: float | str = "10s",
                   warmup: float | str = "3s", backend: str = "embedded", seed: int = 0,
                   retries: int = 1, keep: bool = False, out: str | Path | None = None,
                   console: Console | None = None) -> ShapeReport:
    """Run ``model``'s rate profile against the reference system and compare it with the
    model's simulation, calibrated at low load (``calibration`` long, after ``warmup``);
    write ``out`` (HTML figure) and its ``.json`` when given.

    ``bins``: the width of a bin; ``replications``: simulated runs (the prediction is
    their mean, their spread the noise a single run has). Every open class must have a
    rate profile or a constant rate, and the model no closed users.
    """
    console = console or _console()
    path = str(model) if not isinstance(model, Model) else model.source
    model = load(model) if not isinstance(model, Model) else model
    check_traffic(model)
    net = model.network
    if net.closed_classes or not net.profiles:
        raise ValueError("--shape runs a model's rate profile: it needs an open class with "
                         "rate: {profile: ...} and no closed users")
    brokers = brokers_of(model)
    if brokers:
        check_broker_model(model, backend)
    bin_s = parse_duration(bins) if isinstance(bins, str) else float(bins)
    horizon = max(p.length for p in net.profiles.values())
    if not 0 < bin_s <= horizon / 2:
        raise ValueError(f"--bins: must be positive and at most half the profile's length "
                         f"({horizon:g} s), got {bins!r}")
    if horizon > MAX_HORIZON_S:
        raise ValueError(f"the profile's length {horizon:g} s is over {MAX_HORIZON_S:g} s; "
                         "give it a shorter length")
    if replications < 2:
        raise ValueError(f"--replications: at least 2 (their spread is a run's noise), "
                         f"got {replications}")
    warmup_s = parse_duration(warmup) if isinstance(warmup, str) else float(warmup)
    calibration_s = parse_duration(calibration) if isinstance(calibration, str) \
        else float(calibration)
    edges = bin_edges(bin_s, horizon)
    work_dir = Path(tempfile.mkdtemp(prefix="qmodel-shape-"))
    try:
        with RefSystem(path, backend=backend, seed=seed, run_dir=work_dir / "system") as system:
            harness = Harness(model, system.url, work_dir, warmup_s, console, retries)
            peak, _ = offered_peak(model)
            with console.status("calibrating service times at low load"):
                cal = harness.measure_valid(_specs(
                    model, "open", CALIBRATION_LOAD, CALIBRATION_LOAD / peak,
                    warmup_s + calibration_s + TAIL_S, seed), "calibration")
            services = calibrated_services(cal.measured, _nominal(model))
            calibrated = calibrate(model, services)
            clients = client_files(model, cal, work_dir)
            samples, start, checks, notes = _profile_run(harness, model, horizon, seed,
                                                         retries, clients, console)
            if brokers:  # the records' own end-to-end rows, read before the system goes
                records = records_series(system.run_dir, samples, start,
                                         start + horizon + RUN_BOUND_S, edges)
    finally:
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    with console.status(f"simulating {replications} replications"):
        predicted = qmodel.simulate(calibrated, bins=bin_s, replications=replications,
                                    seed=seed)
        singles = [run_metrics(calibrated.network, qmodel.simulate(
            calibrated, bins=bin_s, replications=1, seed=seed + 1 + i).frame)
            for i in range(replications)]
    if brokers:
        measured, problems, more = records
        checks["system"]["problems"] += problems
        checks["system"]["valid"] = checks["system"]["valid"] and not problems
        notes += more
    else:
        measured = measured_series(samples, start, edges)
    measured.insert(2, "rate_per_s", predicted.frame["rate_per_s"])
    criteria = compare(run_metrics(calibrated.network, measured), singles, bin_s)
    notes.append(f"service times calibrated from a {calibration_s:g} s run at load "
                 f"{CALIBRATION_LOAD}: " + (", ".join(f"{c} {s * 1e3:.3g} ms" for c, s in
                                                      services.items()) or "none measured"))
    if not cal.valid:
        notes.append("the calibration run was INVALID (" + "; ".join(cal.problems) +
                     "): its service times are suspect")
    if keep:
        notes.append(f"samples, stores and logs kept in {work_dir}")
    report = ShapeReport(model.name, backend, bin_s, horizon,
                         {"load": CALIBRATION_LOAD, "mean_service_s": services,
                          "valid": cal.valid}, checks, measured, predicted, criteria, notes,
                         MEASURES_RECORDS if brokers else MEASURES_REQUESTS)
    report.print(console)
    if out is not None:
        out = Path(out)
        report.write_html(out)
        report.write_json(out.with_suffix(".json"))
        console.print(f"wrote {out} and {out.with_suffix('.json')}")
    return report


def _profile_run(harness: Harness, model: Model, horizon: float, seed: int, retries: int,
                 clients: dict[str, str], console: Console
                 ) -> tuple[Samples, float, dict[str, dict], list[str]]:
    """Run the profile (again while its self-checks fail, up to ``retries`` times): all
    classes' samples, the dispatchers' start (epoch seconds), the checks and notes."""
    notes: list[str] = []
    for attempt in range(retries + 1):
        harness.runs += 1
        runs = []
        for c in model.network.open_classes:
            # every class's locust runs to the longest profile's end (the rate holds)
            profile_file = "" if c.profile is None else str(write_profile_file(
                harness.work_dir / f"profile-{c.name}.json", replace(c.profile, length=horizon)))
            rate = c.profile.peak if c.profile is not None else c.rate
            # a profile run ends itself a second after the profile; the run time bounds it
            spec = LoadSpec("open", horizon + RUN_BOUND_S, rate=rate,
                            path=class_path(model, c.name),
                            seed=seed + 7919 * (attempt + 1), client_file=clients.get(c.name, ""),
                            profile_file=profile_file)
            runs.append((spec, harness.work_dir / f"shape{harness.runs}-{c.name}.csv"))
        with console.status(f"running the profile ({horizon:g} s)"):
            per_class = run_locust(harness.url, runs)
        start = min(m["dispatch_started"] for s in per_class for m in s.meta
                    if m.get("dispatch_started"))
        harness._settle()
        health = httpx.get(f"{harness.url}/metrics", params={"since": start,
                                                             "until": start + horizon},
                           timeout=120).json().get("system")
        checks = {}
        for c, s in zip(model.network.open_classes, per_class):
            check = check_open(s, c.rate, start, start + horizon) if c.profile is None else \
                check_profile(s, c.profile, start, start, start + horizon)
            checks[c.name] = check.to_json()
        checks["system"] = check_system(health, harness.loop_lag_limit_s).to_json()
        stopped = min(m["stopped"] for s in per_class for m in s.meta)
        if stopped - 0.5 < start + horizon:  # the samples are written 0.5 s after the stop
            checks["system"]["problems"].append(
                f"the load generator stopped {stopped - 0.5 - start:.1f} s into the "
                f"{horizon:g} s profile (a late start on a busy machine)")
            checks["system"]["valid"] = False
        problems = [p for check in checks.values() for p in check["problems"]]
        if not problems or attempt == retries:
            break
        note = f"profile run {attempt + 1} INVALID, run again: " + "; ".join(problems)
        notes.append(note)
        console.print(f"[yellow]{note}[/]")
    merged = Samples.joined(per_class)
    return merged, start, checks, notes
