"""wrk's and wrk2's text output with ``--latency``.

wrk (4.x): "Thread Stats" (Latency Avg), "Latency Distribution" (50/75/90/99%),
"N requests in Ds", "Requests/sec:". wrk2 adds "(HdrHistogram - Recorded Latency)" and,
with ``--latency``, the "Detailed Percentile spectrum" (Value in ms, Percentile,
TotalCount, 1/(1-Percentile)) closed by ``#[Mean = …, StdDeviation = …]``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .common import CO_CLOSED, MeasuredLevel, Measurement, Stat, fail, lines, number

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s|m|h)$")
RUNNING = re.compile(r"Running (\S+) test @ (\S+)")
CONNECTIONS = re.compile(r"(\d+) threads and (\d+) connections")
LATENCY = re.compile(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)")
PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\S+)\s*$")
REQUESTS = re.compile(r"^\s*(\d+) requests in (\S+?),")
RATE = re.compile(r"^Requests/sec:\s+(\S+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SPECTRUM = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s*$")
MEAN = re.compile(r"#\[Mean\s*=\s*(\S+?),")


def looks_like(text: str) -> bool:
    return bool(RUNNING.search(text)) or "Requests/sec:" in text


def _duration(path: Path, n: int, name: str, text: str) -> float:
    m = DURATION.match(text.strip())
    if not m:
        raise fail(path, n, f"{name}: not a duration, got {text[:20]!r}")
    return number(path, n, name, m.group(1)) * UNITS[m.group(2)]


def read(path: Path, window_s: float | None) -> Measurement:
    mean = count = run = rate = None
    errors, connections, percents, spectrum = 0, None, {}, []
    in_spectrum, wrk2 = False, False
    with open(path, encoding="utf-8") as f:
        for n, line in lines(path, f):
            if "HdrHistogram" in line or "Detailed Percentile spectrum" in line:
                wrk2 = True
            if "Detailed Percentile spectrum" in line:
                in_spectrum = True
                continue
            if in_spectrum:
                if line.startswith("#[Mean"):
                    m = MEAN.search(line)
                    if not m:
                        raise fail(path, n, "#[Mean line without a value")
                    mean = number(path, n, "Mean", m.group(1)) / 1000
                    in_spectrum = False
                    continue
                m = SPECTRUM.match(line)
                if m and "Value" not in line:
                    spectrum.append((number(path, n, "Value", m.group(1)) / 1000,
                                     number(path, n, "Percentile", m.group(2)), n))
                continue
            if (m := CONNECTIONS.search(line)):
                connections = int(m.group(2))
            elif (m := LATENCY.match(line)) and mean is None:
                mean = _duration(path, n, "Latency Avg", m.group(1))
            elif (m := PERCENT.match(line)):
                percents[float(m.group(1))] = _duration(path, n, f"{m.group(1)}%", m.group(2))
            elif (m := REQUESTS.match(line)):
                count = int(m.group(1))
                run = _duration(path, n, "requests in", m.group(2))
            elif (m := RATE.match(line)):
                rate = number(path, n, "Requests/sec", m.group(1))
            elif (m := NON_2XX.search(line)):
                errors = int(m.group(1))
    if count is None or rate is None:
        raise fail(path, None, "no 'N requests in T' and 'Requests/sec:' lines: not a complete "
                   "wrk output")
    if in_spectrum:
        raise fail(path, None, "the percentile spectrum is not closed by its #[Mean line "
                   "(truncated?)")
    if spectrum:  # the short list where it has the percentile, else the spectrum's next
        q = {p: percents.get(float(p)) or next((v for v, frac, _ in spectrum
                                                 if frac >= p / 100), spectrum[-1][0])
             for p in (50, 95, 99)}
        for (_, a, n), (_, b, _) in zip(spectrum, spectrum[1:]):
            if b < a:
                raise fail(path, n + 1, "Percentile must not decrease")
    else:
        q = {p: percents.get(float(p)) for p in (50, 95, 99)}
    stat = Stat(count, run, mean, q[50], q[95], q[99], errors, rate_per_s=rate)
    who = f"{connections} connections" if connections else "connections"
    caveats = []
    if wrk2:
        tool = "wrk2"
        caveats.append("wrk2 sends at a constant rate, evenly spaced (not Poisson): a model "
                       "with Poisson arrivals predicts more queueing than evenly spaced "
                       "arrivals meet, so measured latency tends to sit below the prediction "
                       "at high load")
        caveats.append("wrk2's latency is corrected: counted from each request's scheduled "
                       "send, so stalls are charged (no coordinated omission)")
        if not spectrum:
            caveats.append("no Detailed Percentile spectrum: percentiles from the short list")
    else:
        tool = "wrk"
        caveats.append(CO_CLOSED.format(tool="wrk", who=who + " (each sends its next request "
                                        "when the previous one is answered)"))
        if 95.0 not in percents:
            caveats.append("wrk prints p50, p75, p90 and p99 only: no p95 to compare")
    caveats.append("a summary without a time series: the whole run is one level; no "
                   "per-request-name split (compared with the whole model)")
    if errors:
        caveats.append(f"{errors} non-2xx/3xx responses are in wrk's latencies")
    return Measurement(path, tool, [MeasuredLevel(path.name, stat)], caveats)
