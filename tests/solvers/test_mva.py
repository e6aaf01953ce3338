"""Tests of qmodel.solvers.mva: textbook values, an independent CTMC, laws and bounds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmodel.errors import ModelError, UnstableError, UnsupportedError
from qmodel.solvers.mva import bounds, mixed_mva, mva, schweitzer_amva
from qmodel.solvers.mva_approx import SCHWEITZER, SEIDMANN
from qmodel.solvers.mva_exact import EXACT, MAX_LATTICE

# Jain, "The Art of Computer Systems Performance Analysis" (Wiley 1991), Example 34.2:
# a timesharing system with CPU (S = 0.125 s, V = 16), disk A (0.3 s, 10 visits) and
# disk B (0.2 s, 5 visits), think time Z = 4 s.
JAIN_VISITS = np.array([16.0, 10.0, 5.0])
JAIN_DEMANDS = np.array([0.125, 0.3, 0.2]) * JAIN_VISITS
JAIN_KINDS = ["queue"] * 3
JAIN_THINK = 4.0


# --- an independent reference: the CTMC of a closed network, built here ----------------


def ctmc_closed(rates, routing, kinds, populations, servers=None):
    """Exact throughputs (C,) and queue lengths (C, K) of a closed multi-class network.

    ``rates[c, k]`` is class c's service rate at station k; ``routing[c]`` its (K, K)
    routing matrix; ``kinds[k]`` is "ps" (processor sharing over ``servers[k]`` servers)
    or "is" (infinite server). Throughputs count completions at station 0. States are
    all placements of each class's jobs; the generator is solved densely.
    """
    rates = np.asarray(rates, dtype=float)
    n_classes, n_stations = rates.shape
    servers = np.ones(n_stations) if servers is None else np.asarray(servers, dtype=float)
    per_class = [
        [np.array(p) for p in itertools.product(range(n + 1), repeat=n_stations) if sum(p) == n]
        for n in populations
    ]
    states = [np.array(s) for s in itertools.product(*per_class)]
    index = {s.tobytes(): i for i, s in enumerate(states)}
    generator = np.zeros((len(states), len(states)))
    completions = np.zeros((len(states), n_classes))
    for i, s in enumerate(states):
        total = s.sum(0)
        for c, k in zip(*np.nonzero(s)):
            if kinds[k] == "is":
                rate = rates[c, k] * s[c, k]
            else:
                rate = rates[c, k] * s[c, k] / total[k] * min(total[k], servers[k])
            if k == 0:
                completions[i, c] = rate
            for j in np.flatnonzero(routing[c][k]):
                t = s.copy()
                t[c, k] -= 1
                t[c, j] += 1
                generator[i, index[t.tobytes()]] += rate * routing[c][k][j]
    generator -= np.diag(generator.sum(1))
    system = generator.T.copy()
    system[-1] = 1.0
    rhs = np.zeros(len(states))
    rhs[-1] = 1.0
    pi = np.linalg.solve(system, rhs)
    return pi @ completions, np.einsum("s,sck->ck", pi, np.array(states))


def visits(routing):
    """Visit ratios relative to station 0 of each class's routing matrix."""
    out = []
    for p in routing:
        k = len(p)
        a = np.eye(k) - np.asarray(p).T
        a[0] = np.eye(k)[0]
        out.append(np.linalg.solve(a, np.eye(k)[0]))
    return np.array(out)


