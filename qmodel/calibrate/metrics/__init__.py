"""Calibration from metrics: per-interval throughput per class and utilization per
resource (a CSV, Prometheus text scrapes or Prometheus range-query JSON) in, service
demands by utilization-law regression (or from response times where utilization is not
measured) out, written into the model as service times with their 95% intervals.

>>> from qmodel.calibrate.metrics import read
>>> read("tests/calibrate/data/metrics.csv").classes  # doctest: +SKIP
['browse', 'buy']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .calibrate import MetricsCalibration, from_metrics, write_model
from .prometheus import read_range_json, read_scrapes, selector
from .series import MetricsError, Series
from .table import read_csv

FORMATS = ("csv", "prometheus", "json")

__all__ = ["FORMATS", "MetricsCalibration", "MetricsError", "Series", "from_metrics", "read",
           "read_csv", "read_range_json", "read_scrapes", "selector", "write_model"]


def read(paths: str | Path | Sequence[str | Path], format: str | None = None, *,
         throughput: str | None = None, utilization: str | None = None,
         response: str | None = None) -> Series:
    """Read metrics in ``format`` (``csv``, ``prometheus`` text scrapes, ``json`` range
    query; default: by the first file's suffix, ``.csv``, ``.json``, else text scrapes).
    ``throughput``/``utilization``/``response`` are Prometheus selectors
    (:func:`~qmodel.calibrate.metrics.prometheus.selector`)."""
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise MetricsError("no metrics file given")
    if format is None:
        suffix = files[0].suffix.lower()
        format = "csv" if suffix == ".csv" else "json" if suffix == ".json" else "prometheus"
    if format not in FORMATS:
        raise MetricsError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format != "prometheus" and len(files) > 1:
        raise MetricsError(f"one {format} file at a time (several files: Prometheus text "
                           "scrapes)")
    if format == "csv":
        return read_csv(files[0])
    if format == "json":
        return read_range_json(files[0], throughput, utilization, response)
    return read_scrapes(files, throughput, utilization, response)
