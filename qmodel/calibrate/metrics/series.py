"""What every metric reader returns: per-interval throughput per class, busy servers or
utilization per component, and mean response times, all in seconds and per second.

A reader turns its format into one :class:`Series`; the estimators
(:mod:`qmodel.calibrate.demands`) and :func:`~qmodel.calibrate.metrics.from_metrics` see
only this form. Values a reader could not fill (a scrape that lacks a series, an empty CSV
cell) are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import QModelError

MAX_BYTES = 256 * 2**20
"""The largest metrics file read (hostile input is bounded before it is parsed)."""
MAX_INTERVALS = 1_000_000
MAX_SERIES = 1_000


class MetricsError(QModelError):
    """A metrics file that cannot be read; the message names the file and the line or
    record at fault."""


@dataclass
class Series:
    """Per-interval measurements: ``start`` and ``duration`` of each interval (seconds),
    ``throughput[class]`` (completions per second), ``busy[component]`` (busy servers:
    busy seconds per second, summed over the component's servers), ``utilization[component]``
    (the busy fraction of one server, 0..1) and ``response[class]`` (mean response time,
    seconds; ``response["class.component"]`` is the time a job of the class spends at the
    component, all visits). Arrays have one value per interval."""

    start: np.ndarray
    duration: np.ndarray
    throughput: dict[str, np.ndarray] = field(default_factory=dict)
    busy: dict[str, np.ndarray] = field(default_factory=dict)
    utilization: dict[str, np.ndarray] = field(default_factory=dict)
    response: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        self.start = np.asarray(self.start, dtype=float)
        self.duration = np.asarray(self.duration, dtype=float)
        size = len(self.start)
        for kind in ("throughput", "busy", "utilization", "response"):
            table = getattr(self, kind)
            for name, values in table.items():
                values = np.asarray(values, dtype=float)
                if values.shape != (size,):
                    raise MetricsError(f"{self.source or 'metrics'}: {kind} of {name!r} has "
                                       f"{values.size} values for {size} intervals")
                table[name] = values

    def __len__(self) -> int:
        return len(self.start)

    @property
    def classes(self) -> list[str]:
        return list(self.throughput)

    @property
    def components(self) -> list[str]:
        return list(dict.fromkeys([*self.busy, *self.utilization]))

    def describe(self) -> str:
        span = float(self.start[-1] + self.duration[-1] - self.start[0]) if len(self) else 0.0
        return (f"{self.source}: {len(self)} intervals over {span:g} s, "
                f"{len(self.throughput)} classes, {len(self.components)} components")


def check_file(path: str | Path) -> Path:
    """``path`` if it is a readable file of at most :data:`MAX_BYTES`."""
    path = Path(path)
    if not path.is_file():
        raise MetricsError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise MetricsError(f"{path}: {size:,} bytes; metrics files up to {MAX_BYTES:,} bytes "
                           "are read (split it, or aggregate to coarser intervals)")
    return path


def read_text(path: Path) -> str:
    try:
        return check_file(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MetricsError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def finite_number(text: str, where: str) -> float:
    """A finite float, or a :class:`MetricsError` at ``where``."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise MetricsError(f"{where}: not a number: {str(text)[:40]!r}") from None
    if not math.isfinite(value):
        raise MetricsError(f"{where}: not a finite number: {text!r}")
    return value