CENTRAL = np.array(  # central-server routing: CPU -> disks -> CPU, CPU -> terminals
    [[0.0, 0.5, 0.3, 0.2], [1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
)


# --- textbook values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "response", "throughput"),
    # Jain 1991, Table 34.1 (MVA results for Example 34.2), system columns.
    [(1, 6.000, 0.100), (2, 7.400, 0.175), (3, 9.088, 0.229), (4, 11.051, 0.266),
     (5, 13.256, 0.290), (17, 47.045, 0.333), (20, 56.016, 0.333)],
)
def test_jain_timesharing_system(n, response, throughput):
    r = mva(JAIN_DEMANDS, JAIN_KINDS, n, JAIN_THINK)
    assert r.response_time[0] == pytest.approx(response, abs=6e-4)
    assert r.throughput[0] == pytest.approx(throughput, abs=6e-4)
    assert r.method == EXACT


def test_jain_table_34_1_station_values_at_20_users():
    r = mva(JAIN_DEMANDS, JAIN_KINDS, 20, JAIN_THINK)
    # Jain Table 34.1, N = 20: per-visit response times and queue lengths.
    per_visit = r.station_response[0] / JAIN_VISITS
    np.testing.assert_allclose(per_visit, [0.373, 4.854, 0.300], atol=6e-4)
    np.testing.assert_allclose(r.queue_length[0], [1.991, 16.177, 0.500], atol=6e-4)


def test_jain_convolution_example():
    # Jain 1991, Example 35.5 (solved there by convolution): demands 0.78, 2.34, 1.56 s,
    # Z = 4.68 s, N = 3 gives X = 0.264/s, R = 6.694 s, utilizations 0.206, 0.618, 0.412
    # and a mean queue of 0.97 at disk A.
    r = mva([0.78, 2.34, 1.56], JAIN_KINDS, 3, 4.68)
    assert r.throughput[0] == pytest.approx(0.264, abs=6e-4)
    assert r.response_time[0] == pytest.approx(6.694, abs=6e-4)
    np.testing.assert_allclose(r.utilization, [0.206, 0.618, 0.412], atol=1e-3)
    assert r.queue_length[0, 1] == pytest.approx(0.97, abs=6e-3)


def test_two_balanced_queues_closed_form():
    # N jobs on K balanced queues: X = N / ((N + K - 1) D) (Lazowska et al. 1984, sec. 5.4,
    # the balanced system behind the balanced job bounds).
    for n in (1, 7, 100):
        r = mva([0.5] * 4, ["queue"] * 4, n)
        assert r.throughput[0] == pytest.approx(n / ((n + 3) * 0.5), rel=1e-12)


# --- against the CTMC ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_single_class_matches_ctmc(n):
    rates = np.array([[10.0, 4.0, 2.5, 0.2]])
    kinds = ["ps", "ps", "ps", "is"]
    x, q = ctmc_closed(rates, [CENTRAL], kinds, [n])
    demands = visits([CENTRAL]) / rates
    r = mva(demands, ["queue", "queue", "queue", "delay"], n)
    np.testing.assert_allclose(r.throughput, x, rtol=1e-9)
    np.testing.assert_allclose(r.queue_length, q, rtol=1e-9, atol=1e-12)


def test_think_time_equals_a_delay_station():
    rates = np.array([[10.0, 4.0, 2.5, 0.2]])
    demands = visits([CENTRAL]) / rates
    x, q = ctmc_closed(rates, [CENTRAL], ["ps", "ps", "ps", "is"], [6])
    r = mva(demands[:, :3], ["queue"] * 3, 6, think_times=demands[0, 3])
    np.testing.assert_allclose(r.throughput, x, rtol=1e-9)
    np.testing.assert_allclose(r.queue_length, q[:, :3], rtol=1e-9)
    np.testing.assert_allclose(r.cycle_time, r.response_time + demands[0, 3])


@pytest.mark.parametrize(
    ("n", "counts"),
    [(1, [1, 3, 1, 1]), (4, [1, 3, 1, 1]), (10, [1, 3, 1, 1]), (10, [1, 2, 1, 1]),
     (9, [1, 8, 1, 1]), (8, [2, 3, 1, 1]), (10, [3, 2, 2, 1])],
)
def test_multi_server_matches_ctmc(n, counts):
    rates = np.array([[10.0, 1.0, 2.5, 0.5]])  # the 1/s disk is the bottleneck
    kinds = ["ps", "ps", "ps", "is"]
    x, q = ctmc_closed(rates, [CENTRAL], kinds, [n], counts)
    demands = visits([CENTRAL]) / rates
    r = mva(demands, ["queue", "queue", "queue", "delay"], n, servers=counts)
    assert r.method == EXACT
    np.testing.assert_allclose(r.throughput, x, rtol=1e-9)
    np.testing.assert_allclose(r.queue_length, q, rtol=1e-9, atol=1e-12)


def test_multi_server_at_high_load_matches_ctmc():
    # 30 jobs, no think time, the 8-server station saturated: the textbook recursion
    # p(0|n) = 1 - sum_j p(j|n) loses every digit here.
    rates = np.array([[40.0, 0.5, 20.0]])
    routing = np.roll(np.eye(3), 1, axis=1)  # a cycle 0 -> 1 -> 2 -> 0
    kinds = ["ps", "ps", "ps"]
    x, q = ctmc_closed(rates, [routing], kinds, [30], [1, 8, 1])
    r = mva(1 / rates, ["queue"] * 3, 30, servers=[1, 8, 1])
    np.testing.assert_allclose(r.throughput, x, rtol=1e-9)
    np.testing.assert_allclose(r.queue_length, q, rtol=1e-9)


@pytest.mark.parametrize("populations", [(1, 1), (3, 2), (4, 3), (0, 3)])
def test_two_classes_match_ctmc(populations):
    rates = np.array([[10.0, 4.0, 2.5, 0.2], [5.0, 8.0, 1.0, 0.5]])
    routing = [CENTRAL, np.roll(np.eye(4), 1, axis=1)]
    kinds = ["ps", "ps", "ps", "is"]
    active = [c for c, n in enumerate(populations) if n]
    x, q = ctmc_closed(rates[active], [routing[c] for c in active], kinds,
                       [populations[c] for c in active])
    demands = visits(routing) / rates
    r = mva(demands, ["queue", "queue", "queue", "delay"], populations)
    assert r.method == EXACT
    np.testing.assert_allclose(r.throughput[active], x, rtol=1e-9)
    np.testing.assert_allclose(r.queue_length[active], q, rtol=1e-9, atol=1e-12)
    idle = [c for c, n in enumerate(populations) if not n]
    assert not r.throughput[idle].any() and not r.queue_length[idle].any()


def test_two_classes_with_multi_server_use_seidmann():
    # Multi-server PS with class-dependent rates is product form, so the CTMC is exact;
    # Seidmann's approximation is typically within a few percent.
    rates = np.array([[10.0, 1.0, 2.5, 0.5], [5.0, 2.0, 1.0, 0.5]])
    routing = [CENTRAL, CENTRAL]
    counts = [1, 3, 1, 1]
    x, q = ctmc_closed(rates, routing, ["ps", "ps", "ps", "is"], [4, 3], counts)
    demands = visits(routing) / rates
    r = mva(demands, ["queue", "queue", "queue", "delay"], [4, 3], servers=counts)
    assert r.method == SEIDMANN
    np.testing.assert_allclose(r.throughput, x, rtol=0.05)
    np.testing.assert_allclose(r.queue_length.sum(0), q.sum(0), rtol=0.1, atol=0.05)


# --- laws, bounds and numerical stability ---------------------------------------------------


def check_laws(r, demands, populations, think, servers=None, kinds=None, tol=1e-9):
    """Little's law, the utilization law, U <= 1 at queues and R_ck >= D_ck, to ``tol``."""
    demands = np.atleast_2d(demands)
    populations = np.atleast_1d(populations)
    # Little's law for the whole cycle and for every station.
    np.testing.assert_allclose(r.throughput * r.cycle_time, populations, rtol=tol, atol=1e-12)
    np.testing.assert_allclose(r.queue_length, r.throughput[:, None] * r.station_response,
                               rtol=tol, atol=1e-12)
    np.testing.assert_allclose(r.response_time, r.station_response.sum(1), rtol=1e-12)
    # Utilization law, per server.
    servers = np.ones(demands.shape[1]) if servers is None else np.asarray(servers)
    if kinds is not None:
        servers = np.where(np.asarray(kinds) == "delay", 1, servers)
    np.testing.assert_allclose(r.utilization, r.throughput @ demands / servers, rtol=tol)
    queue = np.ones(demands.shape[1], bool) if kinds is None else np.asarray(kinds) == "queue"
    assert np.all(r.utilization[queue] <= 1 + tol)
    assert np.all(r.station_response >= demands * (populations > 0)[:, None] * (1 - tol))


def test_laws_hold_for_jain_system():
    for n in (1, 5, 50):
        r = mva(JAIN_DEMANDS, JAIN_KINDS, n, JAIN_THINK)
        check_laws(r, JAIN_DEMANDS, n, JAIN_THINK)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 30, 100, 1000])
