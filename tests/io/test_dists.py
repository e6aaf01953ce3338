"""Distributions both ways: what maps comes back with the same parameters; what does not
is replaced by one with the same mean and cv (checked independently here)."""

from __future__ import annotations

import math

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
    Pareto,
    Uniform,
)
from qmodel.errors import QModelError
from qmodel.io.dists import CLASS_OF, ENGINE, from_jmt, to_jmt

EXACT = [Exponential(0.2), Deterministic(0.05), Erlang(3, 0.3),
         HyperExponential((0.3, 0.7), (0.01, 0.5)), Gamma(0.4, 0.6), Lognormal(0.1, 1.7),
         Uniform(0.1, 0.5), Pareto(2.5, 0.03)]


@pytest.mark.parametrize("dist", EXACT, ids=[type(d).__name__ for d in EXACT])
def test_mapped_distributions_come_back(dist):
    name, params, note = to_jmt(dist)
    assert note == ""
    back, note = from_jmt(ENGINE + CLASS_OF[name][0], {p: v for p, _, v in params}, "x")
    assert type(back) is type(dist) and note == ""
    assert (back.mean, back.scv) == pytest.approx((dist.mean, dist.scv), rel=1e-12)


def test_jmt_parameters_mean_what_jmt_says():
    """JMT's Gamma is shape alpha and scale beta; Lognormal mu, sigma are the log's."""
    _, params, _ = to_jmt(Gamma(0.4, 0.5))
    p = {k: v for k, _, v in params}
    assert stats.gamma(p["alpha"], scale=p["beta"]).mean() == pytest.approx(0.4)
    _, params, _ = to_jmt(Lognormal(0.1, 1.7))
    p = {k: v for k, _, v in params}
    d = stats.lognorm(p["sigma"], scale=math.exp(p["mu"]))
    assert (d.mean(), d.std() / d.mean()) == pytest.approx((0.1, 1.7))


def test_what_jmt_lacks_is_fitted_by_mean_and_cv():
    name, _, note = to_jmt(Empirical((0.1, 0.2, 0.6)))
    assert name == "Gamma" and "empirical distribution: JMT has no equivalent" in note
    _, params, note = to_jmt(HyperExponential((0.2, 0.3, 0.5), (0.1, 0.2, 0.9)))
    assert "3 phases" in note and len(params) == 3


def test_weibull_is_approximated_with_its_mean_and_cv():
    d, note = from_jmt(ENGINE + "Weibull", {"alpha": 2.0, "r": 0.7}, "x")
    ref = stats.weibull_min(0.7, scale=2.0)
    assert d.mean == pytest.approx(ref.mean()) and d.scv == pytest.approx(ref.var() / ref.mean() ** 2)
    assert "Weibull" in note


def test_coxian_is_approximated_with_its_mean_and_cv():
    """Against a simulation of the two phases as JMT samples them."""
    d, note = from_jmt(ENGINE + "CoxianDistr", {"lambda0": 10.0, "lambda1": 0.5,
                                                "phi0": 0.9}, "x")
    rng = np.random.default_rng(3)
    x = rng.exponential(0.1, 400_000) + (rng.random(400_000) > 0.9) * rng.exponential(
        2.0, 400_000)
    assert d.mean == pytest.approx(0.3) == pytest.approx(x.mean(), rel=0.01)
    assert d.scv == pytest.approx(x.var() / x.mean() ** 2, rel=0.03)
    assert "Coxian" in note


def test_mmpp2_is_a_renewal_fit_of_its_gaps():
    """Mean and cv² of the gaps against a simulated MMPP(2): 60,000 gaps, correlated by the
    slow phase switches, hence the tolerances (over five seeds the mean was within 5% and
    the cv² within 3%)."""
    l0, l1, s0, s1 = 12.0, 0.5, 0.1, 0.05
    d, note = from_jmt(ENGINE + "MMPP2Distr", {"lambda0": l0, "lambda1": l1,
                                               "sigma0": s0, "sigma1": s1}, "x")
    assert d.mean == pytest.approx((s0 + s1) / (l0 * s1 + l1 * s0))  # 1 / mean rate
    rng = np.random.default_rng(7)
    phase, t, last, gaps = 0, 0.0, 0.0, []
    rates, switch = (l0, l1), (s0, s1)
    while len(gaps) < 60_000:
        total = rates[phase] + switch[phase]
        t += rng.exponential(1 / total)
        if rng.random() < rates[phase] / total:
            gaps.append(t - last)
            last = t
        else:
            phase = 1 - phase
    gaps = np.array(gaps)
    assert d.mean == pytest.approx(gaps.mean(), rel=0.08)
    assert d.scv == pytest.approx(gaps.var() / gaps.mean() ** 2, rel=0.1)
    assert "correlation is lost" in note


@pytest.mark.parametrize("engine, params, message", [
    ("PhaseTypeDistr", {"lambda0": 1.0}, "PhaseTypeDistr has no qmodel equivalent"),
    ("CoxianDistr", {"lambda0": 1.0}, "not a valid distribution"),
    ("Exponential", {"lambda": -1.0}, "not a valid distribution"),
    ("Pareto", {"alpha": 0.9, "k": 1.0}, "alpha must be > 1"),
    ("Erlang", {"alpha": 2.0}, "not a valid distribution"),
])
def test_bad_distributions_are_named(engine, params, message):
    with pytest.raises(QModelError, match=message):
        from_jmt(ENGINE + engine, params, "nodes.q.service")
