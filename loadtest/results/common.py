"""What every reader of a result file shares: the error, the measured level, bounded
line reading, and an HDR accumulator of raw latencies per (time window, class).

Inside, every time is in seconds and every rate per second; a reader converts its
file's units on the way in.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from hdrh.histogram import HdrHistogram

from qmodel.errors import QModelError

MAX_LINE_CHARS = 1 << 20            # a longer line is not a result record
MAX_JSON_BYTES = 256 << 20          # a JSON document is read whole: bounded
MAX_LEVELS = 10_000                 # windows x classes
HDR_MAX_US = 3_600_000_000          # one hour in microseconds
MIN_REQUESTS = 30                   # fewer in a level: reported, not compared

CO_CLOSED = ("coordinated omission: {tool} measures latency from each request's actual "
             "send, not from when it was due; its {who} wait for their responses (a closed "
             "loop), so during a stall they send less and the queueing delay of the requests "
             "that should have been sent is not recorded: latency is under-reported exactly "
             "when the system is slow")


class ResultsError(QModelError, ValueError):
    """A result file that cannot be read; the message names the file and the record."""


def fail(path: Path, where: str | int | None, message: str) -> ResultsError:
    place = f"line {where}" if isinstance(where, int) else where
    return ResultsError(f"{path.name}{' ' + place if place else ''}: {message}")


def number(path: Path, where: str | int | None, name: str, text: Any, *,
           allow_negative: bool = False) -> float:
    """A finite number from a field, else a ResultsError naming the field and value."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise fail(path, where, f"{name}: not a number, got {str(text)[:40]!r}") from None
    if not math.isfinite(value):
        raise fail(path, where, f"{name}: must be finite, got {str(text)[:40]!r}")
    if value < 0 and not allow_negative:
        raise fail(path, where, f"{name}: must not be negative, got {str(text)[:40]!r}")
    return value


def lines(path: Path, f: IO[str]) -> Iterator[tuple[int, str]]:
    """(line number, line without its newline), refusing lines over MAX_LINE_CHARS."""
    n = 0
    while True:
        try:
            line = f.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError:
            raise fail(path, n + 1, "not UTF-8 text") from None
        if not line:
            return
        n += 1
        if len(line) > MAX_LINE_CHARS:
            raise fail(path, n, f"line longer than {MAX_LINE_CHARS} characters")
        yield n, line.rstrip("\r\n")


@dataclass
class Stat:
    """Requests of one class (or all) in one level: how many over how long, and their
    latency (seconds); None where the file does not say."""

    count: int
    duration_s: float | None
    mean_s: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    errors: int = 0
    rate_per_s: float | None = None   # when the file gives it and not the duration

    @property
    def rate(self) -> float | None:
        if self.rate_per_s is not None:
            return self.rate_per_s
        if self.duration_s and self.duration_s > 0:
            return self.count / self.duration_s
        return None

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.count, "errors": self.errors, "duration_s": self.duration_s,
                "rate_per_s": self.rate, "mean_s": self.mean_s, "p50_s": self.p50_s,
                "p95_s": self.p95_s, "p99_s": self.p99_s}


@dataclass
class MeasuredLevel:
    """One level of a file: the whole run, or one time window."""

    label: str
    total: Stat
    classes: dict[str, Stat] = field(default_factory=dict)  # empty: no per-class split
    window: tuple[float, float] | None = None
    caveats: list[str] = field(default_factory=list)


@dataclass
class Measurement:
    """What one file says: its tool, its levels and what it cannot tell."""

    path: Path
    tool: str
    levels: list[MeasuredLevel]
    caveats: list[str] = field(default_factory=list)


