"""The demand estimators: utilization-law NNLS recovers known demands within its intervals
at the stated coverage, reports what the data cannot identify, and Kraft et al.'s
response-time regression recovers an M/M/1's demand."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel.calibrate.demands import response_regression, utilization_regression

from .synthetic import DEMANDS, metrics

THREE = np.array([[0.010, 0.004], [0.003, 0.012], [0.006, 0.006]])


def _coverage(demands: np.ndarray, datasets: int, interval: str, **kw) -> float:
    rng = np.random.default_rng(2026)
    hits = total = 0
    for _ in range(datasets):
        x, busy = metrics(rng, demands=demands, low=(5.0, 5.0, 5.0), high=(40.0, 40.0, 40.0),
                          **kw)
        for k in range(demands.shape[1]):
            fit = utilization_regression(x, busy[:, k], ["a", "b", "c"][:demands.shape[0]],
                                         interval=interval)
            assert fit.identifiable.all()
            hits += int(((fit.low <= demands[:, k]) & (demands[:, k] <= fit.high)).sum())
            total += demands.shape[0]
    return hits / total


@pytest.mark.parametrize("demands", [DEMANDS, THREE], ids=["2 classes", "3 classes"])
def test_ols_intervals_cover_the_truth_at_the_stated_rate(demands):
    # 200 synthetic data sets x 2 resources: measured 0.95-0.96 (docs/calibration.md)
    assert 0.90 <= _coverage(demands, 200, "ols") <= 0.99


def test_bootstrap_intervals_cover_the_truth():
    assert 0.88 <= _coverage(THREE, 40, "bootstrap") <= 1.0


def test_estimates_are_close_and_non_negative():
    rng = np.random.default_rng(3)
    x, busy = metrics(rng, intervals=60)
    fit = utilization_regression(x, busy[:, 0], ["browse", "buy"], "app", servers=4)
    assert np.allclose(fit.demand, DEMANDS[:, 0], rtol=0.05)
    # a class that uses nothing of the resource is estimated at (or near) zero, never below
    zero = utilization_regression(x, x[:, 0] * 0.01 + rng.normal(0, 0.002, 60),
                                  ["browse", "buy"], "cache")
    assert zero.demand[1] >= 0 and zero.low[1] == 0 and zero.demand[1] < 5e-4


def test_background_utilization_is_an_intercept():
    rng = np.random.default_rng(4)
    x, busy = metrics(rng, intervals=60)
    fit = utilization_regression(x, busy[:, 0] + 0.3, ["browse", "buy"], "app",
                                 background=True)
    assert fit.background == pytest.approx(0.3, abs=0.1)
    assert fit.background_interval[0] <= 0.3 <= fit.background_interval[1]
    assert np.allclose(fit.demand, DEMANDS[:, 0], rtol=0.1)


def test_classes_in_one_proportion_are_reported_not_guessed():
    rng = np.random.default_rng(5)
    x, busy = metrics(rng, intervals=60, proportional=True)
    fit = utilization_regression(x, busy[:, 0], ["browse", "buy"], "app")
    assert not fit.identifiable.any()
    assert np.isnan(fit.demand).all() and np.isinf(fit.high).all()
    assert "one proportion" in fit.reasons[0]
    assert any("browse and buy" in w for w in fit.warnings)


def test_an_exact_multiple_is_rank_deficient_too():
    rng = np.random.default_rng(6)
    a = rng.uniform(10, 50, 30)
    x = np.column_stack([a, 2 * a, rng.uniform(10, 50, 30)])
    busy = x @ [0.01, 0.002, 0.005] + rng.normal(0, 0.005, 30)
    fit = utilization_regression(x, busy, ["a", "b", "c"], "app")
    assert fit.identifiable.tolist() == [False, False, True]
    assert fit.low[2] <= 0.005 <= fit.high[2]


def test_a_constant_class_cannot_be_told_from_the_background():
    rng = np.random.default_rng(7)
    x = np.column_stack([rng.uniform(10, 50, 30), np.full(30, 20.0)])
    fit = utilization_regression(x, x @ [0.01, 0.02] + 0.1, ["a", "b"], "app", background=True)
    assert fit.identifiable.tolist() == [True, False]
    assert "b's throughput is nearly constant" in fit.reasons[1]


def test_too_few_intervals_are_reported():
    rng = np.random.default_rng(8)
    x, busy = metrics(rng, intervals=5)
    fit = utilization_regression(x, busy[:, 0], ["browse", "buy"], "app")
    assert not fit.identifiable.any()
    assert "too few intervals: 5" in fit.reasons[0]


def test_utilization_near_zero_or_one_is_warned():
    rng = np.random.default_rng(9)
    x, busy = metrics(rng, intervals=30)
    low = utilization_regression(x, busy[:, 1], ["browse", "buy"], "db", servers=100)
    high = utilization_regression(x, busy[:, 0], ["browse", "buy"], "app", servers=2.1)
    assert any("near 0" in w for w in low.warnings)
    assert any("near 1" in w for w in high.warnings)


def test_missing_intervals_are_left_out():
    rng = np.random.default_rng(10)
    x, busy = metrics(rng, intervals=40)
    b = busy[:, 0].copy()
    b[::4] = np.nan
    fit = utilization_regression(x, b, ["browse", "buy"], "app")
    assert fit.n == 30 and np.isnan(fit.fitted[0])


def _mm1_intervals(rng: np.random.Generator, demand: float, rates: np.ndarray, dt: float):
    """Simulate an M/M/1 FCFS queue whose arrival rate changes every ``dt`` seconds (the
    Lindley recursion, vectorised: wait_n = C_n - min_k<=n C_k); per interval, the
    throughput and the mean response of the jobs that arrived in it."""
    arrivals = np.concatenate([np.sort(rng.uniform(i * dt, (i + 1) * dt, rng.poisson(r * dt)))
                               for i, r in enumerate(rates)])           # Poisson per interval
    service = rng.exponential(demand, arrivals.size)
    steps = np.concatenate([[0.0], service[:-1] - np.diff(arrivals)])
    c = np.cumsum(steps)
    response = c - np.minimum.accumulate(c) + service
    which = (arrivals // dt).astype(int)
    count = np.bincount(which, minlength=len(rates))
    mean = np.bincount(which, weights=response, minlength=len(rates)) / np.maximum(count, 1)
    return count / dt, mean


def test_response_time_regression_recovers_an_mm1_demand():
    rng = np.random.default_rng(11)
    demand = 0.010
    rates = rng.uniform(15, 75, 40)                      # utilization 0.15 .. 0.75
    x, r = _mm1_intervals(rng, demand, rates, 200.0)
    fit = response_regression(x[:, None], r[:, None], ["web"], "db")
    assert fit.identifiable[0]
    assert fit.low[0] <= demand <= fit.high[0]
    assert fit.demand[0] == pytest.approx(demand, rel=0.05)


def test_response_time_regression_needs_intervals():
    fit = response_regression(np.array([[10.0], [20.0]]), np.array([[0.011], [0.012]]),
                              ["web"], "db")
    assert not fit.identifiable[0] and "too few intervals" in fit.reasons[0]
