"""Hedged requests: the exponential case in closed form, Monte Carlo of min(R1, d + R2)
for a lognormal and an empirical sample, the Tail-at-Scale shape, and the M/M/c fixed
point against the closed-form M/M/c response tail."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmodel.distributions import Exponential, HyperExponential, Lognormal
from qmodel.errors import FieldError, UnstableError
from qmodel.solvers.hedging import hedge, hedge_mmc
from qmodel.solvers.mmc import erlang_c_values, wait_then_serve


@pytest.mark.parametrize("d", [0.0, 0.3, 1.0, 3.0])
def test_exponential_in_closed_form(d):
    mu = 2.0
    h = hedge(Exponential(1 / mu), after=d)
    # P(T > t) = e^{-mu t} (t <= d), e^{mu d} e^{-2 mu t} (t > d)
    t = np.array([0.1, 0.5, 2.0])
    exact = np.where(t <= d, np.exp(-mu * t), np.exp(mu * d - 2 * mu * t))
    assert h.sf(t) == pytest.approx(exact, rel=1e-12)
    assert h.mean == pytest.approx((1 - math.exp(-mu * d)) / mu + math.exp(-mu * d) / (2 * mu),
                                   rel=1e-8)
    for q, value in h.quantiles().items():
        tail = 1 - q
        expect = -math.log(tail) / mu if tail >= math.exp(-mu * d) else \
            (mu * d - math.log(tail)) / (2 * mu)
        assert value == pytest.approx(expect, rel=1e-9)
    assert h.extra_load == pytest.approx(math.exp(-mu * d), rel=1e-12)
    # memoryless: with cancellation the copies cost exactly what they save
    assert hedge(Exponential(1 / mu), after=d, cancel=True).extra_load == \
        pytest.approx(0.0, abs=1e-8)


def _monte_carlo(r1, r2, d):
    t = np.minimum(r1, d + r2)
    return t, t + np.maximum(t - d, 0.0)


def test_lognormal_against_monte_carlo():
    dist = Lognormal(1.0, 1.5)  # mean 1 s, cv 1.5
    rng = np.random.default_rng(11)
    n = 200_000
    r1, r2 = dist.sample(rng, n), dist.sample(rng, n)
    for cancel in (False, True):
        h = hedge(dist, after="p90", cancel=cancel)
        t, work = _monte_carlo(r1, r2, h.delay)
        assert h.delay == pytest.approx(np.quantile(r1, 0.9), rel=0.02)
        half = 3.3 * t.std() / math.sqrt(n)
        assert abs(h.mean - t.mean()) <= half
        for q, value in h.quantiles((0.5, 0.95, 0.99)).items():
            assert value == pytest.approx(np.quantile(t, q), rel=0.02)
        extra = work.mean() / r1.mean() - 1 if cancel else (r1 > h.delay).mean()
        assert h.extra_load == pytest.approx(extra, abs=0.01)


def test_empirical_sample_against_resampling():
    rng = np.random.default_rng(5)
    sample = np.concatenate([rng.exponential(0.01, 950), rng.exponential(0.3, 50)])
    h = hedge(sample, after=0.05)
    r1, r2 = rng.choice(sample, 400_000), rng.choice(sample, 400_000)
    t, _ = _monte_carlo(r1, r2, 0.05)
    assert h.p_hedge == pytest.approx((sample > 0.05).mean(), abs=1e-12)
    assert h.mean == pytest.approx(t.mean(), rel=0.01)
    assert h.quantiles((0.99,))[0.99] == pytest.approx(np.quantile(t, 0.99), rel=0.03)


def test_tail_at_scale_shape():
    # 2% of requests hit a slow path (50x slower): hedging after p95 sends 5% more
    # requests and cuts p99.9 by more than an order of magnitude
    h = hedge(HyperExponential((0.98, 0.02), (0.01, 0.5)), after="p95")
    assert h.extra_load == pytest.approx(0.05, rel=1e-9)
    before, after = h.unhedged_quantiles(), h.quantiles()
    assert after[0.999] < before[0.999] / 10
    assert after[0.5] == pytest.approx(before[0.5], rel=1e-9)  # below d nothing changes
    assert h.mean < h.mean_unhedged


def test_mmc_fixed_point():
    quantile = hedge_mmc(lam=5.0, c=10, mean_service=1.0, after="p95")
    assert quantile.lam_total == pytest.approx(5.25, rel=1e-12)
    assert quantile.hedge.p_hedge == pytest.approx(0.05, rel=1e-6)
    fixed = hedge_mmc(lam=6.0, c=10, mean_service=1.0, after=2.5)
    # the copies' rate is P(R > d) of the loaded station: its phase-type response law
    x = fixed.lam_total
    p = float(wait_then_serve(float(erlang_c_values(10, x)), 10 - x, 1.0).sf(2.5))
    assert fixed.lam_total == pytest.approx(6.0 * (1 + p), rel=1e-9)
    assert fixed.utilization == pytest.approx(fixed.lam_total / 10, rel=1e-12)
    with pytest.raises(UnstableError, match="hedged copies"):
        hedge_mmc(lam=8.0, c=10, mean_service=1.0, after=2.0)


def test_bad_input_names_the_field():
    for after in ("p100", "fast", -1.0, math.inf):
        with pytest.raises(FieldError, match="^after:"):
            hedge(Exponential(1.0), after=after)
    with pytest.raises(FieldError, match="^response:"):
        hedge([1.0, -2.0], after=0.5)
    with pytest.raises(FieldError, match="^c:"):
        hedge_mmc(1.0, 0, 1.0, "p95")
