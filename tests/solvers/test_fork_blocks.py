"""Fork blocks of an open network (qmodel.solvers.fork_blocks): symmetric forks of
single-server queues get the fork-join means of the literature (Flatto-Hahn,
Nelson-Tantawi, Varma-Makowski), checked against their formulas and the simulator;
other forks keep the independent-branch maximum; every label names the method used."""

from __future__ import annotations

import math

import pytest
from scipy.integrate import quad
from scipy.optimize import brentq

import qmodel
from qmodel.solvers.forkjoin import INDEPENDENT_METHOD, nelson_tantawi
from qmodel.solvers.open_network import poisson_stations, solve_open


def fork(services: list, rate: float = 0.5, **arrival) -> qmodel.Model:
    """A fork to one queue per service, each straight to the join."""
    nodes = {"split": {"kind": "fork", "branches": [f"b{i}" for i in range(len(services))],
                       "join": "merge"},
             "merge": {"kind": "join"}}
    for i, service in enumerate(services):
        nodes[f"b{i}"] = {"kind": "queue", "service": service, "next": "merge"}
    return qmodel.Model.from_dict(
        {"nodes": nodes, "arrivals": {"jobs": {"to": "split", "rate": rate, **arrival}}})


def test_two_way_is_flatto_hahn_and_exact_throughout():
    r = qmodel.solve(fork([1.0, 1.0]))
    assert float(r.system.mean_response_time) == pytest.approx((12 - 0.5) / 8 / 0.5, rel=1e-12)
    assert r.system.method == "exact"
    assert r.node("b0").method == "exact"  # its arrivals are the fork's Poisson stream
    assert r.node("merge").method == "exact"
    # percentiles: the law of independent branches (an upper bound), said so
    assert r.system.percentile(0.95).method == INDEPENDENT_METHOD


def test_k_way_exponential_is_nelson_tantawi_and_within_the_simulation():
    model = fork([1.0] * 4)
    r = qmodel.solve(model)
    mean = float(r.system.mean_response_time)
    assert mean == pytest.approx(nelson_tantawi(4, 0.5, 1.0), rel=1e-12)
    assert r.system.method == "approximation(Nelson-Tantawi)"
    sim = qmodel.simulate(model, replications=5, customers=4_000, seed=2)
    low, high = sim.system.mean_response_time.ci95
    assert low <= mean <= high
    assert (25 / 12) / 0.5 > high  # the independent bound H_4 / (mu - lam) lies above it


def test_general_service_is_varma_makowski():
    model = fork([{"dist": "deterministic", "value": 1.0}] * 4)
    r = qmodel.solve(model)
    # identical deterministic branches move together: the M/D/1 mean, 1 + 0.5 / (2 * 0.5)
    assert float(r.system.mean_response_time) == pytest.approx(1.5, rel=1e-9)
    assert r.system.method == "approximation(Varma-Makowski)"
    sim = qmodel.simulate(model, replications=4, customers=4_000, seed=4)
    low, high = sim.system.mean_response_time.ci95
    assert low <= float(r.system.mean_response_time) <= high


@pytest.mark.parametrize("services, arrival", [
    ([1.0, 0.5], {}),                                         # unlike branches
    ([{"mean": 1.0, "cv": 2.0}] * 3, {}),                      # more variable than exponential
])
def test_other_forks_keep_the_independent_maximum(services, arrival):
    r = qmodel.solve(fork(services, **arrival))
    assert r.node("merge").method == INDEPENDENT_METHOD
    assert r.system.method == INDEPENDENT_METHOD


def test_non_poisson_arrivals_take_varma_makowski():
    model = fork([1.0] * 3, interarrival={"dist": "gamma", "cv": 0.5})
    r = qmodel.solve(model)
    assert r.node("merge").method == "approximation(Varma-Makowski)"
    assert r.system.method == "approximation(Varma-Makowski, QNA)"  # QNA: the queues


def test_a_branch_with_other_traffic_is_not_symmetric():
    nodes = {"split": {"kind": "fork", "branches": ["a", "b"], "join": "merge"},
             "a": {"kind": "queue", "service": 1.0, "next": "merge"},
             "b": {"kind": "queue", "service": 1.0, "next": "merge"},
             "merge": {"kind": "join"}}
    sol = solve_open(qmodel.Model.from_dict(
        {"nodes": {**nodes, "other": {"kind": "delay", "service": 1.0, "next": "a"}},
         "arrivals": {"jobs": {"to": "split", "rate": 0.3},
                      "side": {"to": "other", "rate": 0.2}}}).network)
    join = sol.stations[sol.network.index["merge"]]
    assert join.method == INDEPENDENT_METHOD


def test_poisson_stations():
    spec = {"nodes": {"split": {"kind": "fork", "branches": ["a", "b"], "join": "merge"},
                      "a": {"kind": "queue", "service": 1.0, "next": "c"},
                      "b": {"kind": "queue", "service": {"mean": 1.0, "cv": 0.5},
                            "next": "d"},
                      "c": {"kind": "queue", "service": 0.5, "next": "merge"},  # Burke
                      "d": {"kind": "queue", "service": 0.5, "next": "merge"},  # after M/G/1
                      "merge": {"kind": "join", "next": {"e": 0.5}},
                      "e": {"kind": "queue", "service": 0.1, "next": {"e": 0.1}}},  # loop
            "arrivals": {"jobs": {"to": "split", "rate": 0.5}}}
    net = qmodel.Model.from_dict(spec).network
    sol = solve_open(net)
    found = {net.stations[i].name for i in poisson_stations(net, sol.lam)}
    assert found == {"split", "a", "b", "c"}
    assert sol.stations[net.index["c"]].method == "exact"
    assert sol.stations[net.index["d"]].method.startswith("approximation(QNA")


