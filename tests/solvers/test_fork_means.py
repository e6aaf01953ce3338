"""Symmetric fork-join means (qmodel.solvers.fork_means): Flatto-Hahn's exact two-way
value, Varma-Makowski's heavy-traffic factors and interpolation, Nelson-Tantawi, each
against the published values and a Lindley-recursion simulation of the fork-join queue
(every branch fed by the same arrivals, so the branch times are associated)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmodel.distributions import Deterministic, Erlang, Exponential, HyperExponential
from qmodel.errors import UnstableError
from qmodel.solvers.fork_means import (
    FLATTO_HAHN,
    NELSON_TANTAWI,
    VARMA_MAKOWSKI,
    flatto_hahn,
    heavy_traffic_factor,
    symmetric_fork_join,
    varma_makowski,
)
from qmodel.solvers.forkjoin import nelson_tantawi


def harmonic(n: int) -> float:
    return sum(1.0 / i for i in range(1, n + 1))


def simulate(k: int, lam: float, service, jobs: int, seed: int) -> np.ndarray:
    """Batch means (30 batches) of the responses of a k-way fork-join of FCFS queues."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / lam, jobs)
    response = np.zeros(jobs)
    for _ in range(k):
        s = np.asarray(service.sample(rng, jobs), dtype=float)
        level = np.cumsum(np.concatenate([[0.0], s[:-1] - gaps[1:]]))
        response = np.maximum(response, level - np.minimum.accumulate(level) + s)
    return np.array([b.mean() for b in np.array_split(response[jobs // 10:], 30)])


def assert_within(value: float, batches: np.ndarray, share: float) -> None:
    """Within 4 standard errors of the batch means, plus ``share`` of their mean."""
    se = batches.std(ddof=1) / math.sqrt(batches.size)
    assert abs(value - batches.mean()) <= 4 * se + share * batches.mean(), \
        (value, batches.mean(), se)


def test_flatto_hahn_is_the_published_closed_form():
    # R_2 = (12 - rho) / 8 * 1 / (mu - lam): at rho = 0.5, 11.5 / 8 / 0.5
    assert flatto_hahn(0.5, 1.0) == pytest.approx(2.875, rel=1e-15)
    assert flatto_hahn(0.8, 1.0) == pytest.approx(11.2 / 8 / 0.2, rel=1e-15)
    assert nelson_tantawi(2, 0.3, 1.0) == pytest.approx(flatto_hahn(0.3, 1.0), rel=1e-15)
    with pytest.raises(UnstableError):
        flatto_hahn(1.0, 1.0)


def test_heavy_traffic_factors():
    # V_1 = 1 (M/M/1), V_2 = 11/8 (Flatto-Hahn at rho -> 1); V_K grows like H_K, below it
    assert heavy_traffic_factor(1) == 1.0
    assert heavy_traffic_factor(2) == 1.375
    factors = [heavy_traffic_factor(k) for k in range(1, 65)]
    assert all(b > a for a, b in zip(factors, factors[1:]))
    assert all(v < harmonic(k) for k, v in enumerate(factors[1:], start=2))
    with pytest.raises(ValueError):
        heavy_traffic_factor(0)


def test_varma_makowski_limits():
    # K = 1: Pollaczek-Khinchine; K = 2 exponential: Flatto-Hahn; rho -> 0: E[max of K]
    for service in (Deterministic(1.0), Erlang(3, 1.0), HyperExponential.balanced(1.0, 4.0)):
        pk = 1.0 + 0.6 * (1 + service.scv) / 2 / 0.4
        assert varma_makowski(1, 0.6, service) == pytest.approx(pk, rel=1e-9)
    assert varma_makowski(2, 0.7, Exponential(1.0)) == pytest.approx(flatto_hahn(0.7, 1.0))
    assert varma_makowski(5, 1e-12, Exponential(2.0)) == pytest.approx(2 * harmonic(5))
    assert varma_makowski(5, 1e-12, Deterministic(2.0)) == pytest.approx(2.0)


def test_methods_name_what_is_used():
    assert symmetric_fork_join(2, 0.5, Exponential(1.0))[1] == FLATTO_HAHN == "exact"
    assert symmetric_fork_join(1, 0.5, Exponential(1.0)) == (2.0, "exact")
    assert symmetric_fork_join(3, 0.5, Exponential(1.0))[1] == NELSON_TANTAWI
    assert symmetric_fork_join(2, 0.5, Exponential(1.0), arrival_scv=2.0)[1] == VARMA_MAKOWSKI
    assert symmetric_fork_join(2, 0.5, Deterministic(1.0))[1] == VARMA_MAKOWSKI
    assert symmetric_fork_join(2, 0.5, HyperExponential.balanced(1.0, 2.0)) is None


@pytest.mark.parametrize("k, rho, share", [(2, 0.8, 0.0), (16, 0.5, 0.05), (32, 0.8, 0.05)])
def test_nelson_tantawi_against_simulation(k, rho, share):
    """Nelson & Tantawi's stated accuracy (5% for K <= 32) where the independent bound
    H_K / (mu - lam) is 10-30% high."""
    batches = simulate(k, rho, Exponential(1.0), 60_000, k)
    mean, _ = symmetric_fork_join(k, rho, Exponential(1.0))
    assert_within(mean, batches, share)
    if k > 2:
        assert harmonic(k) / (1 - rho) > 1.1 * batches.mean()


@pytest.mark.parametrize("service, k", [(Deterministic(1.0), 2), (Deterministic(1.0), 32),
                                        (Erlang(4, 1.0), 8)])
@pytest.mark.parametrize("rho", [0.3, 0.85])
def test_varma_makowski_against_simulation(service, k, rho):
    """Service of cv <= 1 within 4% of simulation (measured: at most 2.7%)."""
    batches = simulate(k, rho, service, 60_000, 7 + k)
    assert_within(varma_makowski(k, rho, service), batches, 0.04)