def test_bounds_bracket_exact_mva(n):
    demands = [2.0, 3.0, 1.0, 0.5]
    kinds = ["queue", "queue", "queue", "delay"]
    for think in (0.0, 4.0, 100.0):
        r = mva(demands, kinds, n, think)
        b = bounds(demands, kinds, n, think)
        assert b.x_lower * (1 - 1e-12) <= r.throughput[0] <= b.x_upper * (1 + 1e-12)
        assert b.r_lower * (1 - 1e-12) <= r.response_time[0] <= b.r_upper * (1 + 1e-12)


def test_bounds_values():
    # Jain's system (Example 34.2): D = 6, D_max = 3, D_avg = 2, Z = 4, so the knee is at
    # N* = (D + Z) / D_max = 10/3 and X <= 1/3 beyond it.
    b = bounds(JAIN_DEMANDS, JAIN_KINDS, 20, JAIN_THINK)
    assert b.n_star == pytest.approx(10 / 3)
    assert b.x_upper == pytest.approx(1 / 3)
    assert b.r_lower == pytest.approx(20 * 3 - 4)
    # Balanced job bounds (Zahorjan et al. 1982): X(1) = 1 / (D + Z) exactly.
    b1 = bounds(JAIN_DEMANDS, JAIN_KINDS, 1, JAIN_THINK)
    assert b1.x_lower == pytest.approx(0.1) and b1.x_upper == pytest.approx(0.1)
    # A balanced network meets the balanced job bounds: X = N / (D + (N - 1) D_avg).
    balanced = bounds([1.0, 1.0], ["queue", "queue"], 5)
    assert balanced.x_upper == pytest.approx(5 / 6)


