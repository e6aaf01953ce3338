"""Tests of the exact CTMC solver against closed forms and textbook algorithms.

Sources of the reference values:

* M/M/1, M/M/c, M/M/c/K and M/M/inf: the birth-death solutions in Gross & Harris,
  *Fundamentals of Queueing Theory*, chapter 2, computed here directly.
* Erlang B: published Erlang B tables (e.g. 10 circuits at 5 Erlangs block 1.838 %;
  the 1 % grade of service is reached at 4.46, 12.0 and 20.3 Erlangs for 10, 20 and
  30 circuits).
* Open networks: Jackson (1957, 1963), product of the per-station M/M/c marginals.
* Closed networks: exact Mean Value Analysis, Reiser & Lavenberg (1980), with the
  arrival theorem (an arriving job sees the network with one job fewer).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from qmodel.errors import ModelError, UnstableError, UnsupportedError
from qmodel.solvers.ctmc import MarkovStation, solve_closed, solve_open
from qmodel.solvers.stationary import stationary_distribution

# --- reference formulas --------------------------------------------------------------------------


def birth_death(lam: float, mu: float, servers: float, top: int) -> np.ndarray:
    """P(N = n), n = 0..top, of the birth-death chain with rates lam and mu * min(n, servers)."""
    ratios = [lam / (mu * min(n, servers)) for n in range(1, top + 1)]
    weights = np.concatenate([[1.0], np.cumprod(ratios)])
    return weights / weights.sum()


def mmc(lam: float, mu: float, c: int) -> dict[str, float]:
    """Closed-form M/M/c measures (Gross & Harris): Erlang C, L, Lq, W, Wq, P0."""
    a, rho = lam / mu, lam / (mu * c)
    head = sum(a**n / math.factorial(n) for n in range(c))
    tail = a**c / (math.factorial(c) * (1 - rho))
    p0 = 1 / (head + tail)
    erlang_c = tail * p0
    lq = erlang_c * rho / (1 - rho)
    return {"p0": p0, "C": erlang_c, "Lq": lq, "L": lq + a, "Wq": lq / lam, "W": lq / lam + 1 / mu}


def mmc_pmf(lam: float, mu: float, c: int | float, n: np.ndarray) -> np.ndarray:
    """P(N = n) in M/M/c (Poisson for M/M/inf)."""
    a = lam / mu
    if math.isinf(c):
        return np.exp(-a) * a**n / np.array([math.factorial(int(k)) for k in n])
    p0 = mmc(lam, mu, c)["p0"]
    low = np.array([a ** int(k) / math.factorial(int(k)) if k < c else 0.0 for k in n])
    high = np.where(n >= c, a**c / math.factorial(c) * (a / c) ** np.maximum(n - c, 0), 0.0)
    return p0 * (low + high)


def visit_ratios(routing: np.ndarray, reference: int) -> np.ndarray:
    """Solve v = v P with v[reference] = 1 (one balance equation replaced)."""
    k = len(routing)
    system = (np.eye(k) - routing).T
    system[reference] = np.eye(k)[reference]
    return np.linalg.solve(system, np.eye(k)[reference])


def mva(demands: np.ndarray, delay: np.ndarray, population: int) -> list[dict[str, np.ndarray]]:
    """Exact MVA (Reiser & Lavenberg) for single-server and delay stations.

    Returns, for n = 0..population, the reference throughput ``X`` and per-station mean
    queue lengths ``Q`` and residence times ``R`` (per visit to the reference station).
    """
    q = np.zeros(len(demands))
    out = [{"X": 0.0, "Q": q, "R": np.zeros_like(q)}]
    for n in range(1, population + 1):
        r = np.where(delay, demands, demands * (1 + q))
        x = n / r.sum()
        q = x * r
        out.append({"X": x, "Q": q, "R": r})
    return out


# --- single stations -----------------------------------------------------------------------------


def test_mm1_matches_closed_form():
    lam, mu = 1.5, 2.0
    rho = lam / mu
    r = solve_open([MarkovStation(mu)], [lam], [[0.0]])
    assert r.mean_in_system[0] == pytest.approx(rho / (1 - rho), rel=1e-7)
    assert r.mean_response[0] == pytest.approx(1 / (mu - lam), rel=1e-7)
    assert r.mean_wait[0] == pytest.approx(rho / (mu - lam), rel=1e-7)
    assert r.utilization[0] == pytest.approx(rho, rel=1e-9)
    assert r.p_idle[0] == pytest.approx(1 - rho, rel=1e-9)
    assert r.p_wait[0] == pytest.approx(rho, rel=1e-8)  # Poisson arrivals see time averages
    assert r.throughput[0] == pytest.approx(lam, rel=1e-8)
    assert r.system_throughput == pytest.approx(lam, rel=1e-8)
    marginal = r.marginal(0)
    assert marginal.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(marginal[:30], (1 - rho) * rho ** np.arange(30), rtol=1e-7)
    assert r.boundary_mass <= 1e-9
    assert r.loss_probability[0] <= 1e-9
    assert isinstance(r.truncation[0], int)
    assert r.n_states == r.truncation[0] + 1 == len(r.stationary) == len(r.states)


@pytest.mark.parametrize(("lam", "mu", "c", "k"), [(5.0, 1.0, 3, 6), (2.0, 1.5, 2, 10), (9.0, 1.0, 4, 4)])
def test_mmck_matches_birth_death(lam, mu, c, k):
    p = birth_death(lam, mu, c, k)
    n = np.arange(k + 1)
    accepted = lam * (1 - p[k])
    r = solve_open([MarkovStation(mu, servers=c, capacity=k)], [lam], [[0.0]])
    np.testing.assert_allclose(r.marginal(0), p, rtol=1e-10, atol=1e-14)
    assert r.loss_probability[0] == pytest.approx(p[k], rel=1e-10)
    assert r.throughput[0] == pytest.approx(accepted, rel=1e-10)
    assert r.mean_in_system[0] == pytest.approx(p @ n, rel=1e-10)
    assert r.mean_response[0] == pytest.approx(p @ n / accepted, rel=1e-10)
    assert r.mean_wait[0] == pytest.approx(p @ np.maximum(n - c, 0) / accepted, rel=1e-10, abs=1e-14)
    assert r.p_wait[0] == pytest.approx(p[c:k].sum() / (1 - p[k]), rel=1e-10, abs=1e-14)
    assert r.utilization[0] == pytest.approx(p @ np.minimum(n, c) / c, rel=1e-10)
    assert r.truncation == (None,)
    assert r.boundary_mass == 0.0


@pytest.mark.parametrize(
    ("circuits", "erlangs", "blocking", "tolerance"),
    [(10, 5.0, 0.01838, 1e-5), (10, 4.46, 0.01, 2e-4), (20, 12.0, 0.01, 3e-4), (30, 20.3, 0.01, 3e-4)],
)
@pytest.mark.parametrize("infinite", [False, True])
def test_erlang_b_table(circuits, erlangs, blocking, tolerance, infinite):
    servers = math.inf if infinite else circuits  # M/M/inf/c is the same loss system as M/M/c/c
    r = solve_open([MarkovStation(1.0, servers=servers, capacity=circuits)], [erlangs], [[0.0]])
    assert r.loss_probability[0] == pytest.approx(blocking, abs=tolerance)
    assert r.system_loss_probability == pytest.approx(r.loss_probability[0], rel=1e-9)
    assert r.p_wait[0] == 0.0
    assert r.mean_wait[0] == 0.0


# --- open product-form networks ------------------------------------------------------------------


def _assert_product_form(r, stations, lam):
    for k, (s, rate) in enumerate(zip(stations, lam)):
        if math.isinf(s.servers):
            a = rate / s.service_rate
            assert r.mean_in_system[k] == pytest.approx(a, rel=1e-7)
            assert r.p_idle[k] == pytest.approx(math.exp(-a), rel=1e-7)
            assert r.mean_response[k] == pytest.approx(1 / s.service_rate, rel=1e-7)
            assert r.utilization[k] == pytest.approx(a, rel=1e-7)
            continue
        ref = mmc(rate, s.service_rate, s.servers)
        assert r.mean_in_system[k] == pytest.approx(ref["L"], rel=1e-7)
        assert r.mean_response[k] == pytest.approx(ref["W"], rel=1e-7)
        assert r.mean_wait[k] == pytest.approx(ref["Wq"], rel=1e-6)
        assert r.p_idle[k] == pytest.approx(ref["p0"], rel=1e-7)
        assert r.p_wait[k] == pytest.approx(ref["C"], rel=1e-7)  # Jackson arrivals see time averages
        assert r.utilization[k] == pytest.approx(rate / (s.service_rate * s.servers), rel=1e-7)
    np.testing.assert_allclose(r.throughput, lam, rtol=1e-7)
    np.testing.assert_allclose(r.arrival_rate, lam, rtol=1e-7)
    marginals = [
        mmc_pmf(x, s.service_rate, s.servers, r.states[:, k]) for k, (s, x) in enumerate(zip(stations, lam))
    ]
    joint = np.prod(marginals, axis=0)
    np.testing.assert_allclose(r.stationary, joint, atol=1e-9)


def test_jackson_tandem_matches_product_form():
    stations = [MarkovStation(3.0), MarkovStation(1.5, servers=2), MarkovStation(1.0, servers=math.inf)]
    routing = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=float)
    r = solve_open(stations, [1.2, 0, 0], routing)
    _assert_product_form(r, stations, [1.2, 1.2, 1.2])
    assert r.boundary_mass <= 1e-9
    assert r.system_throughput == pytest.approx(1.2, rel=1e-8)
    assert r.system_loss_probability < 1e-8
    assert r.mean_jobs_in_system == pytest.approx(r.mean_in_system.sum())


def test_jackson_network_with_feedback_matches_product_form():
    stations = [MarkovStation(4.0), MarkovStation(1.0, servers=3), MarkovStation(2.0, servers=math.inf)]
    routing = np.array([[0.2, 0.5, 0.1], [0.3, 0.0, 0.3], [0.0, 0.4, 0.0]])
    external = np.array([0.8, 0.4, 0.0])
    lam = np.linalg.solve(np.eye(3) - routing.T, external)  # traffic equations
    r = solve_open(stations, external, routing)
    _assert_product_form(r, stations, lam)
    exits = lam @ (1 - routing.sum(axis=1))
    assert r.system_throughput == pytest.approx(exits, rel=1e-7)
    assert exits == pytest.approx(external.sum())


# --- closed networks -----------------------------------------------------------------------------


def test_closed_network_matches_mva():
    think, cpu, disk1, disk2 = range(4)
    stations = [
        MarkovStation(0.5, servers=math.inf),
        MarkovStation(4.0),
        MarkovStation(2.0),
        MarkovStation(1.5),
    ]
    routing = np.zeros((4, 4))
    routing[think, cpu] = 1.0
    routing[cpu, [think, disk1, disk2]] = [0.3, 0.4, 0.3]
    routing[[disk1, disk2], cpu] = 1.0
    population = 6
    visits = visit_ratios(routing, think)
    rates = np.array([s.service_rate for s in stations])
    delay = np.array([math.isinf(s.servers) for s in stations])
    steps = mva(visits / rates, delay, population)
    ref, previous = steps[population], steps[population - 1]

    r = solve_closed(stations, routing, population, reference=think)
    assert r.n_states == math.comb(population + 3, 3)
    assert r.system_throughput == pytest.approx(ref["X"], rel=1e-9)
    np.testing.assert_allclose(r.throughput, ref["X"] * visits, rtol=1e-9)
    np.testing.assert_allclose(r.mean_in_system, ref["Q"], rtol=1e-9)
    np.testing.assert_allclose(r.mean_response, ref["R"] / visits, rtol=1e-9)
    assert r.mean_jobs_in_system == population
    assert r.mean_in_system.sum() == pytest.approx(population)
    # arrival theorem: an arrival finds a single server busy with probability U(N - 1)
    queues = ~delay
    busy_before = previous["X"] * visits[queues] / rates[queues]
    np.testing.assert_allclose(r.p_wait[queues], busy_before, rtol=1e-9)
    np.testing.assert_allclose(r.loss_probability, 0.0, atol=1e-15)
    assert r.boundary_mass == 0.0


def test_closed_network_ignores_transient_station():
    # station 2 feeds the cycle 0 <-> 1 but is never revisited, so it is empty for sure
    routing = [[0, 1, 0], [1, 0, 0], [1, 0, 0]]
    r = solve_closed([MarkovStation(1.0), MarkovStation(2.0), MarkovStation(1.0)], routing, 3)
    assert r.p_idle[2] == pytest.approx(1.0)
    ref = mva(np.array([1.0, 0.5]), np.array([False, False]), 3)[3]
    assert r.system_throughput == pytest.approx(ref["X"], rel=1e-9)


# --- conservation laws on a non-product-form network with losses --------------------------------


@pytest.fixture(scope="module")
def lossy():
    stations = [
        MarkovStation(2.0, servers=2, capacity=4),
        MarkovStation(1.5, capacity=3),
        MarkovStation(3.0),
    ]
    routing = np.array([[0.1, 0.6, 0.2], [0.2, 0.0, 0.5], [0.3, 0.1, 0.0]])
    external = np.array([2.5, 0.5, 0.3])
    return stations, routing, external, solve_open(stations, external, routing)


def test_flow_balance_with_losses(lossy):
    stations, routing, external, r = lossy
    assert np.all(r.loss_probability[:2] > 1e-3)  # the finite buffers do lose jobs
    np.testing.assert_allclose(r.arrival_rate, external + r.throughput @ routing, rtol=1e-12)
    # jobs in = jobs out at every station: accepted arrivals = completions
    np.testing.assert_allclose(r.arrival_rate * (1 - r.loss_probability), r.throughput, rtol=1e-8)
    # whole network: every external arrival either leaves after service or is lost once
    lost = r.arrival_rate @ r.loss_probability
    assert external.sum() == pytest.approx(r.system_throughput + lost, rel=1e-8)
    assert r.system_loss_probability == pytest.approx(lost / external.sum(), rel=1e-8)


def test_littles_law(lossy):
    stations, _, _, r = lossy
    accepted = r.arrival_rate * (1 - r.loss_probability)
    rates = np.array([s.service_rate for s in stations])
    servers = np.array([s.servers for s in stations])
    # on the servers: busy servers = accepted arrival rate * mean service time
    np.testing.assert_allclose(r.utilization * servers, accepted / rates, rtol=1e-8)
    np.testing.assert_allclose(r.utilization[1:], 1 - r.p_idle[1:], rtol=1e-9)
    for k in range(len(stations)):
        n = np.arange(len(r.marginal(k)))
        mean = r.marginal(k) @ n
        queued = r.marginal(k) @ np.maximum(n - servers[k], 0)
        assert mean == pytest.approx(accepted[k] * r.mean_response[k], rel=1e-8)
        assert queued == pytest.approx(accepted[k] * r.mean_wait[k], rel=1e-8)
    np.testing.assert_allclose(r.mean_response, r.mean_wait + 1 / rates, rtol=1e-9)


# --- truncation ----------------------------------------------------------------------------------


def test_boundary_mass_decreases_with_truncation():
    rho = 0.8
    masses, errors = [], []
    for level in (5, 10, 20, 40, 80):
        r = solve_open([MarkovStation(1.0)], [rho], [[0.0]], truncation=level)
        expected = rho**level * (1 - rho) / (1 - rho ** (level + 1))  # M/M/1/K full probability
        assert r.boundary_mass == pytest.approx(expected, rel=1e-9)
        assert r.truncation == (level,)
        masses.append(r.boundary_mass)
        errors.append(abs(r.mean_in_system[0] - rho / (1 - rho)))
    assert masses == sorted(masses, reverse=True)
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-5


def test_automatic_truncation_meets_tolerance():
    stations = [MarkovStation(1.0), MarkovStation(1.0, servers=2)]
    routing = [[0, 1], [0, 0]]
    masses = []
    for tolerance in (1e-3, 1e-6, 1e-9):
        r = solve_open(stations, [0.7, 0.5], routing, tail_tolerance=tolerance)
        assert 0 < r.boundary_mass <= tolerance
        masses.append(r.boundary_mass)
    assert masses == sorted(masses, reverse=True)


def test_unreached_station_gets_no_levels():
    r = solve_open([MarkovStation(1.0), MarkovStation(1.0)], [0.5, 0.0], [[0, 0], [0, 0]])
    assert r.truncation[1] == 0
    assert r.p_idle[1] == 1.0
    assert math.isnan(r.mean_response[1])


# --- errors --------------------------------------------------------------------------------------


def test_unstable_open_station_raises():
    with pytest.raises(UnstableError, match="station 0") as info:
        solve_open([MarkovStation(1.0)], [2.0], [[0.0]])
    assert info.value.utilization == pytest.approx(2.0)
    with pytest.raises(UnstableError, match="station 1"):  # feedback doubles the load
        solve_open([MarkovStation(5.0), MarkovStation(1.0)], [0.6, 0.0], [[0, 1], [0, 0.5]])
    # a finite buffer makes the same overload solvable
    r = solve_open([MarkovStation(1.0, capacity=5)], [2.0], [[0.0]])
    assert r.loss_probability[0] == pytest.approx(birth_death(2.0, 1.0, 1, 5)[-1], rel=1e-10)


def test_oversize_state_space_is_refused():
    stations = [MarkovStation(1.0)] * 3
    with pytest.raises(UnsupportedError, match=r"8,120,601 states.*simulation"):
        solve_open(stations, [0.5, 0, 0], np.zeros((3, 3)), truncation=200)
    with pytest.raises(UnsupportedError, match="simulation"):  # near-saturated: huge automatic levels
        solve_open(stations, [0.999, 0.999, 0.999], np.zeros((3, 3)))
    cycle = np.roll(np.eye(12), 1, axis=1)
    with pytest.raises(UnsupportedError, match="states"):
        solve_closed([MarkovStation(1.0)] * 12, cycle, 60)
    with pytest.raises(UnsupportedError, match="states"):
        solve_open([MarkovStation(1.0, capacity=9)] * 2, [1, 1], np.zeros((2, 2)), max_states=99)


def test_malformed_input_raises_model_error():
    with pytest.raises(ModelError) as info:
        solve_open([MarkovStation(-1.0, servers=0)], [-1.0], [[0.0]])
    paths = {p.path for p in info.value.problems}
    assert paths == {"stations[0].service_rate", "stations[0].servers", "arrival_rates"}
    with pytest.raises(ModelError, match="never leave"):
        solve_open([MarkovStation(1.0), MarkovStation(1.0)], [1.0, 0.0], [[0, 1], [1, 0]])
    with pytest.raises(ModelError, match=r"routing\[0\]: must sum to 1"):
        solve_closed([MarkovStation(1.0), MarkovStation(1.0)], [[0, 0.5], [1, 0]], 2)
    with pytest.raises(ModelError, match="single closed class"):
        solve_closed([MarkovStation(1.0), MarkovStation(1.0)], [[1, 0], [0, 1]], 2)
    with pytest.raises(UnsupportedError, match="capacity below the population"):
        solve_closed([MarkovStation(1.0, capacity=2), MarkovStation(1.0)], [[0, 1], [1, 0]], 3)


# --- the generic stationary solver ---------------------------------------------------------------


def test_stationary_distribution_direct_and_iterative_agree():
    rng = np.random.default_rng(7)
    size = 400
    cycle = sp.csr_array(np.roll(np.eye(size), 1, axis=1))  # makes the chain irreducible
    rates = sp.csr_array(sp.random_array((size, size), density=0.02, rng=rng) + cycle)
    rates.setdiag(0.0)
    q = rates - sp.diags_array(np.asarray(rates.sum(axis=1)).ravel())
    direct = stationary_distribution(q, method="direct")
    iterative = stationary_distribution(q, method="iterative")
    np.testing.assert_allclose(direct, iterative, rtol=1e-8)
    assert direct.sum() == pytest.approx(1.0)
    assert np.abs(q.T @ direct).max() < 1e-12


def test_stationary_distribution_refuses_two_recurrent_classes():
    q = sp.csr_array(np.array([[-1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(UnsupportedError, match="2 recurrent classes"):
        stationary_distribution(q)
