"""Fork blocks of an open network (qmodel.solvers.fork_blocks): symmetric forks of
single-server queues get the fork-join means of the literature (Flatto-Hahn,
Nelson-Tantawi, Varma-Makowski), checked against their formulas and the simulator;
other forks keep the independent-branch maximum; every label names the method used."""

from __future__ import annotations

import pytest

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
    sim = qmodel.simulate(model, replications=8, customers=6_000, seed=2)
    low, high = sim.system.mean_response_time.ci95
    assert low <= mean <= high
    assert (25 / 12) / 0.5 > high  # the independent bound H_4 / (mu - lam) lies above it


def test_general_service_is_varma_makowski():
    model = fork([{"dist": "deterministic", "value": 1.0}] * 4)
    r = qmodel.solve(model)
    # identical deterministic branches move together: the M/D/1 mean, 1 + 0.5 / (2 * 0.5)
    assert float(r.system.mean_response_time) == pytest.approx(1.5, rel=1e-9)
    assert r.system.method == "approximation(Varma-Makowski)"
    sim = qmodel.simulate(model, replications=6, customers=5_000, seed=4)
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