def test_bounds_degenerate_cases():
    empty = bounds([1.0, 2.0], ["queue", "queue"], 0)
    assert (empty.x_lower, empty.x_upper, empty.r_lower, empty.r_upper) == (0, 0, 0, 0)
    b = bounds([1.0, 2.0], ["delay", "delay"], 4, 1.0)
    assert (b.x_lower, b.x_upper, b.r_lower, b.r_upper) == (1.0, 1.0, 3.0, 3.0)
    assert b.n_star == np.inf
    with pytest.raises(ModelError, match="one class"):
        bounds([[1.0], [2.0]], ["queue"], 1)


def test_large_network_stays_finite_and_bounded():
    rng = np.random.default_rng(7)
    demands = rng.uniform(0.01, 1.0, 50)
    r = mva(demands, ["queue"] * 50, 1000, 5.0)
    b = bounds(demands, ["queue"] * 50, 1000, 5.0)
    assert np.all(np.isfinite(r.queue_length))
    assert b.x_lower <= r.throughput[0] <= b.x_upper <= 1 / demands.max()
    assert r.utilization.max() > 0.99
    check_laws(r, demands, 1000, 5.0)


def test_multi_server_high_load_is_stable_and_near_seidmann():
    demands = np.array([0.05, 4.0, 0.2, 1.0])
    kinds = ["queue", "queue", "queue", "delay"]
    servers = [1, 8, 1, 1]
    r = mva(demands, kinds, 200, servers=servers)
    check_laws(r, demands, 200, 0.0, servers, kinds)
    assert r.utilization[1] == pytest.approx(1.0, abs=1e-9)  # saturated: X = 8 / 4
    # Seidmann: the 8-server station as a queue with D/8 plus a delay with 7D/8.
    seidmann = mva(np.append(demands * [1, 1 / 8, 1, 1], 4.0 * 7 / 8), kinds + ["delay"], 200)
    assert r.throughput[0] == pytest.approx(seidmann.throughput[0], rel=0.02)
    assert np.all(r.utilization >= 0) and np.all(r.utilization[:3] <= 1 + 1e-12)
    # At moderate load, too (about 1.5 of the 8 servers busy in the exact solution).
    moderate = mva(demands, kinds, 3, servers=servers)
    split = mva(np.append(demands * [1, 1 / 8, 1, 1], 3.5), kinds + ["delay"], 3)
    assert moderate.throughput[0] == pytest.approx(split.throughput[0], rel=0.1)


