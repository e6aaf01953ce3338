"""The M/M/c kernel: Erlang B and C against exact sums, the plain recursion, scipy's Poisson
law and published staffing tables; stability at large ``c`` and near saturation; the
response-time law and its quantiles against the phase-type solver."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from qmodel.errors import UnstableError
from qmodel.solvers import single_station
from qmodel.solvers.mmc import (
    MMcResponse,
    erlang_b,
    erlang_c,
    erlang_c_values,
    log_erlang_b,
    p_idle,
    p_idle_values,
    response_quantile,
    scalar_response_quantile,
    wait_quantile,
)


def exact_erlang_b(c: int, a: Fraction) -> Fraction:
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


def exact_erlang_c(c: int, a: Fraction) -> Fraction:
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (sum(a**k / math.factorial(k) for k in range(c)) + tail)


@pytest.mark.parametrize("c", [1, 2, 3, 7, 15, 30])
@pytest.mark.parametrize("fraction", [Fraction(1, 10), Fraction(1, 2), Fraction(9, 10)])
def test_erlang_b_and_c_match_exact_rational_sums(c, fraction):
    a = fraction * c
    assert erlang_b(c, float(a)) == pytest.approx(float(exact_erlang_b(c, a)), rel=1e-11)
    assert erlang_c(c, float(a)) == pytest.approx(float(exact_erlang_c(c, a)), rel=1e-11)


def test_erlang_published_table_values():
    # Erlang-B tables (e.g. Gross & Harris, table of Erlang's loss formula): B(10, 5) = 0.01838
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=5e-7)
    # Erlang-B tables: 1% blocking at 30 trunks needs A = 20.34 erlangs
    assert erlang_b(30, 20.34) == pytest.approx(0.01, abs=2e-5)
    # Gross & Harris, M/M/c examples: C(2, 1) = 1/3 and C(3, 2) = 4/9
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-13)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9, rel=1e-13)


def test_erlang_b_large_c_is_stable_and_obeys_the_recurrence():
    c = 100_000
    for a in [50_000.0, 99_999.0, 150_000.0]:
        prev, cur = erlang_b(c - 1, a), erlang_b(c, a)
        assert 0.0 <= cur <= 1.0
        # B(c) = a B(c-1) / (c + a B(c-1))
        assert cur == pytest.approx(a * prev / (c + a * prev), rel=1e-8, abs=1e-300)
    assert erlang_b(c, 150_000.0) == pytest.approx(1 / 3, rel=1e-2)  # overload: 1 - c/a
    assert 0.0 < erlang_c(c, 0.99999 * c) < 1.0


def test_erlang_c_is_at_least_erlang_b_and_rejects_overload():
    assert erlang_c(5, 4.0) >= erlang_b(5, 4.0)
    with pytest.raises(UnstableError) as info:
        erlang_c(5, 5.0)
    assert info.value.utilization == pytest.approx(1.0)


def service_level(c: int, a: float, aht: float, t: float) -> float:
    """P(W <= t) = 1 - C exp(-(c - a) t / AHT)  (Erlang C, M/M/c FCFS)."""
    return 1.0 - float(erlang_c_values(c, a)) * np.exp(-(c - a) * t / aht)


def test_vectorised_erlang_c_is_the_scalar_one_over_a_wide_range():
    cs = np.array([1, 2, 3, 5, 10, 50, 100, 1000, 10_000, 50_000])
    for rho in (0.01, 0.3, 0.7, 0.95, 0.999):
        a = cs * rho
        expected = [erlang_c(int(c), float(x)) for c, x in zip(cs, a)]
        assert erlang_c_values(cs, a) == pytest.approx(expected, rel=1e-15, abs=1e-300)


def test_unstable_points_are_nan_not_errors():
    assert np.isnan(erlang_c_values([2, 4], [2.0, 5.0])).all()


def test_call_centre_helper_worked_example():
    """Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    100 calls per 30 min, AHT 180 s (10 erlangs), target 80% answered in 20 s. Published:
    P(wait) = 0.6821 with 11 agents; 14 agents are needed, giving an 88.8% service level."""
    a, aht = 10.0, 180.0
    assert float(erlang_c_values(11, a)) == pytest.approx(0.6821, abs=5e-5)
    levels = {c: service_level(c, a, aht, 20.0) for c in range(11, 16)}
    assert min(c for c, sl in levels.items() if sl >= 0.8) == 14
    assert levels[14] == pytest.approx(0.888, abs=5e-4)


def test_westbay_erlang_c_worked_example():
    """Westbay Engineers, "The Erlang C formula" (erlang.com): 360 calls per half hour of
    4 minutes (48 erlangs) on 55 agents, target 15 s. Published: probability of waiting
    23.87%, average speed of answer 8.2 s, service level 84.6%."""
    a, aht, c = 48.0, 240.0, 55
    p_wait = float(erlang_c_values(c, a))
    assert p_wait == pytest.approx(0.2387, abs=5e-5)
    assert p_wait * aht / (c - a) == pytest.approx(8.2, abs=0.05)
    assert service_level(c, a, aht, 15.0) == pytest.approx(0.846, abs=5e-4)


@pytest.mark.parametrize("c", [1, 3, 16])
def test_mmc_quantiles_match_the_phase_type_solver(c):
    mu, lam = 10.0, 9.0 * c
    exact = single_station.mmc(lam, mu, c)
    p_wait = erlang_c(c, lam / mu)
    for q in (0.5, 0.95, 0.99):
        assert float(response_quantile(q, p_wait, mu, c * mu - lam)) == \
            pytest.approx(exact.percentile(q), rel=1e-9)


def plain_recursion_erlang_b(c: int, a: float) -> float:
    """The textbook recursion ``B(k) = a B(k-1) / (k + a B(k-1))``, ``B(0) = 1``."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


