"""``qmodel validate MODEL --soak 30min --load 0.7``: hold one steady load for a long
run and report drift — latency or memory growing over time while the model says steady.

1. Start the reference system and calibrate each component's mean service time at low
   load, as the steady ``validate`` does; the calibrated model gives the steady mean
   response time to expect at the soak's load.
2. Run every open class at ``load`` (the bottleneck's utilization) for ``duration``, one
   locust per class, while a sampler reads the resident memory of the system's whole
   process tree every ``bins``; the run's self-checks decide whether it can be trusted.
3. Bin the requests by completion time (:mod:`loadtest.series`) and fit a line through
   each bin's mean and p95 response and through the memory samples (:mod:`.drift`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
from rich.console import Console
from rich.table import Table

import qmodel
from qmodel.errors import QModelError
from qmodel.model.model import Model
from qmodel.units import parse_duration

from .drift import Trend, trend
from .loadgen import run_locust
from .predict import calibrate, offered_peak
from .refsys.supervisor import RefSystem, check_traffic
from .samples import Samples, check_open, check_system
from .series import measured_series
from .validate import (
    CALIBRATION_LOAD,
    TAIL_S,
    Harness,
    _console,
    _nominal,
    _specs,
    calibrated_services,
)

SOAK_SCHEMA = "qmodel.validation-soak/1"
MAX_SOAK_S = 24 * 3600.0
MAX_LOAD = 2.0  # at or above 1 the model says latency grows: the soak shows whether it does


@dataclass
class SoakReport:
    """A soak run: the trends of latency and memory, the binned series, what the
    calibrated model expects at that load, and the run's self-checks."""

    model: str
    load: float
    duration_s: float
    bin_s: float
    trends: list[Trend]
    series: pd.DataFrame
    expected_mean_s: float | None
    checks: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(c["valid"] for c in self.checks.values())

    @property
    def drifting(self) -> bool:
        return any(t.drifting for t in self.trends)

    @property
    def expected_steady(self) -> bool:
        """The model's answer: steady below saturation (load < 1), growing at or above."""
        return self.load < 1

    @property
    def passed(self) -> bool:
        """A valid run whose latency drifts exactly when the model says it must (at or
        above saturation), and whose memory does not drift."""
        latency = any(t.drifting for t in self.trends if t.unit == "s")
        memory = any(t.drifting for t in self.trends if t.unit != "s")
        return (self.valid and bool(self.trends) and not memory
                and latency == (not self.expected_steady))

    def to_json(self) -> dict[str, Any]:
        series = self.series.astype(object).where(self.series.notna(), None)
        return {"schema": SOAK_SCHEMA, "model": self.model, "load": self.load,
                "duration_s": self.duration_s, "bin_s": self.bin_s, "valid": self.valid,
                "drifting": self.drifting, "expected_steady": self.expected_steady,
                "passed": self.passed,
                "expected_mean_response_s": self.expected_mean_s,
                "trends": [t.to_json() for t in self.trends], "checks": self.checks,
                "notes": self.notes, "series": series.to_dict("records")}

    def print(self, console: Console) -> None:
        table = Table(title=f"soak of {self.model} at load {self.load:g} for "
                            f"{self.duration_s:g} s ({self.bin_s:g} s bins)")
        for head in ("series", "start", "slope /h (95%)", "over the run", "verdict"):
            table.add_column(head, justify="left" if head == "series" else "right")
        for t in self.trends:
            low, high = t.slope_ci_per_h
            scale, unit = (1e3, "ms") if t.unit == "s" else (1.0, t.unit)
            table.add_row(t.name, f"{t.start * scale:.4g} {unit}",
                          f"{t.slope_per_h * scale:+.3g} ({low * scale:+.3g}..{high * scale:+.3g})",
                          f"{t.change:+.1%}", "DRIFTING" if t.drifting else "steady")
        console.print(table)
        if self.expected_mean_s is not None:
            console.print(f"the calibrated model expects a steady mean response of "
                          f"{self.expected_mean_s * 1e3:.4g} ms at this load")
        elif not self.expected_steady:
            console.print("the model says the load saturates the bottleneck: latency must "
                          "grow without bound")
        for note in self.notes:
            console.print(note, markup=False, highlight=False)
        seen = "INVALID" if not self.valid else "DRIFT" if self.drifting else "STEADY"
        agree = "as the model says" if self.passed else "NOT as the model says"
        console.print(f"verdict: {seen}" + (f", {agree}" if self.valid else ""))

    def write_json(self, path: Path) -> None:
        import json

        path.write_text(json.dumps(self.to_json(), indent=1, allow_nan=False))


class MemorySampler:
    """Reads the resident memory (MB) of processes and all their descendants every
    ``every_s`` in a background thread; ``samples`` holds (epoch seconds, MB)."""

    def __init__(self, pids: list[int], every_s: float):
        self.pids = pids
        self.every_s = every_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), resident_mb(self.pids)))
            self._stop.wait(self.every_s)


def resident_mb(pids: list[int]) -> float:
    """The resident memory of ``pids`` and their descendants, in MB (gone ones: 0)."""
    total = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
        except psutil.Error:
            continue
    return total / 1e6