def test_roomy_multi_server_is_a_delay():
    demands = [[1.0, 2.0], [0.5, 1.0]]
    r = mva(demands, ["queue", "queue"], [3, 2], servers=[1, 5])
    d = mva(demands, ["queue", "delay"], [3, 2])
    assert r.method == EXACT
    np.testing.assert_allclose(r.throughput, d.throughput, rtol=1e-12)
    assert r.utilization[1] == pytest.approx(d.utilization[1] / 5)


# --- Bard-Schweitzer ---------------------------------------------------------------------


def test_schweitzer_close_to_exact_at_moderate_population():
    for n in (2, 5, 20, 60):
        exact = mva(JAIN_DEMANDS, JAIN_KINDS, n, JAIN_THINK)
        approx = schweitzer_amva(JAIN_DEMANDS, JAIN_KINDS, n, JAIN_THINK)
        assert approx.method == SCHWEITZER
        # Errors peak near the knee N* = 3.3 at about 4% (throughput) and 5% (response).
        assert approx.throughput[0] == pytest.approx(exact.throughput[0], rel=0.05)
        assert approx.response_time[0] == pytest.approx(exact.response_time[0], rel=0.06)
        check_laws(approx, JAIN_DEMANDS, n, JAIN_THINK)


def test_schweitzer_two_classes_close_to_exact():
    demands = np.array([[0.1, 0.4, 0.2], [0.3, 0.1, 0.5]])
    kinds = ["queue", "queue", "delay"]
    exact = mva(demands, kinds, [8, 6], [1.0, 2.0])
    approx = schweitzer_amva(demands, kinds, [8, 6], [1.0, 2.0])
    np.testing.assert_allclose(approx.throughput, exact.throughput, rtol=0.08)
    check_laws(approx, demands, [8, 6], [1.0, 2.0], kinds=kinds)


def test_schweitzer_exact_for_one_job():
    # With one job there is nobody to queue behind: R = D, X = 1 / (D + Z).
    r = schweitzer_amva(JAIN_DEMANDS, JAIN_KINDS, 1, JAIN_THINK)
    assert r.throughput[0] == pytest.approx(0.1, rel=1e-10)


@pytest.mark.parametrize("n", [10**3, 10**5, 10**7])
def test_schweitzer_reaches_the_asymptotes(n):
    r = schweitzer_amva(JAIN_DEMANDS, JAIN_KINDS, n, JAIN_THINK)
    assert r.throughput[0] == pytest.approx(1 / 3, rel=10 / n)
    assert r.response_time[0] == pytest.approx(n * 3 - JAIN_THINK, rel=10 / n)
    check_laws(r, JAIN_DEMANDS, n, JAIN_THINK, tol=1e-14 * n)


def test_schweitzer_large_balanced_multi_class():
    # Balanced bottlenecks make plain successive substitution crawl (rate 1 - O(1/N)).
    demands = np.array([[1.0, 1.0, 0.5], [2.0, 2.0, 0.1]])
    r = schweitzer_amva(demands, ["queue"] * 3, [10**5, 10**5], [0.0, 3.0])
    assert r.utilization[:2] == pytest.approx([1.0, 1.0], abs=1e-4)
    check_laws(r, demands, [10**5, 10**5], [0.0, 3.0])