@pytest.mark.parametrize("c", [1, 2, 5, 20, 100, 1000])
@pytest.mark.parametrize("rho", [0.05, 0.5, 0.9, 0.999, 1.0 - 1e-9, 1.5, 4.0])
def test_erlang_b_matches_the_plain_recursion(c, rho):
    a = c * rho
    assert erlang_b(c, a) == pytest.approx(plain_recursion_erlang_b(c, a), rel=1e-12)


@pytest.mark.parametrize("c", [1, 3, 10, 80])
@pytest.mark.parametrize("rho", [0.1, 0.7, 0.97])
def test_erlang_c_identity_with_scipy_poisson(c, rho):
    """``C = P(N = c) / (P(N = c) + (1 - rho) P(N < c))`` for ``N ~ Poisson(a)``."""
    a = c * rho
    top, below = stats.poisson.pmf(c, a), stats.poisson.cdf(c - 1, a)
    assert erlang_c(c, a) == pytest.approx(top / (top + (1.0 - rho) * below), rel=1e-12)
    assert p_idle(c, a) == pytest.approx(
        stats.poisson.pmf(0, a) / (below + top / (1.0 - rho)), rel=1e-12)


def test_p_idle_matches_exact_rational_sums():
    for c, a in [(1, Fraction(1, 2)), (3, Fraction(2)), (7, Fraction(13, 2))]:
        exact = 1 / (sum(a**k / math.factorial(k) for k in range(c))
                     + a**c / math.factorial(c) / (1 - a / c))
        assert p_idle(c, float(a)) == pytest.approx(float(exact), rel=1e-12)
    assert p_idle(4, 0.0) == 1.0


@pytest.mark.parametrize("c", [10**4, 10**5, 10**6, 10**7])
@pytest.mark.parametrize("rho", [0.5, 0.95, 0.999, 1.0 - 1e-6, 1.0 - 1e-9])
def test_large_c_and_near_saturation_stay_finite(c, rho):
    a = c * rho
    b, wait = erlang_b(c, a), erlang_c(c, a)
    assert 0.0 <= b <= wait <= 1.0 and math.isfinite(log_erlang_b(c, a))
    assert 0.0 <= p_idle(c, a) <= 1.0
    if rho > 0.99:  # heavy traffic: C tends to 1 as sqrt(c) (1 - rho) tends to 0
        assert wait > 0.0
    mu = 1.0
    r = MMcResponse(wait, c * mu - a * mu, mu)
    q = r.quantile(0.99)
    assert math.isfinite(q) and q >= -math.log1p(-0.99) / mu * (1.0 - 1e-12)


def test_erlang_b_in_overload_is_finite_and_tends_to_one_minus_c_over_a():
    for c in [1000, 100_000]:
        assert erlang_b(c, 3.0 * c) == pytest.approx(2.0 / 3.0, rel=2e-3)
        assert np.isfinite(log_erlang_b([c, c], [0.5 * c, 3.0 * c])).all()


