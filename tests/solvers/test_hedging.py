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
from qmodel.solvers.mmc import MMcResponse, erlang_c_values, wait_then_serve


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


def test_several_copies_in_closed_form_and_by_monte_carlo():
    mu, d = 2.0, 0.4
    h = hedge(Exponential(1 / mu), after=d, copies=2)
    t = np.array([0.2, 0.6, 1.5])  # P(T > t) = prod_j e^{-mu (t - j d)^+}
    exact = np.prod([np.exp(-mu * np.maximum(t - j * d, 0)) for j in range(3)], axis=0)
    assert h.sf(t) == pytest.approx(exact, rel=1e-12)
    q = math.exp(-mu * d)  # copy 1 sent: S(d); copy 2: S(d) S(2d)
    assert h.extra_load == pytest.approx(q + q * q**2, rel=1e-12)
    rng = np.random.default_rng(2)
    dist = Lognormal(1.0, 1.5)
    r = dist.sample(rng, (3, 200_000))
    many = hedge(dist, after=0.8, copies=2)
    t = np.minimum(r[0], np.minimum(0.8 + r[1], 1.6 + r[2]))
    assert many.mean == pytest.approx(t.mean(), abs=3.3 * t.std() / math.sqrt(t.size))
    assert many.quantiles((0.99,))[0.99] == pytest.approx(np.quantile(t, 0.99), rel=0.02)
    sent = (r[0] > 0.8).mean() + ((r[0] > 1.6) & (r[1] > 0.8)).mean()
    assert many.extra_load == pytest.approx(sent, abs=0.005)
    work = t + np.maximum(t - 0.8, 0) + np.maximum(t - 1.6, 0)
    cancelled = hedge(dist, after=0.8, copies=2, cancel=True).extra_load
    assert cancelled == pytest.approx(work.mean() / r[0].mean() - 1, abs=0.01)


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
    # after: p95 is the 95th percentile of R without hedging (the model format's meaning)
    quantile = hedge_mmc(lam=5.0, c=10, mean_service=1.0, after="p95")
    unhedged = MMcResponse(float(erlang_c_values(10, 5.0)), 5.0, 1.0)
    assert quantile.hedge.delay == pytest.approx(unhedged.quantile(0.95), rel=1e-9)
    x = quantile.lam_total
    loaded = wait_then_serve(float(erlang_c_values(10, x)), 10 - x, 1.0)
    assert x == pytest.approx(5.0 * (1 + float(loaded.sf(quantile.hedge.delay))), rel=1e-9)
    assert 0.05 < quantile.hedge.p_hedge < 0.051  # the copies load the station a little
    assert quantile.metastable  # 2 lam reaches the capacity: a storm of copies can hold
    assert not hedge_mmc(lam=4.0, c=10, mean_service=1.0, after="p95").metastable
    fixed = hedge_mmc(lam=6.0, c=10, mean_service=1.0, after=2.5)
    # the copies' rate is P(R > d) of the loaded station: its phase-type response law
    x = fixed.lam_total
    p = float(wait_then_serve(float(erlang_c_values(10, x)), 10 - x, 1.0).sf(2.5))
    assert fixed.lam_total == pytest.approx(6.0 * (1 + p), rel=1e-9)
    assert fixed.utilization == pytest.approx(fixed.lam_total / 10, rel=1e-12)
    # two copies after the p95: the second one goes when R0 > 2d and R1 > d
    two = hedge_mmc(lam=5.0, c=10, mean_service=1.0, after="p95", copies=2)
    law = two.hedge
    assert two.lam_total == pytest.approx(5.0 * (1 + law.extra_load), rel=1e-9)
    assert law.extra_load == pytest.approx(law.p_hedge * (1 + float(law.law.sf(
        np.array([2 * law.delay]))[0])), rel=1e-12)
    with pytest.raises(UnstableError, match="hedged copies"):
        hedge_mmc(lam=8.0, c=10, mean_service=1.0, after=2.0)


def test_bad_input_names_the_field():
    for after in ("p100", "fast", -1.0, math.inf):
        with pytest.raises(FieldError, match="^after:"):
            hedge(Exponential(1.0), after=after)
    with pytest.raises(FieldError, match="^response:"):
        hedge([1.0, -2.0], after=0.5)
    with pytest.raises(FieldError, match="^copies:"):
        hedge(Exponential(1.0), after=1.0, copies=0)
    with pytest.raises(FieldError, match="^c:"):
        hedge_mmc(1.0, 0, 1.0, "p95")