class Accumulator:
    """Raw latencies into an HDR histogram (µs, 3 digits) per (window, class), with exact
    counts, sums and first/last send times: memory bounded by windows x classes, not by
    the number of requests."""

    def __init__(self, path: Path, window_s: float | None):
        self.path = path
        self.window_s = window_s
        self.origin: float | None = None
        self.cells: dict[tuple[int, str], list] = {}  # -> [hist, n, sum, errors]
        self.first: float | None = None
        self.last: float | None = None

    def add(self, where: int | str, t: float, latency_s: float | None, cls: str,
            ok: bool = True) -> None:
        """One request sent at ``t``; a failed one (``ok`` false) counts, but its latency
        is left out."""
        if latency_s is not None and latency_s * 1e6 > HDR_MAX_US:
            raise fail(self.path, where, f"latency {latency_s:g} s: over one hour")
        if self.origin is None:
            self.origin = t
        k = int((t - self.origin) // self.window_s) if self.window_s else 0
        self.first = t if self.first is None else min(self.first, t)
        self.last = t if self.last is None else max(self.last, t)
        for name in ("", cls) if cls else ("",):
            cell = self.cells.get((k, name))
            if cell is None:
                if len(self.cells) >= MAX_LEVELS:
                    raise fail(self.path, where, f"more than {MAX_LEVELS} (window, class) "
                               "cells: use longer windows")
                cell = self.cells[(k, name)] = [HdrHistogram(1, HDR_MAX_US, 3), 0, 0.0, 0]
            cell[1] += 1
            if ok and latency_s is not None:
                cell[0].record_value(max(1, round(latency_s * 1e6)))
                cell[2] += latency_s
            else:
                cell[3] += 1

    def levels(self, label: str, classes: bool) -> list[MeasuredLevel]:
        """One level per window (or one for the whole file)."""
        if not self.cells:
            raise fail(self.path, None, "no requests in the file")
        windows = sorted({k for k, _ in self.cells})
        out = []
        for k in windows:
            if self.window_s:
                start = self.origin + k * self.window_s
                end = min(start + self.window_s, self.last)
                if end - start < 0.5 * self.window_s:
                    continue  # a stub at the end: its rate would be noise
                span = (start, end)
            else:
                span = (self.first, self.last)
            duration = span[1] - span[0]
            total = _stat(self.cells[(k, "")], duration)
            split = {name: _stat(cell, duration) for (j, name), cell in self.cells.items()
                     if j == k and name} if classes else {}
            name = label if not self.window_s else \
                f"{label} [{k * self.window_s:g}-{k * self.window_s + duration:g} s]"
            out.append(MeasuredLevel(name, total, split, span))
        if not out:
            raise fail(self.path, None, f"shorter than half a window ({self.window_s:g} s)")
        return out


def _stat(cell: list, duration: float) -> Stat:
    hist, n, total, errors = cell
    ok = hist.get_total_count()
    if not ok:
        return Stat(n, duration or None, errors=errors)
    q = {p: hist.get_value_at_percentile(p) / 1e6 for p in (50, 95, 99)}
    return Stat(n, duration or None, total / ok, q[50], q[95], q[99], errors)


def add_histogram(acc: Accumulator, where: int | str, start: float, end: float,
                  hist: HdrHistogram, scale_s: float, cls: str = "") -> None:
    """An interval histogram (values in units of ``scale_s`` seconds) into ``acc`` at
    ``start``; only its non-empty buckets are visited."""
    for t in (start, end):
        acc.first = t if acc.first is None else min(acc.first, t)
        acc.last = t if acc.last is None else max(acc.last, t)
    if acc.origin is None:
        acc.origin = start
    counts = np.ctypeslib.as_array(hist.counts)[:hist.counts_len]
    values = [(_middle(hist, hist.get_value_from_index(int(i))) * scale_s,
               int(counts[i])) for i in np.flatnonzero(counts)]
    if values and values[-1][0] * 1e6 > HDR_MAX_US:
        raise fail(acc.path, where, f"latency {values[-1][0]:g} s: over one hour (wrong "
                   "--hlog-unit?)")
    k = int((start - acc.origin) // acc.window_s) if acc.window_s else 0
    n = sum(c for _, c in values)
    total = sum(v * c for v, c in values)
    for name in ("", cls) if cls else ("",):
        cell = acc.cells.get((k, name))
        if cell is None:
            if len(acc.cells) >= MAX_LEVELS:
                raise fail(acc.path, where, f"more than {MAX_LEVELS} (window, class) cells")
            cell = acc.cells[(k, name)] = [HdrHistogram(1, HDR_MAX_US, 3), 0, 0.0, 0]
        for value_s, count in values:
            cell[0].record_value(max(1, round(value_s * 1e6)), count)
        cell[1] += n
        cell[2] += total


def _middle(hist: HdrHistogram, value: int) -> float:
    """The middle of the bucket holding ``value`` (what HdrHistogram's mean uses)."""
    low = hist.get_lowest_equivalent_value(value)
    return (low + hist.get_highest_equivalent_value(value) + 1) / 2