def test_scalar_and_vectorised_kernels_agree_exactly():
    cs = np.array([1, 4, 30, 500, 20_000])
    a = cs * 0.93
    assert erlang_c_values(cs, a).tolist() == [erlang_c(int(c), float(x)) for c, x in zip(cs, a)]
    assert p_idle_values(cs, a).tolist() == [p_idle(int(c), float(x)) for c, x in zip(cs, a)]
    p_wait, theta = erlang_c_values(cs, a), cs - a
    assert response_quantile(0.9, p_wait, 1.0, theta).tolist() == \
        [MMcResponse(float(w), float(t), 1.0).quantile(0.9) for w, t in zip(p_wait, theta)]


@pytest.mark.parametrize(("p_wait", "theta", "mu"), [(0.5, 1.0, 2.0), (0.9, 2.0, 2.0),
                                                     (0.99, 2.0 + 1e-10, 2.0), (0.3, 50.0, 1.0),
                                                     (1.0, 1e-6, 1.0), (0.0, 1.0, 3.0)])
def test_response_law_matches_its_phase_type(p_wait, theta, mu):
    r = MMcResponse(p_wait, theta, mu)
    ph = r.phase_type()
    assert r.n_phases == ph.n_phases
    assert r.mean() == pytest.approx(ph.mean(), rel=1e-12)
    assert r.moment(2) == pytest.approx(ph.moment(2), rel=1e-10)
    for q in (0.0, 0.5, 0.95, 0.999):
        t = r.quantile(q)
        if q == 0.0:
            assert t == 0.0
        else:
            assert float(ph.cdf(t)) == pytest.approx(q, rel=1e-9)
    assert r.quantile(1.0) == math.inf


def test_response_quantile_is_nan_where_unstable_and_rejects_bad_probabilities():
    values = response_quantile(0.9, [0.5, 0.5, np.nan], [1.0, 1.0, 1.0], [1.0, -1.0, 1.0])
    assert math.isfinite(values[0]) and np.isnan(values[1:]).all()
    with pytest.raises(ValueError):
        MMcResponse(0.5, 1.0, 1.0).quantile(95)


def test_wait_quantile_inverts_the_waiting_time_law():
    """``P(W > t) = C e^{-theta t}``: no wait below the ``1 - C`` quantile."""
    p_wait, theta = 0.4, 3.0
    assert float(wait_quantile(0.5, p_wait, theta)) == 0.0
    t = float(wait_quantile(0.95, p_wait, theta))
    assert p_wait * math.exp(-theta * t) == pytest.approx(0.05, rel=1e-12)


def test_single_station_mmc_uses_the_kernel():
    m = single_station.mmc(7.0, 1.0, 8)
    assert m.p_wait == erlang_c(8, 7.0) and m.p_idle == p_idle(8, 7.0)
    assert m.percentile(0.95) == pytest.approx(
        MMcResponse(m.p_wait, 8.0 - 7.0, 1.0).quantile(0.95), rel=1e-9)


@pytest.mark.parametrize("rho", [0.5, 0.999, 1.0 - 1e-6, 1.0 - 1e-9])
def test_mm1_response_quantile_is_exact_near_saturation(rho):
    """M/M/1: ``R ~ Exp(mu - lam)`` (Kleinrock Vol. 1), to full precision however close
    ``rho`` is to 1."""
    r = MMcResponse(rho, 1.0 - rho, 1.0)
    for q in (0.5, 0.95, 0.999):
        assert r.quantile(q) == pytest.approx(-math.log1p(-q) / (1.0 - rho), rel=1e-13)


@pytest.mark.parametrize("p", [1e-9, 0.5, 0.95, 0.99, 0.999999])
@pytest.mark.parametrize("p_wait", [0.0, 1e-9, 0.3, 0.999999])
@pytest.mark.parametrize("mu", [1e-3, 1.0, 50.0])
def test_the_scalar_quantile_is_the_array_quantile_exactly(p, p_wait, mu):
    # MMcResponse.quantile uses the scalar twin (one value at numpy's per-call cost was
    # 20x slower); both must give the same number to the last bit, also near saturation
    # (theta -> 0) and where theta is close to mu (the g(y) series).
    for theta in (1e-9, 1e-3, 0.5, mu, mu * (1 + 1e-9), 3.0, 1e4):
        assert scalar_response_quantile(p, p_wait, mu, theta) == \
            float(response_quantile(p, p_wait, mu, theta)), theta
    assert math.isnan(scalar_response_quantile(0.5, 0.5, mu, 0.0))  # unstable: no number
