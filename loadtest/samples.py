"""Client-side samples of a load-generator run, and the checks a run must pass before
its measurements are compared with a model.

Each locust process writes one CSV (``intended,sent,done,status,server_s``; epoch
seconds; ``server_s`` is the gateway's own timing from the ``X-Server-Time`` header) and a
JSON side file with its mode, rate and CPU use. Latency is measured from the *intended*
send time, so a late send is charged to the request (no coordinated omission).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qmodel.model.profiles import RateProfile

RATE_TOLERANCE = 0.03
CV_TOLERANCE = 0.10
SEND_DELAY_P99_S = 0.010
CPU_LIMIT_PERCENT = 80.0
# The system's own check (its processes' probes, ``/metrics`` "system"): a process that
# waits for a CPU, or whose event loop is late, cannot deliver the drawn service times.
# Measured here (web_service.yaml, loads 0.3-0.85): machine load average 1-2, the
# gateway waited 0.07-0.14 s/s, loop lag p99 0.5-0.6 ms, delivered = drawn within 0.2%;
# load average 7-10: 0.29-0.52 s/s, lag p99 3-20 ms, delivered 3-40% above drawn.
RUNQUEUE_WAIT_LIMIT = 0.25   # seconds per second a process's threads waited for a CPU
LOOP_LAG_P99_LIMIT_S = 0.002
# With OpenTelemetry spans on, the gateway's own span work is on its event loop: on a quiet
# machine (web_service.yaml at 0.5) its lag p99 is 2.0-2.5 ms, not 0.5-0.6 ms. A traced
# run keeps the untraced margin above that (x1.6-2); the CPU-wait limit is unchanged, and
# still says when the machine, not the spans, is the cause.
TRACED_LOOP_LAG_P99_LIMIT_S = 0.004
HEADER = ("intended", "sent", "done", "status", "server_s")


def write_samples(path: Path, rows: list[tuple[float, float, float, int, float]],
                  meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows((f"{a:.6f}", f"{b:.6f}", f"{c:.6f}", s, f"{t:.6f}")
                         for a, b, c, s, t in rows)
    Path(f"{path}.json").write_text(json.dumps(meta))


@dataclass
class Samples:
    intended: np.ndarray
    sent: np.ndarray
    done: np.ndarray
    status: np.ndarray
    server_s: np.ndarray
    meta: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def joined(cls, runs: list[Samples]) -> Samples:
        """The requests of several runs (one per class) as one set (their meta dropped)."""
        return cls(*(np.concatenate([getattr(r, a) for r in runs])
                     for a in ("intended", "sent", "done", "status", "server_s")))

    @classmethod
    def read(cls, base: str | Path) -> Samples:
        """All sample files of one run: ``base`` and ``base.workerN`` (each with its
        ``.json``)."""
        base = Path(base)
        files = sorted(p for p in base.parent.glob(base.name + "*")
                       if p.suffix != ".json" and not p.name.endswith(".clients.csv"))
        columns: list[list[float]] = [[] for _ in HEADER]
        meta = []
        for path in files:
            with open(path, newline="") as f:
                reader = csv.reader(f)
                next(reader, None)
                for row in reader:
                    for i, value in enumerate(row):
                        columns[i].append(float(value))
            side = Path(f"{path}.json")
            if side.exists():
                meta.append(json.loads(side.read_text()))
        arrays = [np.asarray(c, dtype=float) for c in columns]
        order = np.argsort(arrays[0], kind="stable")
        arrays = [a[order] for a in arrays]
        return cls(arrays[0], arrays[1], arrays[2], arrays[3].astype(int), arrays[4], meta)

    def window(self, since: float, until: float) -> Samples:
        keep = (self.intended >= since) & (self.intended < until)
        return Samples(self.intended[keep], self.sent[keep], self.done[keep],
                       self.status[keep], self.server_s[keep], self.meta)


def _percentiles(values: np.ndarray) -> dict[str, float | None]:
    if len(values) == 0:
        return {"mean_s": None, "p50_s": None, "p95_s": None, "p99_s": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"mean_s": float(values.mean()), "p50_s": float(p50), "p95_s": float(p95),
            "p99_s": float(p99)}


def latency(samples: Samples, success: Any = None) -> dict[str, Any]:
    """Client-side (from the intended send time) and server-side latency of the
    successful requests; counts by status. ``success`` (a function of a status) says
    which statuses succeed; default 2xx."""
    if success is None:
        ok = (samples.status >= 200) & (samples.status < 300)
    else:
        ok = np.fromiter((success(int(s)) for s in samples.status), bool, len(samples.status))
    statuses = {int(s): int((samples.status == s).sum()) for s in np.unique(samples.status)}
    return {"requests": int(len(samples.status)), "statuses": statuses,
            "client": _percentiles(samples.done[ok] - samples.intended[ok]),
            "server": _percentiles(samples.server_s[ok])}


@dataclass
class RunCheck:
    """Whether a load-generator run can be trusted; ``problems`` says why not."""

    mode: str
    achieved_rate: float
    target_rate: float | None
    rate_tolerance: float | None
    interarrival_cv: float | None
    send_delay_p99_s: float | None
    client_cpu_percent: float | None
    problems: list[str]

    @property
    def valid(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"valid": self.valid}


def _cpu(samples: Samples) -> float | None:
    values = [m["cpu_percent"] for m in samples.meta if m.get("cpu_percent") is not None]
    return max(values) if values else None


def check_open(samples: Samples, target_rate: float, since: float, until: float) -> RunCheck:
    """Checks of an open-loop (Poisson) run over the steady window ``[since, until)``.

    The achieved rate must be within 3% of the target, widened to three Poisson standard
    deviations when the window holds too few arrivals for 3% to be meaningful.
    """
    inside = samples.window(since, until)
    length = until - since
    achieved = len(inside.sent) / length
    expected = target_rate * length
    tolerance = max(RATE_TOLERANCE, 3.0 / math.sqrt(expected)) if expected > 0 else 1.0
    problems = []
    if abs(achieved - target_rate) > tolerance * target_rate:
        problems.append(f"achieved rate {achieved:.4g}/s is off the target {target_rate:.4g}/s "
                        f"by more than {tolerance:.1%}")
    cv, p99, cpu = _poisson_sends(samples, inside, inside.sent, problems)
    return RunCheck("open", achieved, target_rate, tolerance, cv, p99, cpu, problems)


def _poisson_sends(samples: Samples, inside: Samples, times: np.ndarray,
                   problems: list[str]) -> tuple[float | None, float | None, float | None]:
    """The open loop's checks beyond the rate: the CV of the gaps between ``times`` (the
    sends, on a unit-rate clock for a profile), the send delay's p99 and the CPU used;
    what fails is appended to ``problems``."""
    gaps = np.diff(np.sort(times))
    cv = float(gaps.std() / gaps.mean()) if len(gaps) > 1 and gaps.mean() > 0 else None
    # the sample CV of n exponential gaps has a standard deviation of about 1/sqrt(n):
    # with few arrivals (a calibration run's job class) 0.1 would be within pure noise
    cv_tolerance = max(CV_TOLERANCE, 3.0 / math.sqrt(len(gaps))) if len(gaps) else 1.0
    if cv is None or abs(cv - 1.0) > cv_tolerance:
        problems.append(f"inter-arrival CV {cv:.3g} is not within {cv_tolerance:.2g} of 1 "
                        "(Poisson)" if cv is not None else "no inter-arrival gaps to check")
    delay = inside.sent - inside.intended
    p99 = float(np.percentile(delay, 99)) if len(delay) else None
    if p99 is None or p99 > SEND_DELAY_P99_S:
        problems.append(f"send delay p99 {p99 * 1e3:.1f} ms exceeds "
                        f"{SEND_DELAY_P99_S * 1e3:g} ms" if p99 is not None else
                        "no sends to check")
    cpu = _cpu(samples)
    if cpu is not None and cpu > CPU_LIMIT_PERCENT:
        problems.append(f"a load-generator process used {cpu:.0f}% CPU (limit "
                        f"{CPU_LIMIT_PERCENT:.0f}%)")
    return cv, p99, cpu


def check_profile(samples: Samples, profile: RateProfile, start: float, since: float,
                  until: float) -> RunCheck:
    """Checks of an open-loop run whose rate followed ``profile`` from ``start`` (epoch
    seconds), over ``[since, until)``: the count of sends within 3% (or three Poisson
    standard deviations) of the profile's integral, and the gaps, rescaled by the
    profile's cumulative rate (which makes a non-homogeneous Poisson process a unit-rate
    one), with a CV near 1; the send delay and CPU as for a constant rate.
    ``achieved_rate`` and ``target_rate`` are averages over the window."""
    inside = samples.window(since, until)
    length = until - since
    grid = np.linspace(0.0, until - start, 20_001)
    cumulative = np.concatenate([[0.0], np.cumsum(np.diff(grid) * profile.rate_at(
        (grid[1:] + grid[:-1]) / 2))])
    expected = float(np.diff(np.interp([since - start, until - start], grid, cumulative))[0])
    tolerance = max(RATE_TOLERANCE, 3.0 / math.sqrt(expected)) if expected > 0 else 1.0
    problems = []
    if abs(len(inside.sent) - expected) > tolerance * expected:
        problems.append(f"{len(inside.sent)} sends where the profile gives {expected:.0f} "
                        f"(more than {tolerance:.1%} off)")
    cv, p99, cpu = _poisson_sends(samples, inside,
                                  np.interp(inside.sent - start, grid, cumulative), problems)
    return RunCheck("open", len(inside.sent) / length, expected / length, tolerance, cv, p99,
                    cpu, problems)


def check_closed(samples: Samples, users: int, think_s: float, since: float,
                 until: float) -> RunCheck:
    """Checks of a closed-loop run: the users really cycled as N / (Z + R) says (within
    3%, or three standard deviations of the count when that is wider), and the client had
    CPU to spare."""
    inside = samples.window(since, until)
    length = until - since
    achieved = len(inside.sent) / length
    ok = inside.done - inside.intended
    expected = users / (think_s + float(ok.mean())) if len(ok) else 0.0
    tolerance = max(RATE_TOLERANCE, 3.0 / math.sqrt(len(ok))) if len(ok) else 1.0
    problems = []
    if expected == 0 or abs(achieved - expected) > tolerance * expected:
        problems.append(f"throughput {achieved:.4g}/s differs from N/(Z+R) = {expected:.4g}/s "
                        f"by more than {tolerance:.1%}: the users did not cycle freely")
    cpu = _cpu(samples)
    if cpu is not None and cpu > CPU_LIMIT_PERCENT:
        problems.append(f"a load-generator process used {cpu:.0f}% CPU")
    return RunCheck("closed", achieved, expected, tolerance, None, None, cpu, problems)


@dataclass
class SystemCheck:
    """Whether the system under test had the machine to itself: none of its processes
    waited long for a CPU or had a late event loop (``/metrics`` "system")."""

    runqueue_wait_s_per_s: float | None
    loop_lag_p99_s: float | None
    problems: list[str]
    mode: str = "system"

    @property
    def valid(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"valid": self.valid}


def check_system(health: dict[str, Any] | None,
                 loop_lag_limit_s: float = LOOP_LAG_P99_LIMIT_S) -> SystemCheck:
    """The system-side check of a run from its ``/metrics`` "system" section (``loop_lag_
    limit_s``: :data:`TRACED_LOOP_LAG_P99_LIMIT_S` for a system writing spans)."""
    processes = (health or {}).get("processes") or {}
    problems = []
    worst_wait = max((p["runqueue_wait_s_per_s"] for p in processes.values()
                      if p.get("runqueue_wait_s_per_s") == p.get("runqueue_wait_s_per_s")),
                     default=None)  # NaN (no schedstat) is left out
    worst_lag = max((p["loop_lag_p99_s"] for p in processes.values()), default=None)
    for name, p in sorted(processes.items()):
        wait = p.get("runqueue_wait_s_per_s")
        if wait is not None and wait == wait and wait > RUNQUEUE_WAIT_LIMIT:
            problems.append(f"system process {name} waited {wait:.2f} s/s for a CPU (limit "
                            f"{RUNQUEUE_WAIT_LIMIT:g}): the machine is loaded")
        lag = p.get("loop_lag_p99_s")
        if lag is not None and lag > loop_lag_limit_s:
            problems.append(f"system process {name}: event-loop lag p99 {lag * 1e3:.1f} ms "
                            f"(limit {loop_lag_limit_s * 1e3:g} ms)")
    return SystemCheck(worst_wait, worst_lag, problems)