def validate_soak(model: Model | str | Path, duration: float | str, *, load: float = 0.7,
                  bins: float | str = "10s", calibration: float | str = "10s",
                  warmup: float | str = "5s", backend: str = "embedded", seed: int = 0,
                  retries: int = 1, keep: bool = False, out: str | Path | None = None,
                  console: Console | None = None) -> SoakReport:
    """Hold ``load`` (the bottleneck's utilization, open classes at their mix) on the
    reference system for ``duration`` and report the trends of latency and memory;
    write ``out`` (JSON) when given. The first ``warmup`` of the run is not fitted; a run
    failing its self-checks is run again up to ``retries`` times. At ``load`` >= 1 the
    model says the bottleneck saturates, and the soak checks that latency does grow."""
    console = console or _console()
    path = str(model) if not isinstance(model, Model) else model.source
    model = qmodel.load(model) if not isinstance(model, Model) else model
    check_traffic(model)
    net = model.network
    if net.closed_classes or not net.open_classes or net.profiles:
        raise ValueError("--soak holds a steady open load: it needs open classes at constant "
                         "rates and no closed users")
    duration_s, bin_s = _seconds(duration, "--soak"), _seconds(bins, "--bins")
    warmup_s, calibration_s = _seconds(warmup, "--warmup"), _seconds(calibration, "--calibration")
    if not 0 < duration_s <= MAX_SOAK_S:
        raise ValueError(f"--soak: must be a positive duration up to 24h, got {duration!r}")
    if not 0 < load <= MAX_LOAD:
        raise ValueError(f"--load: the bottleneck's utilization, above 0 and at most "
                         f"{MAX_LOAD:g}, got {load:g}")
    if not 0 < bin_s <= (duration_s - warmup_s) / 4:
        raise ValueError(f"--bins: must be positive and give at least 4 bins after the "
                         f"warm-up, got {bins!r}")
    peak, _ = offered_peak(model)
    work_dir = Path(tempfile.mkdtemp(prefix="qmodel-soak-"))
    try:
        with RefSystem(path, backend=backend, seed=seed, run_dir=work_dir / "system") as system:
            harness = Harness(model, system.url, work_dir, warmup_s, console, retries=1)
            with console.status("calibrating service times at low load"):
                cal = harness.measure_valid(_specs(
                    model, "open", CALIBRATION_LOAD, CALIBRATION_LOAD / peak,
                    warmup_s + calibration_s + TAIL_S, seed), "calibration")
            services = calibrated_services(cal.measured, _nominal(model))
            pids = [c.process.pid for c in system.children.values() if c.process]
            specs = _specs(model, "open", load, load / peak, duration_s, seed + 1)
            notes: list[str] = []
            for attempt in range(retries + 1):  # an invalid run (a busy machine) again
                runs = [(spec, work_dir / f"soak{attempt}-{cls}.csv")
                        for cls, spec in specs.items()]
                with console.status(f"soaking for {duration_s:g} s"), \
                        MemorySampler(pids, bin_s) as memory:
                    per_class = run_locust(system.url, runs)
                start = min(m["started"] for s in per_class for m in s.meta)
                since, until = start + warmup_s, start + duration_s - TAIL_S
                harness._settle(timeout_s=max(30.0, duration_s))
                health = httpx.get(f"{system.url}/metrics",
                                   params={"since": since, "until": until},
                                   timeout=120).json().get("system")
                checks = {cls: check_open(s, spec.rate, since, until).to_json()
                          for (cls, spec), s in zip(specs.items(), per_class)}
                checks["system"] = check_system(health, harness.loop_lag_limit_s).to_json()
                problems = [p for c in checks.values() for p in c["problems"]]
                if not problems or attempt == retries:
                    break
                notes.append(f"soak run {attempt + 1} INVALID, run again: " + "; ".join(problems))
                console.print(f"[yellow]{notes[-1]}[/]")
    finally:
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    merged = Samples.joined(per_class)
    edges = np.arange(warmup_s, duration_s - TAIL_S + 1e-9, bin_s)
    series = measured_series(merged, start, edges)
    mid = (series["time_s"] + series["end_s"]).to_numpy() / 2
    trends = [trend(mid, series["mean_response_s"].to_numpy(), "mean response", "s"),
              trend(mid, series["p95_response_s"].to_numpy(), "p95 response", "s")]
    mem = np.array([(t - start, mb) for t, mb in memory.samples if since <= t <= until])
    if len(mem):
        trends.append(trend(mem[:, 0], mem[:, 1], "resident memory", "MB"))
    notes.append(f"service times calibrated at load {CALIBRATION_LOAD}: " +
                 (", ".join(f"{c} {s * 1e3:.3g} ms" for c, s in services.items()) or "none"))
    report = SoakReport(model.name, load, duration_s, bin_s, [t for t in trends if t],
                        series, _expected(calibrate(model, services), load / peak),
                        checks, notes)
    report.print(console)
    if out is not None:
        report.write_json(Path(out))
        console.print(f"wrote {out}")
    return report


def _expected(model: Model, scale: float) -> float | None:
    """The calibrated model's steady mean response at the soak's rates."""
    scaled = model.with_changes({f"arrivals.{c.name}.rate": f"{c.rate * scale}/s"
                                 for c in model.network.open_classes})
    try:
        return float(qmodel.solve(scaled).system.mean_response_time)
    except QModelError:
        return None


def _seconds(value: float | str, option: str) -> float:
    try:
        return parse_duration(value) if isinstance(value, str) else float(value)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None