# -- the branches' actual laws -----------------------------------------------------------


def replicas(n: int, quorum: int, last: dict) -> qmodel.Model:
    """A read to ``n`` replicas, each a fixed 1 ms then ``last``; back with ``quorum``."""
    nodes = {"read": {"kind": "fork", "branches": [f"fix{i}" for i in range(n)],
                      "join": "done"},
             "done": {"kind": "join", "quorum": quorum}}
    for i in range(n):
        nodes[f"fix{i}"] = {"kind": "delay", "next": f"tail{i}",
                            "service": {"dist": "deterministic", "value": "1ms"}}
        nodes[f"tail{i}"] = {**last, "next": "done"}
    return qmodel.Model.from_dict({"nodes": nodes,
                                   "arrivals": {"reads": {"to": "read", "rate": 100.0}}})


def test_the_fastest_of_five_replicas_keeps_the_fixed_floor():
    # 1 ms + Exp(mean 2 ms) per replica: the fastest of 5 is 1 ms + Exp(mean 0.4 ms)
    r = qmodel.solve(replicas(5, 1, {"kind": "delay", "service": "2ms"}))
    assert r.system.method == "exact"
    assert float(r.system.mean_response_time) == pytest.approx(0.0014, rel=1e-9)
    for p in (0.01, 0.5, 0.95, 0.99):
        exact = 0.001 - math.log(1 - p) * 0.0004
        assert float(r.system.percentile(p)) == pytest.approx(exact, rel=1e-6)
        assert r.system.percentile(p).method == "exact"
    # the 3rd of 5: 1 ms + the 3rd order statistic of Exp(2 ms) (Renyi: sum of gaps)
    third = qmodel.solve(replicas(5, 3, {"kind": "delay", "service": "2ms"}))
    assert float(third.system.mean_response_time) == \
        pytest.approx(0.001 + 0.002 * (1 / 5 + 1 / 4 + 1 / 3), rel=1e-9)


def test_replicas_that_queue_keep_the_floor_too():
    # M/M/1 replicas (rho = 0.2): independent branches, but never below the 1 ms
    r = qmodel.solve(replicas(5, 1, {"kind": "queue", "service": "2ms"}))
    assert r.system.method == INDEPENDENT_METHOD
    assert 0.001 < float(r.system.percentile(0.01)) < 0.00101
    # the fastest of 5 M/M/1 responses, Exp(theta = 500 - 100): 1 ms + Exp(5 theta)
    assert float(r.system.mean_response_time) == pytest.approx(0.001 + 1 / 2000, rel=1e-6)


def barrier(n: int, rate: float = 0.01) -> qmodel.Model:
    """``n`` tasks on unlimited slots, each 1 s, but 20 s for one task in 100."""
    task = {"dist": "hyperexponential", "probs": [0.99, 0.01], "means": [1.0, 20.0]}
    return qmodel.Model.from_dict({
        "nodes": {"f": {"kind": "fork", "tasks": n, "slots": "inf", "join": "j",
                        "task_service": task},
                  "j": {"kind": "join"}},
        "arrivals": {"a": {"to": "f", "rate": rate}}})


def test_barrier_p95_jumps_with_the_stragglers():
    """The p95 of the last of N tasks solves F(t)^N = 0.95 for the task's cdf F (computed
    here by root finding): it jumps from the fast mode to the straggler mode as N grows
    (a two-moment fit of the maximum was 30-100% off at N = 5 and 10)."""
    def cdf(t: float) -> float:
        return 1 - 0.99 * math.exp(-t) - 0.01 * math.exp(-t / 20)

    p95 = {}
    for n in (2, 5, 10, 50, 100):
        r = qmodel.solve(barrier(n))
        exact = brentq(lambda t, n=n: cdf(t) ** n - 0.95, 0.0, 1e3, xtol=1e-12)
        p95[n] = float(r.system.percentile(0.95))
        assert p95[n] == pytest.approx(exact, rel=1e-7)
        assert r.system.percentile(0.95).method == "exact"
    assert p95[10] > 2 * p95[5] and p95[50] > 3 * p95[10]


def test_unlimited_slots_add_no_queueing():
    means = {rate: float(qmodel.solve(barrier(5, rate)).system.mean_response_time)
             for rate in (0.01, 0.5, 5.0)}
    expected = quad(lambda t: 1 - (1 - 0.99 * math.exp(-t) - 0.01 * math.exp(-t / 20)) ** 5,
                    0, math.inf)[0]
    for mean in means.values():
        assert mean == pytest.approx(expected, rel=1e-8)


def test_barrier_percentile_within_the_simulation():
    model = barrier(10, rate=0.05)
    r = qmodel.solve(model)
    sim = qmodel.simulate(model, replications=6, customers=4_000, seed=4)
    for p in (0.5, 0.95, 0.99):
        low, high = sim.system.percentile(p).ci95
        assert low <= float(r.system.percentile(p)) <= high, p


def test_a_delay_gives_its_own_service_law():
    r = qmodel.solve(replicas(1, 1, {"kind": "delay", "service": "2ms"}))
    fixed = r.node("fix0").percentile(0.95)
    assert float(fixed) == pytest.approx(0.001, rel=1e-12) and fixed.method == "exact"
