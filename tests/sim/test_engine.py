"""The simpy engine on networks: Jackson network (c), closed networks against exact MVA,
Little's law, reproducibility, and agreement with the fast path."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel import Model
from qmodel.sim import simulate

from .theory import NETWORK_C, NETWORK_C_RESPONSE, mva, within_ci


@pytest.fixture(scope="module")
def network_c():
    return Model.from_dict(NETWORK_C)


@pytest.fixture(scope="module")
def simpy_c(network_c):
    return simulate(network_c, replications=10, customers=15_000, seed=4, method="simpy")


def test_network_c_end_to_end(simpy_c):
    assert within_ci(simpy_c.system.mean_response_time, NETWORK_C_RESPONSE)


def test_network_c_end_to_end_is_sum_of_visits_times_response(simpy_c):
    # End-to-end response with feedback = sum over stations of visits x per-visit response.
    total = sum(n.visits * n.mean_response for n in simpy_c.nodes.values())
    assert abs(total - simpy_c.system.mean_response_time) < 0.02 * NETWORK_C_RESPONSE
    exact_visits = {"N1": 1.25, "N2": 0.625, "N3": 0.625, "N4": 1.25, "N5": 1.25}
    for name, v in exact_visits.items():
        assert within_ci(simpy_c.node(name).visits, v)


def test_fast_path_is_statistically_identical(network_c, simpy_c):
    fast = simulate(network_c, replications=10, customers=100_000, seed=4, method="fast")
    assert within_ci(fast.system.mean_response_time, NETWORK_C_RESPONSE)
    for name in simpy_c.nodes:
        a, b = simpy_c.node(name).mean_response, fast.node(name).mean_response
        assert a.ci95[0] <= b.ci95[1] and b.ci95[0] <= a.ci95[1], name


def test_fast_and_simpy_draw_the_same_numbers_on_a_single_queue():
    model = Model.from_dict({"nodes": {"q": {"kind": "queue", "service": 0.8}},
                             "arrivals": {"a": {"to": "q", "rate": 1.0}}})
    a = simulate(model, replications=2, customers=3000, seed=9, method="fast")
    b = simulate(model, replications=2, customers=3000, seed=9, method="simpy")
    assert float(a.system.mean_response_time) == pytest.approx(float(b.system.mean_response_time),
                                                               rel=1e-9)


@pytest.mark.parametrize("population, think", [(1, 1.0), (5, 0.5), (20, 1.0)])
def test_closed_network_matches_exact_mva(population, think):
    demands = [0.05, 0.12, 0.15]
    model = Model.from_dict({
        "users": {"u": {"to": "web", "population": population, "think_time": think}},
        "nodes": {"web": {"kind": "queue", "service": demands[0], "next": "app"},
                  "app": {"kind": "queue", "service": demands[1], "next": "db"},
                  "db": {"kind": "queue", "service": demands[2]}}})
    r = simulate(model, replications=10, customers=8_000, seed=population)
    X, R = mva(demands, think, population)
    assert within_ci(r.system.throughput, X)
    assert within_ci(r.system.mean_response_time, R)


def _littles_law(result):
    checked = 0
    for node in result.nodes.values():
        if node.mean_in_system is not None and node.throughput and node.mean_response is not None:
            assert node.mean_in_system == pytest.approx(node.throughput * node.mean_response,
                                                        rel=0.03, abs=1e-3), node.name
            checked += 1
    assert checked, "no node had L, X and R to check"
    s = result.system
    assert s.mean_jobs == pytest.approx(s.throughput * s.mean_response_time, rel=0.03)


def test_littles_law_holds(simpy_c):
    _littles_law(simpy_c)


def test_same_seed_same_numbers_different_seed_different(network_c):
    run = lambda seed: simulate(network_c, replications=2, customers=2_000, seed=seed,  # noqa: E731
                                method="simpy")
    a, b, c = run(1), run(1), run(2)
    assert a.to_dict() == b.to_dict()
    assert float(a.system.mean_response_time) != float(c.system.mean_response_time)
    assert a.seed == 1


def test_unseeded_run_reports_its_seed_and_can_be_repeated(network_c):
    a = simulate(network_c, replications=2, customers=1_000, method="simpy")
    b = simulate(network_c, replications=2, customers=1_000, seed=a.seed, method="simpy")
    assert float(a.system.mean_response_time) == float(b.system.mean_response_time)


def test_common_random_numbers_across_variants():
    # Changing one station's service leaves the arrival stream untouched.
    base = {"nodes": {"a": {"kind": "queue", "service": 0.5, "next": "b"},
                      "b": {"kind": "queue", "service": 0.4}},
            "arrivals": {"x": {"to": "a", "rate": 1.0}}}
    faster = {**base, "nodes": {**base["nodes"], "b": {"kind": "queue", "service": 0.2}}}
    run = dict(replications=4, horizon=4_000, warmup=0, seed=5, method="simpy")
    r1 = simulate(Model.from_dict(base), **run)
    r2 = simulate(Model.from_dict(faster), **run)
    assert float(r1.node("a").mean_response) == pytest.approx(float(r2.node("a").mean_response))
    diffs = np.array([float(r1.node("b").mean_response), float(r2.node("b").mean_response)])
    assert diffs[0] > diffs[1]


def test_lossy_network_with_feedback_matches_the_ctmc_solver():
    from qmodel import solve
    from qmodel.sim import compare

    model = Model.from_dict({
        "arrivals": {"a": {"to": "q1", "rate": 1.0}},
        "nodes": {"q1": {"kind": "queue", "service": 0.6, "capacity": 3, "next": {"q2": 0.7}},
                  "q2": {"kind": "queue", "servers": 2, "service": 1.2, "capacity": 3,
                         "next": {"q1": 0.2}}}})
    table = compare(solve(model, method="ctmc"),
                    simulate(model, replications=10, customers=20_000, seed=1), tolerance=0.02)
    nodes = table[table.node != "system"]
    assert len(nodes) == 12 and nodes["agrees"].all(), nodes
