"""Tests of qmodel.solvers.arrivals_during: the law of the Poisson arrivals during a service.

``N`` given ``S`` is Poisson(lam S), so ``E[N] = lam E[S]`` and ``E[N (N - 1)] = lam^2 E[S^2]``
whatever the service law: the probabilities must sum to 1 and reproduce both moments.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from qmodel.distributions import (
    Deterministic,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Mixture,
    Pareto,
    Uniform,
)
from qmodel.solvers.arrivals_during import arrival_probabilities

LAWS = [
    Exponential(1.0),
    Deterministic(1.0),
    Erlang(3, 1.0),
    Gamma(1.0, 0.6),
    HyperExponential.balanced(1.0, 4.0),
    Lognormal(1.0, 0.8),
    Lognormal(1000.0, 0.01),  # narrow and far from 0: found all the same
    Uniform(0.5, 1.5),
    Pareto(6.0, 5.0 / 6.0),
    Empirical((0.2, 0.5, 0.5, 1.0, 2.8)),
    Mixture((0.3, 0.7), (Deterministic(0.5), Erlang(2, 1.5))),
]


@pytest.mark.parametrize("law", LAWS, ids=lambda d: type(d).__name__)
def test_probabilities_sum_to_one_and_give_the_mixed_poisson_moments(law):
    lam = 1.5 / law.mean
    a = arrival_probabilities(law, lam, 400)
    k = np.arange(a.size)
    assert np.all(a >= 0)
    assert a.sum() == pytest.approx(1.0, abs=1e-9)
    assert a @ k == pytest.approx(lam * law.mean, rel=1e-8)
    assert a @ (k * (k - 1)) == pytest.approx(lam**2 * law.second_moment, rel=1e-7)


def test_closed_forms_match_textbook_laws():
    lam = 2.0
    k = np.arange(30)
    assert arrival_probabilities(Deterministic(1.5), lam, 30) == pytest.approx(
        stats.poisson.pmf(k, 3.0), rel=1e-12)
    # Erlang(k, mean): negative binomial with k successes, p = 1 / (1 + lam mean / k)
    assert arrival_probabilities(Erlang(4, 2.0), lam, 30) == pytest.approx(
        stats.nbinom.pmf(k, 4, 1.0 / 2.0), rel=1e-12)
    assert arrival_probabilities(Exponential(0.5), lam, 30) == pytest.approx(
        stats.geom.pmf(k + 1, 0.5), rel=1e-12)


def test_quadrature_agrees_with_the_empirical_law_of_many_draws():
    law = Lognormal(1.0, 1.2)
    draws = law.sample(np.random.default_rng(3), 200_000)
    a = arrival_probabilities(law, 2.0, 12)
    assert a == pytest.approx(arrival_probabilities(Empirical(tuple(draws)), 2.0, 12), abs=3e-3)


def test_heavy_load_underflows_to_zero_not_nan():
    a = arrival_probabilities(Deterministic(1.0), 5000.0, 50)
    assert np.all(a == 0.0)
