"""Tests of the single-station formulas (qmodel.solvers.single_station, .mg1 and .priority):
textbook values and independent methods."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as hs

import qmodel
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
from qmodel.errors import UnstableError
from qmodel.sim import simulate
from qmodel.solvers.mg1 import md1, mg1, mg1_lcfs_pr, mg1_ps, mg1k
from qmodel.solvers.mmc import erlang_b, erlang_c
from qmodel.solvers.phase_type import PhaseType
from qmodel.solvers.priority import (
    mg1_priority_nonpreemptive,
    mg1_priority_preemptive,
    mmc_priority_nonpreemptive,
)
from qmodel.solvers.single_station import StationMetrics, ggc, mm1, mmc, mmck, mminf


def assert_littles_law(m: StationMetrics) -> None:
    assert m.mean_in_system == pytest.approx(m.throughput * m.mean_response, rel=1e-9, abs=1e-12)
    assert m.mean_in_queue == pytest.approx(m.throughput * m.mean_wait, rel=1e-9, abs=1e-12)
    if m.throughput > 0:
        assert m.mean_response == pytest.approx(m.mean_wait + m.busy_servers / m.throughput)


def assert_sane(m: StationMetrics) -> None:
    values = [m.utilization, m.busy_servers, m.mean_in_queue, m.mean_in_system, m.mean_wait]
    assert all(math.isfinite(v) and v >= 0 for v in values + [m.mean_response])
    for p in (m.p_wait, m.p_idle, m.p_loss):
        assert 0.0 <= p <= 1.0
    assert m.method == "exact" or m.method.startswith("approximation(")
    assert m.response is not None
    assert m.response.mean() == pytest.approx(m.mean_response, rel=1e-8, abs=1e-12)


# -- M/M/1 and M/M/c ------------------------------------------------------------------


def test_mm1_textbook_values():
    # Kleinrock Vol. 1, M/M/1: rho = 2/3, L = rho/(1-rho), W = 1/(mu-lam)
    m = mm1(2.0, 3.0)
    assert m.mean_in_system == pytest.approx(2.0)
    assert m.mean_in_queue == pytest.approx(4 / 3)
    assert m.mean_response == pytest.approx(1.0)
    assert m.mean_wait == pytest.approx(2 / 3)
    assert (m.p_idle, m.p_wait, m.utilization) == pytest.approx((1 / 3, 2 / 3, 2 / 3))
    assert m.departure_scv == 1.0 and m.method == "exact"
    assert_littles_law(m)


@pytest.mark.parametrize("p", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_mm1_response_percentile_closed_form(p):
    # Harchol-Balter (M/M/1 FCFS): the M/M/1 FCFS response time is Exp(mu - lam)
    assert mm1(3.0, 4.0).percentile(p) == pytest.approx(-math.log(1 - p) / 1.0, rel=1e-9)


def test_mmc_textbook_values():
    # Gross & Harris, M/M/c with lam=2, mu=1, c=3: p0 = 1/9, Lq = 8/9, Wq = 4/9
    m = mmc(2.0, 1.0, 3)
    assert m.p_idle == pytest.approx(1 / 9, rel=1e-12)
    assert m.mean_in_queue == pytest.approx(8 / 9, rel=1e-12)
    assert m.mean_wait == pytest.approx(4 / 9, rel=1e-12)
    assert m.mean_in_system == pytest.approx(8 / 9 + 2, rel=1e-12)
    assert m.busy_servers == pytest.approx(2.0) and m.utilization == pytest.approx(2 / 3)
    assert_littles_law(m)


@pytest.mark.parametrize(("lam", "mu", "c"), [(2.5, 1.0, 3), (7.0, 0.8, 10), (0.3, 1.0, 4)])
def test_mmc_response_distribution_closed_form(lam, mu, c):
    # P(T > t) = (1 - C) e^{-mu t} + C P(Exp(g) + Exp(mu) > t), g = c mu - lam
    m = mmc(lam, mu, c)
    big_c, g = erlang_c(c, lam / mu), c * mu - lam
    t = np.array([0.1, 1.0, 3.0, 10.0])
    hypo = (g * np.exp(-mu * t) - mu * np.exp(-g * t)) / (g - mu)
    expected = (1 - big_c) * np.exp(-mu * t) + big_c * hypo
    np.testing.assert_allclose(m.response.sf(t), expected, rtol=1e-10)
    assert m.response.n_phases == 2


def test_mmc_is_stable_at_ten_thousand_servers():
    m = mmc(9999.0, 1.0, 10_000)  # rho = 0.9999
    assert_sane(m)
    assert_littles_law(m)
    assert 0.5 < m.p_wait < 1.0
    assert m.mean_wait == pytest.approx(m.p_wait / 1.0, rel=1e-9)  # C / (c mu - lam)
    assert math.isfinite(m.percentile(0.99)) and m.percentile(0.99) > m.percentile(0.5)


def test_mm1_is_stable_at_rho_0_99999():
    lam = 0.99999
    m = mm1(lam, 1.0)
    assert m.mean_response == pytest.approx(1 / (1 - lam), rel=1e-9)
    assert m.percentile(0.99) == pytest.approx(-math.log(0.01) / (1 - lam), rel=1e-8)
    assert_littles_law(m)


# -- M/M/c/K against a CTMC built here --------------------------------------------------


def birth_death_stationary(lam: float, mu: float, c: int, K: int) -> np.ndarray:
    Q = np.zeros((K + 1, K + 1))
    for n in range(K):
        Q[n, n + 1] = lam
        Q[n + 1, n] = mu * min(n + 1, c)
    Q -= np.diag(Q.sum(axis=1))
    pi = sla.null_space(Q.T)[:, 0]
    return pi / pi.sum()


@pytest.mark.parametrize(
    ("lam", "mu", "c", "K"),
    [(1.0, 1.0, 1, 1), (0.5, 1.0, 1, 5), (4.0, 1.0, 3, 10), (12.0, 2.0, 4, 4), (30.0, 1.0, 20, 60)],
)
def test_mmck_matches_ctmc(lam, mu, c, K):
    pi = birth_death_stationary(lam, mu, c, K)
    n = np.arange(K + 1)
    m = mmck(lam, mu, c, K)
    assert m.p_loss == pytest.approx(pi[-1], rel=1e-9)
    assert m.p_idle == pytest.approx(pi[0], rel=1e-9)
    assert m.mean_in_system == pytest.approx(pi @ n, rel=1e-9)
    assert m.mean_in_queue == pytest.approx(pi @ np.maximum(n - c, 0), rel=1e-9, abs=1e-14)
    assert m.throughput == pytest.approx(lam * (1 - pi[-1]), rel=1e-9)
    assert m.p_wait == pytest.approx(pi[c:K].sum() / (1 - pi[-1]), rel=1e-9, abs=1e-14)
    assert_littles_law(m)
    assert_sane(m)


def test_mm1k_closed_form():
    # Gross & Harris, M/M/1/K: p_K = (1 - rho) rho^K / (1 - rho^(K+1))
    rho, K = 0.8, 7
    m = mmck(0.8, 1.0, 1, K)
    assert m.p_loss == pytest.approx((1 - rho) * rho**K / (1 - rho ** (K + 1)), rel=1e-12)


def test_mmck_response_distribution_is_exact():
    lam, mu, c, K = 5.0, 1.0, 3, 8
    m = mmck(lam, mu, c, K)
    pi = birth_death_stationary(lam, mu, c, K)[:-1]
    pi /= pi.sum()
    j = np.maximum(np.arange(K) - c + 1, 0)
    # T = Erlang(j, c mu) + Exp(mu): mean and second moment summed over what arrivals see
    mean = pi @ (j / (c * mu) + 1 / mu)
    second = pi @ (j * (j + 1) / (c * mu) ** 2 + 2 * j / (c * mu * mu) + 2 / mu**2)
    assert m.response.mean() == pytest.approx(mean, rel=1e-10)
    assert m.response.moment(2) == pytest.approx(second, rel=1e-10)
    assert m.response_scv == pytest.approx(second / mean**2 - 1, rel=1e-10)


def test_mmck_departure_scv():
    # M/M/1/1: an inter-departure interval is Exp(lam) + Exp(mu)
    lam, mu = 0.5, 2.0
    expected = (1 / lam**2 + 1 / mu**2) / (1 / lam + 1 / mu) ** 2
    assert mmck(lam, mu, 1, 1).departure_scv == pytest.approx(expected, rel=1e-12)
    # Burke: a large buffer at low load gives (nearly) Poisson departures
    assert mmck(0.3, 1.0, 2, 200).departure_scv == pytest.approx(1.0, abs=1e-9)


def test_mmck_large_c_and_k_are_stable():
    m = mmck(6000.0, 1.0, 5000, 10_000)
    assert_sane(m)
    assert_littles_law(m)
    assert m.p_loss == pytest.approx(1 - 5000 / 6000, rel=1e-3)  # overloaded: servers saturate
    assert math.isfinite(m.percentile(0.99))


def test_mmck_rejects_capacity_below_servers():
    with pytest.raises(ValueError, match="at least the number of servers"):
        mmck(1.0, 1.0, 3, 2)


# -- M/G/1/K ---------------------------------------------------------------------------

LAWS = [
    Deterministic(1.0),
    Erlang(3, 1.0),
    Gamma(1.0, 0.4),
    HyperExponential.balanced(1.0, 4.0),
    Lognormal(1.0, 1.2),
    Uniform(0.2, 1.8),
    Pareto(2.5, 0.6),
    Empirical((0.1, 0.4, 0.4, 2.5, 1.6)),
    Mixture((0.25, 0.75), (Exponential(2.2), Deterministic(0.6))),
]


@pytest.mark.parametrize("rho", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("K", [1, 4, 12])
def test_mg1k_with_exponential_service_is_mm1k(rho, K):
    m, ref = mg1k(rho, Exponential(1.0), K), mmck(rho, 1.0, 1, K)
    for key in ("p_loss", "p_idle", "p_wait", "throughput", "mean_in_system", "mean_in_queue",
                "mean_response", "response_scv"):
        assert getattr(m, key) == pytest.approx(getattr(ref, key), rel=1e-12, abs=1e-12), key


def brun_garcia_md1k_loss(rho: float, K: int) -> float:
    """M/D/1/K loss in closed form (Brun & Garcia, J. Appl. Prob. 37, 2000):
    ``1 - b / (1 + rho b)`` with ``b = sum_j (-1)^j / j! (K-1-j)^j rho^j e^((K-1-j) rho)``."""
    n = K - 1
    b = sum((-1) ** j / math.factorial(j) * (n - j) ** j * rho**j * math.exp((n - j) * rho)
            for j in range(n + 1))
    return 1.0 - b / (1.0 + rho * b)


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 2.0])
@pytest.mark.parametrize("K", [2, 3, 5, 8])
def test_md1k_loss_matches_the_closed_form(rho, K):
    m = mg1k(rho / 2.0, Deterministic(2.0), K)
    assert m.p_loss == pytest.approx(brun_garcia_md1k_loss(rho, K), rel=1e-9)


def test_md1k_by_hand():
    # K = 2: pi_1 / pi_0 = (1 - e^-rho) / e^-rho, so p_2 = 1 - 1 / (e^-rho + rho); 1/(1+e) at 1
    assert mg1k(1.0, Deterministic(1.0), 2).p_loss == pytest.approx(1 / (1 + math.e), rel=1e-14)


def ph1k_stationary(lam: float, alpha: np.ndarray, T: np.ndarray, K: int) -> np.ndarray:
    """Time-average number present in M/PH/1/K from the CTMC on (n, phase)."""
    m = len(alpha)
    exit_rates = -T.sum(axis=1)
    size = 1 + K * m
    Q = np.zeros((size, size))
    block = lambda n: slice(1 + (n - 1) * m, 1 + n * m)  # noqa: E731
    Q[0, block(1)] = lam * alpha
    for n in range(1, K + 1):
        Q[block(n), block(n)] += T
        if n < K:
            Q[block(n), block(n + 1)] += lam * np.eye(m)
        if n == 1:
            Q[block(1), 0] += exit_rates
        else:
            Q[block(n), block(n - 1)] += np.outer(exit_rates, alpha)
    Q -= np.diag(Q.sum(axis=1))
    pi = sla.null_space(Q.T)[:, 0]
    pi /= pi.sum()
    return np.array([pi[0]] + [pi[block(n)].sum() for n in range(1, K + 1)])


PH_LAWS = {  # law, its PH form (alpha, T)
    "erlang-3": (Erlang(3, 1.5), np.array([1.0, 0, 0]),
                 2.0 * (np.diag([-1.0, -1, -1]) + np.diag([1.0, 1], 1))),
    "hyperexponential": (HyperExponential((0.2, 0.8), (4.0, 0.5)), np.array([0.2, 0.8]),
                         np.diag([-0.25, -2.0])),
}


@pytest.mark.parametrize("name", PH_LAWS)
@pytest.mark.parametrize("rho", [0.8, 1.5])
def test_mg1k_matches_the_ctmc_of_phase_type_service(name, rho):
    law, alpha, T = PH_LAWS[name]
    K, lam = 6, rho / law.mean
    p = ph1k_stationary(lam, alpha, T, K)
    m = mg1k(lam, law, K)
    assert m.p_loss == pytest.approx(p[-1], rel=1e-9)
    assert m.p_idle == pytest.approx(p[0], rel=1e-9)
    assert m.mean_in_system == pytest.approx(p @ np.arange(K + 1), rel=1e-9)


@pytest.mark.parametrize("law", LAWS, ids=lambda d: type(d).__name__)
def test_mg1k_with_one_place_is_erlang_b_whatever_the_service(law):
    lam = 0.7 / law.mean
    m = mg1k(lam, law, 1)  # insensitivity of the loss system: B(1, rho) = rho / (1 + rho)
    assert m.p_loss == pytest.approx(erlang_b(1, 0.7), rel=1e-12)
    assert m.mean_response == pytest.approx(law.mean, rel=1e-12)
    assert m.p_wait == 0.0


@pytest.mark.parametrize("law", LAWS, ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("rho", [0.3, 1.0, 3.0])
@pytest.mark.parametrize("K", [2, 25])
def test_mg1k_obeys_littles_law_and_flow_balance(law, rho, K):
    lam = rho / law.mean
    m = mg1k(lam, law, K)
    assert_littles_law(m)
    assert_sane(m)
    assert m.throughput == pytest.approx(lam * (1.0 - m.p_loss), rel=1e-12)
    assert m.utilization == pytest.approx(1.0 - m.p_idle, rel=1e-9)  # one server: busy = not empty
    assert m.p_loss >= max(0.0, 1.0 - 1.0 / rho) - 1e-12  # at most 1/E[S] served


@pytest.mark.parametrize("law", [d for d in LAWS if not isinstance(d, Lognormal | Pareto)],
                         ids=lambda d: type(d).__name__)
def test_mg1k_tends_to_mg1_pollaczek_khinchine_and_takacs(law):
    m, ref = mg1k(0.7 / law.mean, law, 400), mg1(0.7 / law.mean, law.mean, law.scv,
                                                  law.third_moment)
    assert m.p_loss < 1e-12
    assert m.mean_response == pytest.approx(ref.mean_response, rel=1e-9)
    assert m.response_scv == pytest.approx(ref.response_scv, rel=1e-8)  # exact variance


@pytest.mark.parametrize("law", [Exponential(1.0)] + LAWS[:4], ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("rho", [0.99, 1.01])
def test_mg1k_is_stable_with_a_thousand_places_near_saturation(law, rho):
    lam = rho / law.mean
    m = mg1k(lam, law, 1000)
    assert_sane(m)
    assert_littles_law(m)
    if isinstance(law, Exponential):
        assert m.mean_in_system == pytest.approx(mmck(lam, 1.0, 1, 1000).mean_in_system,
                                                 rel=1e-9)
    if rho < 1:  # a finite buffer holds fewer than M/G/1's and loses little
        assert m.mean_in_system <= mg1(lam, law.mean, law.scv).mean_in_system
        assert m.p_loss < 1e-3
    else:
        assert 1 - 1 / rho <= m.p_loss < 0.011 and m.utilization > 0.98


def test_mg1k_holds_an_infinite_variance_back():
    m = mg1k(0.5, Pareto(1.5, 1.0), 5)  # E[S^2] infinite: no response distribution
    assert math.isfinite(m.mean_response) and m.response is None and m.response_scv is None


@pytest.mark.parametrize("rho", [0.8, 1.5])
def test_mg1k_agrees_with_simulation(rho):
    laws = {"det": {"dist": "deterministic", "value": 1.0},
            "erlang": {"dist": "erlang", "k": 3, "mean": 1.0},
            "hyper": {"dist": "hyperexponential", "mean": 1.0, "cv": 2.0}}
    model = qmodel.Model.from_dict({  # one independent M/G/1/5 station per law
        "nodes": {name: {"kind": "queue", "capacity": 5, "service": law}
                  for name, law in laws.items()},
        "arrivals": {name: {"to": name, "rate": rho} for name in laws}})
    sim = simulate(model, replications=6, customers=30_000, seed=5)
    for station in model.network.stations:
        exact = mg1k(rho, next(iter(station.service.values())), 5)
        for key in ("p_loss", "mean_response", "mean_in_system"):
            low, high = getattr(sim.node(station.name), key).ci95
            assert low <= getattr(exact, key) <= high, (station.name, key)


# -- infinite servers -----------------------------------------------------------------


def test_mminf_values():
    # Gross & Harris, M/G/inf: N is Poisson(lam E[S])
    m = mminf(4.0, 0.5, 2.0)
    assert (m.mean_in_system, m.busy_servers, m.mean_response) == (2.0, 2.0, 0.5)
    assert m.p_idle == pytest.approx(math.exp(-2.0))
    assert (m.utilization, m.mean_wait, m.p_wait) == (0.0, 0.0, 0.0)
    assert m.response_scv == 2.0 and m.response.scv() == pytest.approx(2.0)
    assert_littles_law(m)
    zero_time = mminf(3.0, 0.0)
    assert zero_time.mean_response == 0.0 and zero_time.percentile(0.99) == 0.0


# -- M/G/1 ----------------------------------------------------------------------------


def test_mg1_with_exponential_service_equals_mm1():
    exact = mg1(0.6, 1.0, 1.0, third_moment=6.0)
    ref = mm1(0.6, 1.0)
    assert exact.mean_response == pytest.approx(ref.mean_response, rel=1e-12)
    assert exact.response_scv == pytest.approx(1.0, rel=1e-12)
    assert exact.percentile(0.9) == pytest.approx(ref.percentile(0.9), rel=1e-9)
    assert exact.method == "exact"
    assert mg1(0.6, 1.0, 1.0).method == "approximation(Takacs with fitted third moment)"


def test_md1_textbook_values():
    # Gross & Harris, M/D/1: Lq = rho^2 / (2 (1 - rho)), Var[Wq] = rho d^2 (4 - rho) / (12 (1 - rho)^2)
    rho, d = 0.7, 2.0
    m = md1(rho / d, d)
    assert m.mean_in_queue == pytest.approx(rho**2 / (2 * (1 - rho)), rel=1e-12)
    var_wait = rho * d**2 * (4 - rho) / (12 * (1 - rho) ** 2)
    assert m.response_scv * m.mean_response**2 == pytest.approx(var_wait, rel=1e-10)
    assert m.departure_scv == pytest.approx(1 - rho**2)
    assert_littles_law(m)


def test_mg1_pollaczek_khinchine():
    # Kleinrock Vol. 1, Pollaczek-Khinchine: Wq = rho (1 + cs2) E[S] / (2 (1 - rho))
    lam, mean, scv = 0.25, 3.0, 2.5
    m = mg1(lam, mean, scv)
    rho = lam * mean
    assert m.mean_wait == pytest.approx(rho * (1 + scv) * mean / (2 * (1 - rho)), rel=1e-12)
    assert (m.p_wait, m.p_idle) == pytest.approx((rho, 1 - rho))
    assert m.departure_scv == pytest.approx(1 - rho**2 + rho**2 * scv)
    with pytest.raises(ValueError, match="impossible"):
        mg1(lam, mean, scv, third_moment=1.0)


def tagged_ps_job(lam: float, mu: float, levels: int = 400) -> PhaseType:
    """Sojourn of a tagged M/M/1-PS job as a PH over the number of other jobs present."""
    n = np.arange(levels)
    T = np.zeros((levels, levels))
    T[n[:-1], n[:-1] + 1] = lam
    T[n[1:], n[1:] - 1] = mu * n[1:] / (n[1:] + 1)
    T[n, n] = -(lam * (n < levels - 1) + mu)
    alpha = (1 - lam / mu) * (lam / mu) ** n
    return PhaseType(alpha / alpha.sum(), T)


def test_mm1_ps_response_variance_matches_tagged_job_chain():
    lam, mu = 0.6, 1.0
    m = mg1_ps(lam, 1 / mu, 1.0)
    chain = tagged_ps_job(lam, mu)
    assert m.mean_response == pytest.approx(chain.mean(), rel=1e-10)
    assert m.response_scv == pytest.approx(chain.scv(), rel=1e-9)
    assert m.method == "exact"
    assert_littles_law(m)


def test_ps_and_lcfs_pr_means_are_insensitive():
    # Kleinrock Vol. 2, processor sharing: W = E[S] / (1 - rho) whatever the service law
    for scv in [0.0, 0.5, 4.0]:
        for m in (mg1_ps(0.5, 1.5, scv), mg1_lcfs_pr(0.5, 1.5, scv)):
            assert m.mean_response == pytest.approx(1.5 / 0.25)
            assert_littles_law(m)
            assert_sane(m)
    assert mg1_ps(0.5, 1.5, 4.0).method.startswith("approximation(")


def test_lcfs_pr_response_is_a_busy_period():
    # Harchol-Balter / Kleinrock Vol. 1: the M/M/1 busy period has E[B^2] = 2 E[S]^2 / (1 - rho)^3
    rho = 0.6
    m = mg1_lcfs_pr(rho, 1.0, 1.0)
    assert m.response_scv == pytest.approx((1 + rho) / (1 - rho), rel=1e-12)
    assert m.method == "exact"


# -- G/G/c ----------------------------------------------------------------------------


def test_ggc_allen_cunneen_scales_mmc_wait():
    ref = mmc(7.0, 1.0, 8)
    m = ggc(7.0, 0.5, 1.0, 2.5, 8)
    assert m.mean_wait == pytest.approx((0.5 + 2.5) / 2 * ref.mean_wait, rel=1e-12)
    assert m.method == "approximation(Allen-Cunneen)"
    rho = 7 / 8
    expected_cd2 = 1 + (1 - rho**2) * (0.5 - 1) + rho**2 * (2.5 - 1) / math.sqrt(8)
    assert m.departure_scv == pytest.approx(expected_cd2, rel=1e-12)
    assert_littles_law(m)


def test_kingman_with_poisson_arrivals_equals_pollaczek_khinchine():
    m = ggc(0.4, 1.0, 2.0, 0.3, 1)
    assert m.mean_wait == pytest.approx(mg1(0.4, 2.0, 0.3).mean_wait, rel=1e-12)
    assert m.method == "approximation(Kingman)"


def test_ggc_response_moments_are_mmc_for_poisson_exponential():
    m = ggc(2.0, 1.0, 1.0, 1.0, 3)
    assert m.response_scv == pytest.approx(mmc(2.0, 1.0, 3).response_scv, rel=1e-10)


# -- priorities -----------------------------------------------------------------------


def test_cobham_single_class_is_mg1():
    (m,) = mg1_priority_nonpreemptive([0.5], [1.2], [0.7])
    assert m.mean_wait == pytest.approx(mg1(0.5, 1.2, 0.7).mean_wait, rel=1e-12)


def test_cobham_obeys_kleinrock_conservation_law():
    # Kleinrock Vol. 2, conservation law: sum_k rho_k Wq_k = rho * Wq(FCFS) for non-preemptive work
    lams, means, scvs = [0.1, 0.2, 0.15], [1.0, 2.0, 0.5], [1.0, 0.3, 3.0]
    per_class = mg1_priority_nonpreemptive(lams, means, scvs)
    rho = sum(lam * s for lam, s in zip(lams, means, strict=True))
    second = sum(lam * (1 + v) * s**2 for lam, s, v in zip(lams, means, scvs, strict=True))
    fcfs_wait = second / (2 * (1 - rho))
    weighted = sum(lam * s * m.mean_wait for lam, s, m in zip(lams, means, per_class, strict=True))
    assert weighted == pytest.approx(rho * fcfs_wait, rel=1e-12)
    assert per_class[0].mean_wait < per_class[1].mean_wait < per_class[2].mean_wait
    for m in per_class:
        assert_littles_law(m)
        assert_sane(m)


def test_mmc_priority_weighted_wait_equals_mmc():
    # identical exponential service: the total queue is the M/M/c queue (Gross & Harris 3.4.1)
    lams = [1.0, 2.0, 1.5]
    per_class = mmc_priority_nonpreemptive(lams, 1.0, 6)
    ref = mmc(4.5, 1.0, 6)
    weighted = sum(lam * m.mean_wait for lam, m in zip(lams, per_class, strict=True)) / 4.5
    assert weighted == pytest.approx(ref.mean_wait, rel=1e-12)
    assert per_class[0].method == "exact"
    assert per_class[1].method.startswith("approximation(")
    # class 0 waits, if at all, Exp(c mu - lam_0)
    assert per_class[0].mean_wait == pytest.approx(ref.p_wait / (6.0 - 1.0), rel=1e-12)
    for m in per_class:
        assert_littles_law(m)
        assert_sane(m)


def test_preemptive_priority_highest_class_sees_mg1_alone():
    lams, means, scvs = [0.3, 0.4], [1.0, 0.5], [2.0, 1.0]
    hi, lo = mg1_priority_preemptive(lams, means, scvs)
    assert hi.mean_response == pytest.approx(mg1(0.3, 1.0, 2.0).mean_response, rel=1e-12)
    # Kleinrock Vol. 2, preemptive-resume priority, for the lower class
    sigma1, sigma2 = 0.3, 0.5
    residual = (0.3 * 3.0 * 1.0 + 0.4 * 2.0 * 0.25) / 2
    expected = 0.5 / (1 - sigma1) + residual / ((1 - sigma1) * (1 - sigma2))
    assert lo.mean_response == pytest.approx(expected, rel=1e-12)
    for m in (hi, lo):
        assert_littles_law(m)
        assert_sane(m)


def sparse_generator(n: int, edges: list[tuple[int, int, float]], exits=None) -> sp.csc_matrix:
    rows, cols, vals = zip(*edges, strict=True)
    M = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    out = np.asarray(M.sum(axis=1)).ravel() + (0.0 if exits is None else exits)
    return (M - sp.diags(out)).tocsc()


def preemptive_low_class_moments(lam0, mu0, lam1, mu1, levels=60):
    """E[T], E[T^2] of a class-1 job in a 2-class preemptive M/M/1, from CTMCs."""
    # stationary (high, low) numbers present, truncated at `levels`
    idx = np.arange(levels * levels).reshape(levels, levels)
    edges = []
    for h in range(levels):
        for low in range(levels):
            if h + 1 < levels:
                edges.append((idx[h, low], idx[h + 1, low], lam0))
            if low + 1 < levels:
                edges.append((idx[h, low], idx[h, low + 1], lam1))
            if h > 0:
                edges.append((idx[h, low], idx[h - 1, low], mu0))
            elif low > 0:
                edges.append((idx[h, low], idx[h, low - 1], mu1))
    balance = sparse_generator(levels**2, edges).T.tolil()
    balance[0, :] = 1.0  # normalisation replaces one balance equation
    rhs = np.zeros(levels**2)
    rhs[0] = 1.0
    pi = spla.spsolve(balance.tocsc(), rhs).reshape(levels, levels)
    # tagged class-1 job: (high present, low jobs ahead of it plus itself = 1..levels)
    tag = np.arange(levels * levels).reshape(levels, levels)
    edges = []
    for h in range(levels):
        for ahead in range(levels):
            if h + 1 < levels:
                edges.append((tag[h, ahead], tag[h + 1, ahead], lam0))
            if h > 0:
                edges.append((tag[h, ahead], tag[h - 1, ahead], mu0))
            elif ahead > 0:
                edges.append((tag[h, ahead], tag[h, ahead - 1], mu1))
    exits = np.zeros(levels**2)
    exits[tag[0, 0]] = mu1
    minus_t = -sparse_generator(levels**2, edges, exits)
    alpha = pi.ravel() / pi.sum()  # PASTA: the arrival finds `low` jobs ahead
    y = spla.spsolve(minus_t, np.ones(levels**2))
    return alpha @ y, 2 * alpha @ spla.spsolve(minus_t, y)


def test_preemptive_response_variance_matches_ctmc():
    lam0, mu0, lam1, mu1 = 0.2, 1.0, 0.25, 0.625  # rho = 0.2 + 0.4
    mean, second = preemptive_low_class_moments(lam0, mu0, lam1, mu1)
    _, lo = mg1_priority_preemptive([lam0, lam1], [1 / mu0, 1 / mu1], [1.0, 1.0], [6.0, 6 / mu1**3])
    assert lo.method == "exact"
    assert lo.mean_response == pytest.approx(mean, rel=1e-8)
    assert lo.response_scv == pytest.approx(second / mean**2 - 1, rel=1e-7)


# -- edge cases and validation --------------------------------------------------------


ZERO_LOAD = [
    lambda: mm1(0.0, 2.0),
    lambda: mmc(0.0, 2.0, 4),
    lambda: mmck(0.0, 2.0, 2, 5),
    lambda: mminf(0.0, 0.5),
    lambda: mg1(0.0, 0.5, 2.0),
    lambda: md1(0.0, 0.5),
    lambda: mg1_ps(0.0, 0.5, 2.0),
    lambda: mg1_lcfs_pr(0.0, 0.5, 2.0),
    lambda: ggc(0.0, 1.5, 0.5, 2.0, 3),
    lambda: mg1_priority_nonpreemptive([0.0, 0.0], [0.5, 1.0], [1.0, 2.0])[1],
    lambda: mg1_priority_preemptive([0.0, 0.0], [0.5, 1.0], [1.0, 2.0])[1],
    lambda: mmc_priority_nonpreemptive([0.0, 0.0], 2.0, 3)[1],
]


@pytest.mark.parametrize("make", ZERO_LOAD)
def test_zero_arrival_rate_gives_an_idle_station(make):
    m = make()
    assert m.throughput == 0.0 and m.mean_in_system == 0.0 and m.mean_in_queue == 0.0
    assert m.mean_wait == 0.0 and m.p_wait == 0.0 and m.p_loss == 0.0
    assert m.p_idle == 1.0 and m.utilization == 0.0
    assert m.mean_response > 0 and math.isfinite(m.percentile(0.95))


UNSTABLE = [
    lambda: mm1(2.0, 2.0),
    lambda: mmc(10.0, 1.0, 9),
    lambda: mg1(1.0, 1.5, 1.0),
    lambda: md1(1.0, 1.0),
    lambda: mg1_ps(2.0, 0.5, 1.0),
    lambda: mg1_lcfs_pr(2.0, 0.5, 1.0),
    lambda: ggc(5.0, 1.0, 1.0, 1.0, 4),
    lambda: mg1_priority_nonpreemptive([0.5, 0.6], [1.0, 1.0], [1.0, 1.0]),
    lambda: mg1_priority_preemptive([0.5, 0.6], [1.0, 1.0], [1.0, 1.0]),
    lambda: mmc_priority_nonpreemptive([1.0, 1.0], 1.0, 2),
]


@pytest.mark.parametrize("make", UNSTABLE)
def test_saturated_stations_raise_unstable_error(make):
    with pytest.raises(UnstableError) as info:
        make()
    assert info.value.utilization >= 1.0


INVALID = [
    lambda: mm1(-1.0, 1.0),
    lambda: mm1(1.0, 0.0),
    lambda: mmc(1.0, 2.0, 0),
    lambda: mmc(1.0, 2.0, 2.5),
    lambda: mmc(math.nan, 2.0, 2),
    lambda: mmck(1.0, 1.0, 2, 1),
    lambda: mminf(1.0, -0.5),
    lambda: mg1(0.5, 1.0, -1.0),
    lambda: ggc(0.5, -1.0, 1.0, 1.0, 2),
    lambda: erlang_b(0, 1.0),
    lambda: mg1_priority_nonpreemptive([0.1], [1.0, 2.0], [1.0]),
    lambda: mg1_priority_preemptive([0.1, 0.1], [1.0, 0.0], [1.0, 1.0]),
    lambda: mm1(0.5, 1.0).percentile(95),
]


@pytest.mark.parametrize("make", INVALID)
def test_invalid_parameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


# -- properties -----------------------------------------------------------------------

rates = hs.floats(min_value=1e-3, max_value=1e4)


@settings(max_examples=80, deadline=None)
@given(lam=rates, mu=rates, c=hs.integers(1, 500))
def test_mmc_property(lam, mu, c):
    try:
        m = mmc(lam, mu, c)
    except UnstableError as exc:
        assert lam / (c * mu) >= 1.0 and exc.utilization >= 1.0
        return
    assert_sane(m)
    assert_littles_law(m)


@settings(max_examples=60, deadline=None)
@given(lam=rates, mu=rates, c=hs.integers(1, 50), extra=hs.integers(0, 200))
def test_mmck_property(lam, mu, c, extra):
    m = mmck(lam, mu, c, c + extra)
    assert_sane(m)
    assert_littles_law(m)
    assert m.throughput <= lam * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(
    rho=hs.floats(0.0, 1.2),
    mean=hs.floats(1e-4, 1e3),
    scv=hs.floats(0.0, 20.0),
    ca2=hs.floats(0.0, 5.0),
)
def test_mg1_and_ggc_property(rho, mean, scv, ca2):
    lam = rho / mean
    for make in (mg1, mg1_ps, lambda lam, mean, scv: ggc(lam, ca2, mean, scv, 1)):
        try:
            m = make(lam, mean, scv)
        except UnstableError as exc:
            assert lam * mean >= 1.0 and exc.utilization >= 1.0
            continue
        assert_sane(m)
        assert_littles_law(m)
        assert m.response_scv >= 0.0 and m.departure_scv >= 0.0
