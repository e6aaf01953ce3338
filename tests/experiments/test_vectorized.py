"""Vectorised, log-space Erlang C against the scalar solver and published staffing tables."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel.experiments.vectorized import erlang_c, mmc_quantile
from qmodel.solvers import single_station


def service_level(c: int, a: float, aht: float, t: float) -> float:
    """P(W <= t) = 1 - C exp(-(c - a) t / AHT)  (Erlang C, M/M/c FCFS)."""
    return 1.0 - float(erlang_c(c, a)) * np.exp(-(c - a) * t / aht)


def test_matches_the_scalar_erlang_c_over_a_wide_range():
    cs = np.array([1, 2, 3, 5, 10, 50, 100, 1000, 10_000, 50_000])
    for rho in (0.01, 0.3, 0.7, 0.95, 0.999):
        a = cs * rho
        expected = [single_station.erlang_c(int(c), float(x)) for c, x in zip(cs, a)]
        assert erlang_c(cs, a) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_unstable_points_are_nan_not_errors():
    assert np.isnan(erlang_c([2, 4], [2.0, 5.0])).all()


def test_call_centre_helper_worked_example():
    """Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    100 calls per 30 min, AHT 180 s (10 erlangs), target 80% answered in 20 s. Published:
    P(wait) = 0.6821 with 11 agents; 14 agents are needed, giving an 88.8% service level."""
    a, aht = 10.0, 180.0
    assert float(erlang_c(11, a)) == pytest.approx(0.6821, abs=5e-5)
    levels = {c: service_level(c, a, aht, 20.0) for c in range(11, 16)}
    assert min(c for c, sl in levels.items() if sl >= 0.8) == 14
    assert levels[14] == pytest.approx(0.888, abs=5e-4)


def test_westbay_erlang_c_worked_example():
    """Westbay Engineers, "The Erlang C formula" (erlang.com): 360 calls per half hour of
    4 minutes (48 erlangs) on 55 agents, target 15 s. Published: probability of waiting
    23.87%, average speed of answer 8.2 s, service level 84.6%."""
    a, aht, c = 48.0, 240.0, 55
    p_wait = float(erlang_c(c, a))
    assert p_wait == pytest.approx(0.2387, abs=5e-5)
    assert p_wait * aht / (c - a) == pytest.approx(8.2, abs=0.05)
    assert service_level(c, a, aht, 15.0) == pytest.approx(0.846, abs=5e-4)


@pytest.mark.parametrize("c", [1, 3, 16])
def test_mmc_quantiles_match_the_phase_type_solver(c):
    mu, lam = 10.0, 9.0 * c
    exact = single_station.mmc(lam, mu, c)
    p_wait = float(erlang_c(c, lam / mu))
    for q in (0.5, 0.95, 0.99):
        assert float(mmc_quantile(q, p_wait, mu, c * mu - lam)) == \
            pytest.approx(exact.percentile(q), rel=1e-9)
