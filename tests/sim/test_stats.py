"""Bounded sample stores, MSER-5 and confidence intervals."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel.sim.stats import BatchSeries, SampleStore, mean_ci, mser


def test_sample_store_is_bounded_and_evenly_spread():
    s = SampleStore(cap=1000)
    for x in range(100_000):
        s.add(float(x))
    assert len(s.values) < 1000 and s.seen == 100_000
    kept = np.frombuffer(s.values, dtype=float)
    assert np.all(np.diff(kept) == s.stride)
    assert np.median(kept) == pytest.approx(50_000, rel=0.02)
    assert s.after(60_000).min() >= 60_000


def test_batch_series_merges_batches_when_full(monkeypatch):
    monkeypatch.setattr("qmodel.sim.stats.MAX_BATCHES", 8)
    b = BatchSeries()
    for x in range(5 * 8):
        b.add(float(x))
    assert b.size == 10 and len(b.means) == 4
    assert b.means[0] == pytest.approx(np.mean(range(10)))


def test_mser_cuts_an_initial_transient():
    rng = np.random.default_rng(1)
    steady = rng.normal(10, 1, 2000)
    transient = np.linspace(50, 10, 200)
    d = mser(np.concatenate([transient, steady]))
    assert 150 <= d <= 260
    assert mser(steady) < 200


def test_mean_ci_covers_the_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(2000):
        _, (lo, hi) = mean_ci(rng.exponential(1.0, 10))
        hits += lo <= 1.0 <= hi
    assert 0.85 < hits / 2000 < 0.97  # t intervals under-cover a little for skewed data


@pytest.mark.parametrize("n", [2, 3, 5, 10, 31, 200])
def test_mean_ci_uses_the_student_t_quantile_of_scipy_stats(n):
    """The interval's half-width is t(0.975, n-1) s / sqrt(n), the quantile being what
    scipy.stats.t.ppf gives (computed with scipy.special.stdtrit, without scipy.stats)."""
    from scipy import stats

    x = np.random.default_rng(n).exponential(1.0, n)
    m, (lo, hi) = mean_ci(x)
    expected = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / np.sqrt(n)
    assert m == pytest.approx(x.mean(), rel=1e-15)
    assert (hi - lo) / 2 == pytest.approx(expected, rel=1e-12)