def test_schweitzer_with_multi_server_uses_seidmann():
    r = schweitzer_amva([0.1, 4.0], ["queue", "queue"], 100, servers=[1, 8])
    assert r.method == "approximation(Bard-Schweitzer+Seidmann)"
    assert r.throughput[0] == pytest.approx(2.0, rel=1e-3)
    assert r.utilization[1] == pytest.approx(1.0, rel=1e-3)


# --- mixed networks ------------------------------------------------------------------------


def ctmc_mixed(rate_open, open_rates, closed_rates, population, truncation):
    """Two PS stations in tandem: an open Poisson stream through 0 then 1, and a closed
    class cycling 0 -> 1 -> 0; open jobs beyond ``truncation`` are not admitted."""
    states = [(c0, o0, o1) for c0 in range(population + 1)
              for o0 in range(truncation + 1) for o1 in range(truncation + 1 - o0)]
    index = {s: i for i, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    for i, (c0, o0, o1) in enumerate(states):
        c1 = population - c0
        n0, n1 = c0 + o0, c1 + o1
        moves = [((c0, o0 + 1, o1), rate_open)]
        if n0:
            moves += [((c0 - 1, o0, o1), closed_rates[0] * c0 / n0),
                      ((c0, o0 - 1, o1 + 1), open_rates[0] * o0 / n0)]
        if n1:
            moves += [((c0 + 1, o0, o1), closed_rates[1] * c1 / n1),
                      ((c0, o0, o1 - 1), open_rates[1] * o1 / n1)]
        for target, rate in moves:
            if target in index and rate:
                q[i, index[target]] += rate
    q -= np.diag(q.sum(1))
    system = q.T.copy()
    system[-1] = 1.0
    rhs = np.zeros(len(states))
    rhs[-1] = 1.0
    pi = np.linalg.solve(system, rhs)
    s = np.array(states, dtype=float)
    closed_x = pi @ (closed_rates[0] * s[:, 0] / np.maximum(s[:, 0] + s[:, 1], 1))
    return closed_x, pi @ s[:, 1], pi @ s[:, 2]


def test_mixed_matches_truncated_ctmc():
    # Open utilizations 0.2 and 0.13: fewer than 1e-14 of the time are 28 open jobs in.
    lam, open_rates, closed_rates, population = 0.2, (1.0, 1.5), (2.0, 3.0), 3
    closed_x, open_q0, open_q1 = ctmc_mixed(lam, open_rates, closed_rates, population, 28)
    r = mixed_mva([lam], 1 / np.array(open_rates), 1 / np.array(closed_rates),
                  ["queue", "queue"], population)
    assert r.method == EXACT
    assert r.closed.throughput[0] == pytest.approx(closed_x, rel=1e-9)
    np.testing.assert_allclose(r.open_queue_length[0], [open_q0, open_q1], rtol=1e-9)
    np.testing.assert_allclose(r.open_response_time, r.open_queue_length.sum(1) / lam)
    u_open = lam / np.array(open_rates)
    np.testing.assert_allclose(r.utilization, r.closed.utilization + u_open)


def test_mixed_without_closed_jobs_is_an_open_network():
    r = mixed_mva([0.5, 0.2], [[1.0, 0.4], [2.0, 0.0]], [1.0, 1.0], ["queue", "delay"], 0)
    u = 0.5 * 1.0 + 0.2 * 2.0
    expected = [[1.0 / (1 - u), 0.4], [2.0 / (1 - u), 0.0]]
    np.testing.assert_allclose(r.open_station_response, expected)
    assert not r.closed.throughput.any()


def test_mixed_with_multi_server_uses_seidmann():
    r = mixed_mva([1.0], [[0.1, 3.0]], [[0.2, 1.0]], ["queue", "queue"], 5, servers=[1, 4])
    assert r.method == SEIDMANN
    assert r.utilization[1] == pytest.approx(0.75 + r.closed.throughput[0] * 1.0 / 4)
    check_laws(r.closed, [[0.2, 1.0]], 5, 0.0, servers=[1, 4])


def test_mixed_saturated_by_open_load():
    with pytest.raises(UnstableError, match="station 1") as info:
        mixed_mva([2.0], [[0.1, 0.6]], [[1.0, 1.0]], ["queue", "queue"], 2)
    assert info.value.utilization == pytest.approx(1.2)
    with pytest.raises(UnstableError, match="station 0"):
        mixed_mva([4.0], [[1.0]], [[1.0]], ["queue"], 1, servers=[4])


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "path"),
    [
        (([1.0, -1.0], ["queue", "queue"], 1), {}, "demands"),
        (([1.0, np.nan], ["queue", "queue"], 1), {}, "demands"),
        (([1.0, 1.0], ["queue"], 1), {}, "kinds"),
        (([1.0, 1.0], ["queue", "fcfs"], 1), {}, "kinds[1]"),
        (([1.0], ["queue"], 1.5), {}, "populations[0]"),
        (([1.0], ["queue"], -1), {}, "populations"),
        (([[1.0], [1.0]], ["queue"], [1, 2, 3]), {}, "populations"),
        (([1.0], ["queue"], 1), {"servers": [0]}, "servers[0]"),
        (([1.0], ["queue"], 1), {"think_times": -2.0}, "think_times"),
        (([0.0], ["queue"], 1), {}, "demands[0]"),
        (([[]], [], 1), {}, "demands"),
    ],
)
def test_malformed_inputs(args, kwargs, path):
    for solver in (mva, schweitzer_amva):
        with pytest.raises(ModelError) as info:
            solver(*args, **kwargs)
        assert path in [p.path for p in info.value.problems]


