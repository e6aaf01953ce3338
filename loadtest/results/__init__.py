"""Validation against result files a load test already wrote (locust, k6, wrk, wrk2,
HdrHistogram logs, a plain CSV): :func:`validate_results`, and :func:`read` for one file."""

from __future__ import annotations

from .common import MeasuredLevel, Measurement, ResultsError, Stat
from .detect import FORMATS, read
from .validate import validate_results

__all__ = ["FORMATS", "Measurement", "MeasuredLevel", "ResultsError", "Stat", "read",
           "validate_results"]
