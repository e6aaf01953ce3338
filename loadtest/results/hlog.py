"""HdrHistogram interval logs (``.hlog``): ``#[StartTime: …]``/``#[BaseTime: …]`` comments,
the legend ``"StartTimestamp","Interval_Length","Interval_Max",
"Interval_Compressed_Histogram"`` and one line per interval, optionally ``Tag=NAME,`` first,
with a base64 compressed histogram. The log does not say its value unit."""

from __future__ import annotations

import re
from pathlib import Path

from hdrh.histogram import HdrHistogram

from .common import Accumulator, Measurement, add_histogram, fail, lines, number

UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
START = re.compile(r"#\[(StartTime|BaseTime):\s*([\d.]+)")


def looks_like(text: str) -> bool:
    return "#[StartTime:" in text or "Interval_Compressed_Histogram" in text or \
        "#[Histogram log format version" in text or bool(
            re.search(r"^(Tag=[^,]*,)?[\d.]+,[\d.]+,[\d.]+,HIST", text, re.M))


def read(path: Path, window_s: float | None, unit: str = "us") -> Measurement:
    if unit not in UNITS:
        raise fail(path, None, f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    scale = UNITS[unit]
    acc = Accumulator(path, window_s)
    base = 0.0
    tags: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for n, line in lines(path, f):
            if not line.strip():
                continue
            if line.startswith("#"):
                m = START.match(line)
                if m and m.group(1) == "BaseTime":
                    base = number(path, n, "BaseTime", m.group(2))
                continue
            if line.startswith('"StartTimestamp"'):
                continue
            tag = ""
            if line.startswith("Tag="):
                tag, _, line = line[4:].partition(",")
            parts = line.split(",")
            if len(parts) != 4:
                raise fail(path, n, "expected StartTimestamp,Interval_Length,Interval_Max,"
                           f"Interval_Compressed_Histogram; got {len(parts)} fields")
            start = number(path, n, "StartTimestamp", parts[0]) + base
            length = number(path, n, "Interval_Length", parts[1])
            try:
                hist = HdrHistogram.decode(parts[3].strip().encode("ascii"))
            except Exception as exc:  # hdrh raises several types on a bad payload
                raise fail(path, n, f"Interval_Compressed_Histogram: not a compressed "
                           f"histogram ({type(exc).__name__})") from None
            if tag:
                tags.add(tag)
            add_histogram(acc, n, start, start + length, hist, scale, tag)
    if acc.first is None:
        raise fail(path, None, "no interval histograms")
    caveats = [f"an HdrHistogram log does not say its unit: values read as {unit} "
               "(--hlog-unit)",
               "the log does not say whether the recorder corrected for coordinated omission "
               "(latency from the intended send) or measured from the actual send",
               "percentiles of the log's histograms: within 0.1% (3 significant digits)"]
    if not tags:
        caveats.append("no Tag= per interval: compared with the whole model")
    return Measurement(path, "HdrHistogram log", acc.levels(path.name, bool(tags)), caveats)
