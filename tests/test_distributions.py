"""Distributions: moments against scipy.stats, samples against the stated mean and scv, and
every distribution surviving scaled / with_mean / to_spec."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qmodel.distributions import (
    Deterministic,
    Distribution,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Mixture,
    Pareto,
    Uniform,
    fit,
)
from qmodel.model.dist_spec import parse

SIGMA2 = math.log1p(0.8**2)
CASES: list[tuple[Distribution, object]] = [
    (Exponential(0.02), stats.expon(scale=0.02)),
    (Erlang(3, 0.06), stats.gamma(3, scale=0.02)),
    (HyperExponential((0.3, 0.7), (0.1, 0.01)), None),
    (Lognormal(0.05, 0.8), stats.lognorm(math.sqrt(SIGMA2),
                                         scale=math.exp(math.log(0.05) - SIGMA2 / 2))),
    (Gamma(0.05, 0.5), stats.gamma(4, scale=0.0125)),
    (Uniform(0.01, 0.03), stats.uniform(0.01, 0.02)),
    (Pareto(5.0, 0.008), stats.pareto(5.0, scale=0.008)),
]
IDS = [type(d).__name__ for d, _ in CASES]


@pytest.mark.parametrize(("dist", "reference"), CASES, ids=IDS)
def test_moments_match_the_closed_forms(dist, reference):
    if reference is None:  # hyperexponential: a mixture of exponentials, E[X^n] = sum p n! m^n
        p, m = np.array(dist.probs), np.array(dist.means)
        moments = [float(np.dot(p, math.factorial(n) * m**n)) for n in (1, 2, 3)]
    else:
        moments = [reference.moment(n) for n in (1, 2, 3)]
    assert dist.mean == pytest.approx(moments[0], rel=1e-12)
    assert dist.second_moment == pytest.approx(moments[1], rel=1e-12)
    assert dist.third_moment == pytest.approx(moments[2], rel=1e-12)
    assert dist.scv == pytest.approx(moments[1] / moments[0] ** 2 - 1, rel=1e-12)


def test_deterministic_and_empirical_moments():
    d = Deterministic(0.5)
    assert (d.mean, d.scv, d.second_moment, d.third_moment) == (0.5, 0.0, 0.25, 0.125)
    e = Empirical((1.0, 2.0, 3.0, 6.0))
    assert e.mean == 3.0
    assert e.scv == pytest.approx(np.var([1, 2, 3, 6]) / 9)
    assert e.third_moment == pytest.approx((1 + 8 + 27 + 216) / 4)


def test_heavy_tails_have_infinite_moments():
    assert Pareto(2.0, 1.0).scv == math.inf
    assert Pareto(3.0, 1.0).third_moment == math.inf


def test_a_mixture_mixes_the_moments():
    m = Mixture((0.25, 0.75), (Deterministic(2.0), Exponential(4.0)))
    assert m.mean == pytest.approx(0.25 * 2 + 0.75 * 4)
    assert m.second_moment == pytest.approx(0.25 * 4 + 0.75 * 32)
    assert m.third_moment == pytest.approx(0.25 * 8 + 0.75 * 384)
    assert m.scv == pytest.approx(m.second_moment / m.mean**2 - 1)


@pytest.mark.parametrize(("dist", "reference"),
                         [*CASES, (Deterministic(0.3), None), (Empirical((1.0, 2.0, 4.0)), None)],
                         ids=[*IDS, "Deterministic", "Empirical"])
def test_samples_have_the_stated_mean_and_scv(dist, reference):
    n = 200_000
    x = np.asarray(dist.sample(np.random.default_rng(7), n), dtype=float)
    assert x.shape == (n,)
    sd = math.sqrt(dist.variance)
    assert abs(x.mean() - dist.mean) <= 5 * sd / math.sqrt(n) + 1e-15   # 5 standard errors
    assert x.var() / x.mean() ** 2 == pytest.approx(dist.scv, rel=0.05, abs=1e-12)


def test_one_draw_is_a_number():
    rng = np.random.default_rng(1)
    for dist, _ in CASES:
        assert np.ndim(dist.sample(rng)) == 0


@pytest.mark.parametrize(("dist", "reference"),
                         [*CASES, (Deterministic(0.3), None), (Empirical((1.0, 2.0, 4.0)), None)],
                         ids=[*IDS, "Deterministic", "Empirical"])
def test_scaled_with_mean_and_to_spec_round_trip(dist, reference):
    doubled = dist.scaled(2.0)
    assert type(doubled) is type(dist)
    assert doubled.mean == pytest.approx(2 * dist.mean)
    assert doubled.scv == pytest.approx(dist.scv)
    moved = dist.with_mean(0.123)
    assert moved.mean == pytest.approx(0.123) and moved.scv == pytest.approx(dist.scv)
    assert parse(dist.to_spec()) == dist


@pytest.mark.parametrize(("scv", "kind"), [(0.0, Deterministic), (1.0, Exponential),
                                           (0.25, Gamma), (4.0, HyperExponential)])
def test_fit_matches_two_moments(scv, kind):
    d = fit(0.2, scv)
    assert type(d) is kind
    assert d.mean == pytest.approx(0.2) and d.scv == pytest.approx(scv)