def test_huge_lattice_is_unsupported():
    populations = [200, 200, 200]
    with pytest.raises(UnsupportedError, match="schweitzer_amva") as info:
        mva(np.ones((3, 2)), ["queue"] * 2, populations)
    assert f"{201**3:,}" in str(info.value) and 201**3 > MAX_LATTICE
    assert schweitzer_amva(np.ones((3, 2)), ["queue"] * 2, populations).method == SCHWEITZER


def test_results_are_read_only():
    r = mva([1.0], ["queue"], 2)
    with pytest.raises(ValueError):
        r.throughput[0] = 3.0


# --- property test ---------------------------------------------------------------------------


@st.composite
def networks(draw):
    n_classes = draw(st.integers(1, 3))
    n_stations = draw(st.integers(1, 4))
    demand = st.one_of(st.just(0.0), st.floats(1e-3, 1e3))
    demands = np.array(draw(st.lists(st.lists(demand, min_size=n_stations, max_size=n_stations),
                                     min_size=n_classes, max_size=n_classes)))
    kinds = draw(st.lists(st.sampled_from(["queue", "delay"]), min_size=n_stations,
                          max_size=n_stations))
    top = {1: 300, 2: 25, 3: 8}[n_classes]
    populations = draw(st.lists(st.integers(0, top), min_size=n_classes, max_size=n_classes))
    think = draw(st.lists(demand, min_size=n_classes, max_size=n_classes))
    servers = draw(st.lists(st.integers(1, 4), min_size=n_stations, max_size=n_stations))
    return demands, kinds, populations, think, servers


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_property_laws_and_bounds(network):
    demands, kinds, populations, think, servers = network
    for solver in (mva, schweitzer_amva):
        try:
            r = solver(demands, kinds, populations, think, servers)
        except ModelError as error:  # documented: a class with jobs but nothing to do
            idle = (demands.sum(1) + think == 0) & (np.array(populations) > 0)
            assert idle.any() and all("positive demand" in p.message for p in error.problems)
            return
        check_laws(r, demands, populations, think, servers, kinds)
    if len(populations) == 1 and max(servers) == 1:
        exact = mva(demands, kinds, populations, think)
        b = bounds(demands[0], kinds, populations[0], think[0])
        assert b.x_lower * (1 - 1e-9) <= exact.throughput[0] <= b.x_upper * (1 + 1e-9)
        assert b.r_lower * (1 - 1e-9) - 1e-12 <= exact.response_time[0]
        assert exact.response_time[0] <= b.r_upper * (1 + 1e-9) + 1e-12
