"""Tests of qmodel.solvers.phase_type against scipy.stats and closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from qmodel.solvers.ph_compose import (
    convolve,
    network,
    network_moments,
    order_statistic,
    order_statistic_phases,
)
from qmodel.solvers.phase_type import (
    MAX_ERLANG_PHASES,
    PhaseType,
    erlang,
    exponential,
    fit_two_moments,
    hyperexponential,
    hypoexponential,
    mixture,
    zero,
)

PROBS = np.array([1e-6, 0.01, 0.25, 0.5, 0.9, 0.99, 0.9999])


# -- distribution functions against scipy.stats ---------------------------------------


@pytest.mark.parametrize("rate", [1e-3, 0.7, 1e4])
def test_exponential_matches_scipy(rate):
    ph, ref = exponential(rate), st.expon(scale=1 / rate)
    t = ref.ppf(PROBS)
    np.testing.assert_allclose(ph.cdf(t), ref.cdf(t), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(ph.pdf(t), ref.pdf(t), rtol=1e-10)
    np.testing.assert_allclose(ph.quantile(PROBS), t, rtol=1e-9)


@pytest.mark.parametrize(("k", "rate"), [(2, 1.0), (5, 3.0), (20, 1e3), (50, 0.01)])
def test_erlang_matches_scipy(k, rate):
    ph, ref = erlang(k, rate), st.erlang(k, scale=1 / rate)
    t = ref.ppf(PROBS)
    np.testing.assert_allclose(ph.cdf(t), PROBS, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(ph.sf(t), ref.sf(t), rtol=1e-8)
    np.testing.assert_allclose(ph.pdf(t), ref.pdf(t), rtol=1e-8)
    np.testing.assert_allclose(ph.quantile(PROBS), t, rtol=1e-9)
    assert ph.mean() == pytest.approx(ref.mean(), rel=1e-12)
    assert ph.variance() == pytest.approx(ref.var(), rel=1e-12)


def test_erlang_raw_moments():
    # E[X^j] = k (k+1) ... (k+j-1) / rate^j for Erlang(k, rate)
    ph = erlang(3, 2.0)
    for j in range(5):
        assert ph.moment(j) == pytest.approx(math.prod(range(3, 3 + j)) / 2.0**j, rel=1e-12)


def test_stiff_hyperexponential_rates_1e_minus_3_to_1e4():
    probs, rates = np.array([0.3, 0.7]), np.array([1e4, 1e-3])
    ph = hyperexponential(probs, rates)
    t = np.array([1e-6, 1e-4, 1e-3, 1.0, 100.0, 1e3, 1e4])
    exact = 1 - probs @ np.exp(-np.outer(rates, t))
    np.testing.assert_allclose(ph.cdf(t), exact, rtol=1e-8, atol=1e-14)
    for p in [0.05, 0.2999, 0.31, 0.5, 0.99, 0.9999]:
        assert ph.cdf(ph.quantile(p)) == pytest.approx(p, rel=1e-8)
    # tail region: only the slow phase is left, a closed form
    assert ph.quantile(0.99) == pytest.approx(math.log(0.7 / 0.01) / 1e-3, rel=1e-8)


def test_cdf_handles_shapes_and_edge_values():
    ph = erlang(2, 1.0)
    grid = np.linspace(0.0, 10.0, 201).reshape(3, 67)
    values = ph.cdf(grid)
    assert values.shape == (3, 67)
    np.testing.assert_allclose(values, st.erlang(2).cdf(grid), atol=1e-13)
    assert ph.cdf(-1.0) == 0.0
    assert ph.cdf(math.inf) == 1.0
    assert math.isnan(ph.cdf(math.nan))
    assert isinstance(ph.cdf(1.0), float)
    assert ph.quantile([[0.5, 0.9]]).shape == (1, 2)


def test_quantile_limits_and_validation():
    ph = exponential(1.0)
    assert ph.quantile(0.0) == 0.0
    assert ph.quantile(1.0) == math.inf
    with pytest.raises(ValueError, match="probabilities"):
        ph.quantile(1.5)
    with pytest.raises(ValueError, match="probabilities"):
        ph.quantile(-0.1)


def test_laplace_transform_closed_forms():
    assert erlang(3, 2.0).laplace(1.0) == pytest.approx((2.0 / 3.0) ** 3, rel=1e-12)
    assert mixture([0.25], [exponential(1.0)]).laplace(1.0) == pytest.approx(0.75 + 0.125)
    assert zero().laplace(5.0) == 1.0


# -- atoms and the point mass at zero -------------------------------------------------


def test_atom_at_zero():
    ph = mixture([0.4], [exponential(2.0)])  # 0.6 at zero
    assert ph.atom == pytest.approx(0.6)
    assert ph.cdf(0.0) == pytest.approx(0.6)
    assert ph.quantile(0.6) == 0.0
    assert ph.quantile(0.3) == 0.0
    # P(X <= t) = 0.6 + 0.4 (1 - exp(-2t)) = 0.8  =>  t = ln 2 / 2
    assert ph.quantile(0.8) == pytest.approx(math.log(2) / 2, rel=1e-10)
    assert ph.mean() == pytest.approx(0.2)


def test_zero_distribution():
    z = zero()
    assert z.n_phases == 0 and z.atom == 1.0
    assert (z.mean(), z.variance(), z.scv()) == (0.0, 0.0, 0.0)
    assert z.cdf(0.0) == 1.0 and z.cdf(-1.0) == 0.0
    np.testing.assert_array_equal(z.quantile([0.0, 0.5, 0.999]), 0.0)


# -- two-moment fits ------------------------------------------------------------------


@pytest.mark.parametrize("scv", [0.02, 0.05, 1 / 3, 0.4, 0.5, 0.75, 0.99, 1.0, 1.01, 2.0, 25.0])
@pytest.mark.parametrize("mean", [1e-3, 1.0, 250.0])
def test_fit_two_moments_matches_both_moments(mean, scv):
    ph = fit_two_moments(mean, scv)
    assert ph.mean() == pytest.approx(mean, rel=1e-10)
    assert ph.scv() == pytest.approx(scv, rel=1e-9)
    assert ph.n_phases <= MAX_ERLANG_PHASES


@pytest.mark.parametrize("scv", [1e16, 1e20, 1e300])
def test_fit_two_moments_survives_a_split_that_rounds_to_one(scv):
    # An M/G/1-PS response at rho = 1 - 1e-16 has an SCV past 1e16: the balanced-means
    # split p1 = (1 + sqrt((scv-1)/(scv+1))) / 2 rounds to 1, and the small branch must
    # keep a positive weight and rate (found by test_mg1_and_ggc_property).
    ph = fit_two_moments(2.0, scv)
    assert ph.mean() == pytest.approx(2.0, rel=1e-9)
    assert np.all(np.isfinite(ph.alpha)) and ph.alpha.min() > 0


def test_fit_two_moments_low_variability_is_capped_erlang():
    for scv in [0.0, 0.01]:
        ph = fit_two_moments(3.0, scv)
        assert ph.n_phases == MAX_ERLANG_PHASES
        assert ph.mean() == pytest.approx(3.0, rel=1e-12)
        assert ph.scv() == pytest.approx(1 / MAX_ERLANG_PHASES, rel=1e-9)


def test_fit_two_moments_special_cases():
    assert fit_two_moments(0.0, 3.0).n_phases == 0
    ph = fit_two_moments(2.0, 1.0)
    assert ph.n_phases == 1 and ph.cdf(1.0) == pytest.approx(1 - math.exp(-0.5))
    with pytest.raises(ValueError):
        fit_two_moments(-1.0, 1.0)
    with pytest.raises(ValueError):
        fit_two_moments(1.0, math.nan)


# -- compositions ---------------------------------------------------------------------


def test_convolve_two_exponentials_is_hypoexponential():
    a, b = 1.0, 3.0
    ph = convolve(exponential(a), exponential(b))
    t = np.array([0.1, 1.0, 4.0])
    sf = (b * np.exp(-a * t) - a * np.exp(-b * t)) / (b - a)
    np.testing.assert_allclose(ph.sf(t), sf, rtol=1e-11)


def test_convolve_adds_moments_and_respects_atoms():
    a = mixture([0.5], [erlang(2, 1.0)])  # atom 0.5
    b = fit_two_moments(1.5, 4.0)
    ph = convolve(a, b)
    assert ph.mean() == pytest.approx(a.mean() + b.mean(), rel=1e-12)
    assert ph.variance() == pytest.approx(a.variance() + b.variance(), rel=1e-10)
    assert convolve(a, mixture([0.2], [b])).atom == pytest.approx(0.5 * 0.8)


def test_mixture_cdf_is_weighted_sum():
    parts = [exponential(1.0), erlang(3, 2.0)]
    ph = mixture(np.array([0.25, 0.5]), parts)
    t = np.array([0.0, 0.5, 2.0])
    expected = 0.25 + 0.25 * st.expon.cdf(t) + 0.5 * st.erlang(3, scale=0.5).cdf(t)
    np.testing.assert_allclose(ph.cdf(t), expected, rtol=1e-12)
    with pytest.raises(ValueError):
        mixture([0.7, 0.7], parts)


def test_hypoexponential_is_the_convolution_of_its_phases():
    t = np.array([0.1, 1.0, 4.0])
    np.testing.assert_allclose(hypoexponential([1.0, 3.0]).sf(t),
                               convolve(exponential(1.0), exponential(3.0)).sf(t), rtol=1e-12)
    assert hypoexponential([2.0] * 3).variance() == pytest.approx(erlang(3, 2.0).variance())


@pytest.mark.parametrize("n", [1, 2, 4])
def test_maximum_of_iid_exponentials(n):
    # P(max <= t) = (1 - e^-t)^n; E[max] = H_n (David & Nagaraja 2003)
    ph = order_statistic([exponential(1.0)] * n, n)
    t = np.array([0.2, 1.0, 3.0])
    np.testing.assert_allclose(ph.cdf(t), (1 - np.exp(-t)) ** n, rtol=1e-11)
    assert ph.mean() == pytest.approx(sum(1 / i for i in range(1, n + 1)), rel=1e-12)


def test_minimum_and_middle_of_exponentials():
    # the minimum of Exp(a) and Exp(b) is Exp(a + b); the 2nd of 3 iid Exp(1): 1/3 + 1/2
    t = np.array([0.1, 0.5, 2.0])
    low = order_statistic([exponential(1.0), exponential(2.5)], 1)
    np.testing.assert_allclose(low.sf(t), np.exp(-3.5 * t), rtol=1e-11)
    assert order_statistic([exponential(1.0)] * 3, 2).mean() == pytest.approx(5 / 6, rel=1e-12)


@pytest.mark.parametrize("r", [1, 2, 3])
def test_order_statistic_of_unlike_phase_types_solves_the_counting_sum(r):
    # P(X(r) <= t) = P(at least r of the times are <= t), summed over which ones are
    phs = [fit_two_moments(1.0, 0.4), mixture([0.6], [exponential(2.0)]),
           hyperexponential([0.3, 0.7], [0.5, 3.0])]
    t = np.array([0.0, 0.3, 1.0, 2.5, 6.0])
    cdfs = np.array([ph.cdf(t) for ph in phs])
    at_least = sum(np.prod([cdfs[i] if i in done else 1 - cdfs[i] for i in range(3)], axis=0)
                   for k in range(r, 4) for done in itertools.combinations(range(3), k))
    ph = order_statistic(phs, r)
    np.testing.assert_allclose(ph.cdf(t), at_least, rtol=1e-10, atol=1e-14)
    assert ph.n_phases == order_statistic_phases([3, 1, 2], r)
    assert ph.atom == pytest.approx(0.4 if r == 1 else 0.0)  # the atom of the 2nd PH


def test_order_statistic_validation_and_size():
    with pytest.raises(ValueError):
        order_statistic([exponential(1.0)] * 2, 3)
    assert order_statistic_phases([2] * 64, 1) == 2**64  # counted, not built
    assert order_statistic([zero(), exponential(1.0)], 1).atom == 1.0


# -- walks through stations -----------------------------------------------------------


def test_network_tandem_equals_convolution():
    phs = [exponential(1.0), erlang(2, 4.0)]
    walk = network(phs, [1.0, 0.0], [[0.0, 1.0], [0.0, 0.0]])
    t = np.array([0.3, 1.0, 3.0])
    np.testing.assert_allclose(walk.cdf(t), convolve(*phs).cdf(t), rtol=1e-12)


def test_network_feedback_loop_is_exponential():
    # a geometric number (mean 1/(1-q)) of Exp(mu) visits is Exp(mu (1 - q))
    walk = network([exponential(2.0)], [1.0], [[0.75]])
    np.testing.assert_allclose(walk.cdf([0.5, 2.0]), st.expon(scale=2.0).cdf([0.5, 2.0]))


def test_network_passes_zero_time_stations_and_entry_atom():
    phs = [exponential(1.0), zero(), exponential(2.0)]
    routing = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    walk = network(phs, [0.5, 0.3, 0.0], routing)  # 0.2 never starts
    assert walk.atom == pytest.approx(0.2)
    assert walk.n_phases == 2
    assert walk.mean() == pytest.approx(0.5 * 1.5 + 0.3 * 0.5)


def _random_walk(seed: int, m: int):
    rng = np.random.default_rng(seed)
    phs = [
        mixture([rng.uniform(0.7, 1.0)], [fit_two_moments(rng.uniform(0.1, 5), rng.uniform(0, 4))])
        for _ in range(m)
    ]
    routing = rng.uniform(size=(m, m)) * (rng.uniform(size=(m, m)) < 0.4)
    routing *= rng.uniform(0.3, 0.95, size=(m, 1)) / np.maximum(routing.sum(1, keepdims=True), 1)
    entry = rng.dirichlet(np.ones(m)) * 0.9
    return phs, entry, routing


@pytest.mark.parametrize("seed", range(5))
def test_network_moments_match_full_phase_type(seed):
    phs, entry, routing = _random_walk(seed, 6)
    walk = network(phs, entry, routing)
    means = [ph.mean() for ph in phs]
    seconds = [ph.moment(2) for ph in phs]
    mean, var = network_moments(means, seconds, entry, routing)
    assert mean == pytest.approx(walk.mean(), rel=1e-9)
    assert var == pytest.approx(walk.variance(), rel=1e-8)
    sparse_mean, sparse_var = network_moments(means, seconds, entry, sp.csr_matrix(routing))
    assert (sparse_mean, sparse_var) == pytest.approx((mean, var), rel=1e-12)


def test_network_moments_long_tandem():
    # 300 stations in series: mean and variance add up (independent visits)
    rates = np.linspace(0.5, 50.0, 300)
    routing = sp.diags(np.ones(299), 1, format="csr")
    entry = np.zeros(300)
    entry[0] = 1.0
    mean, var = network_moments(1 / rates, 2 / rates**2, entry, routing)
    assert mean == pytest.approx(np.sum(1 / rates), rel=1e-12)
    assert var == pytest.approx(np.sum(1 / rates**2), rel=1e-12)


def test_network_rejects_endless_walks():
    with pytest.raises(ValueError):
        network([exponential(1.0)], [1.0], [[1.0]])
    with pytest.raises(ValueError):
        network_moments([1.0], [2.0], [1.0], [[1.0]])
    with pytest.raises(ValueError):
        network([exponential(1.0)], [0.5], [[1.2]])


# -- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha", "T"),
    [
        ([0.7, 0.7], [[-1.0, 0.0], [0.0, -1.0]]),  # alpha sums above 1
        ([1.0], [[1.0]]),  # non-negative diagonal
        ([1.0, 0.0], [[-1.0, -0.5], [0.0, -1.0]]),  # negative off-diagonal
        ([1.0, 0.0], [[-1.0, 2.0], [0.0, -1.0]]),  # row sum above 0
        ([1.0, 0.0], [[-1.0, 1.0], [1.0, -1.0]]),  # no way out: infinite time
        ([1.0], [[-1.0, 0.0]]),  # shape mismatch
    ],
)
def test_invalid_phase_types_are_rejected(alpha, T):
    with pytest.raises(ValueError):
        PhaseType(alpha, T)


def test_phase_type_is_read_only():
    ph = erlang(2, 1.0)
    with pytest.raises(ValueError):
        ph.alpha[0] = 0.5
    with pytest.raises(AttributeError):
        ph.extra = 1


# -- properties -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    mean=hs.floats(1e-3, 1e3),
    scv=hs.floats(0.02, 50.0),
    p=hs.floats(1e-4, 0.9999),
)
def test_quantile_inverts_cdf(mean, scv, p):
    ph = fit_two_moments(mean, scv)
    q = ph.quantile(p)
    assert q >= 0.0
    assert ph.cdf(q) == pytest.approx(p, rel=1e-7, abs=1e-12)
