"""Drift of a soak run's series: a fitted line with a Student-t interval on its slope;
drifting needs the interval above zero and a growth over the run above the threshold."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from loadtest.drift import THRESHOLD, trend


def test_a_steady_noisy_series_rarely_drifts():
    rng = np.random.default_rng(4)
    t = np.arange(0.0, 600.0, 10.0)
    flagged = sum(trend(t, rng.exponential(0.02, len(t)) + 0.02, "mean", "s").drifting
                  for _ in range(400))
    assert flagged / 400 < 0.025  # the interval's one-sided 2.5%, and the 10% growth on top


def test_a_slow_leak_is_found_and_a_small_one_is_not_drift():
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 1800.0, 30.0)
    leak = 150 + 30 * t / 1800 + rng.normal(0, 2, len(t))  # +30 MB (20%) over half an hour
    found = trend(t, leak, "resident memory", "MB")
    assert found.drifting and found.change == pytest.approx(0.2, abs=0.03)
    low, high = found.slope_ci_per_h
    assert low < 60 < high  # 30 MB per half hour
    small = trend(t, 150 + 3 * t / 1800 + rng.normal(0, 0.2, len(t)), "resident memory", "MB")
    assert small.slope_ci_per_h[0] > 0 and small.change < THRESHOLD and not small.drifting


def test_too_few_points_and_gaps():
    assert trend(np.arange(3.0), np.ones(3), "mean", "s") is None
    values = np.array([1.0, np.nan, 1.0, 2.0, np.nan, 3.0, 4.0])
    fitted = trend(np.arange(7.0), values, "mean", "s")
    assert fitted.points == 5 and fitted.drifting


def test_the_json_is_finite():
    fitted = trend(np.arange(6.0), np.array([0.0, 0.0, 0.0, 1.0, 2.0, 3.0]), "mean", "s")
    doc = json.loads(json.dumps(fitted.to_json(), allow_nan=False))
    assert doc["change"] is None or math.isfinite(doc["change"])
