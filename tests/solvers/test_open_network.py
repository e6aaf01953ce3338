"""Tests of qmodel.solvers.open_network and its parts (open_stations, open_types,
fork_blocks): traffic equations, product form, QNA, instability, fork blocks, flow balance.

Sources: J. R. Jackson, "Jobshop-like queueing systems", Management Science 10 (1963)
(each station of an open Jackson network is an isolated M/M/c with its total arrival
rate); Gross & Harris, *Fundamentals of Queueing Theory* (4th ed.), M/M/1 ``L = rho / (1 -
rho)`` and M/M/2 ``L = 2 rho / (1 - rho^2)``; W. Whitt, "The Queueing Network Analyzer",
Bell System Tech. J. 62 (1983), departure variability ``c_d^2 = rho^2 c_s^2 + (1 - rho^2)
c_a^2`` of a single-server station; Kingman's G/G/1 mean wait.
"""

from __future__ import annotations

import numpy as np
import pytest

import qmodel
from qmodel.solvers.fork_blocks import class_walk
from qmodel.solvers.mmc import MMcResponse
from qmodel.solvers.open_network import is_product_form, needs_simulation, solve_open
from qmodel.solvers.phase_type import PhaseType


def network(spec: dict):
    return qmodel.Model.from_dict(spec).network


def exp_queue(rate: float, servers: int = 1, **extra) -> dict:
    return {"kind": "queue", "servers": servers,
            "service": {"dist": "exponential", "rate": rate}, **extra}


def jackson() -> dict:
    """Five M/M/1 queues with a split, a merge and feedback (N5 -> N1 with 0.2)."""
    return {
        "nodes": {"N1": exp_queue(3, next={"N2": 0.5, "N3": 0.5}),
                  "N2": exp_queue(2, next="N4"), "N3": exp_queue(2, next="N4"),
                  "N4": exp_queue(4, next="N5"), "N5": exp_queue(3, next={"N1": 0.2})},
        "arrivals": {"jobs": {"to": "N1", "rate": 1.0}},
    }


def lam_of(sol, name: str) -> float:
    return float(sol.lam[:, sol.network.index[name]].sum())


# -- traffic equations -------------------------------------------------------------------


def test_traffic_equations_match_the_hand_solution():
    # by hand: l1 = 1 + 0.2 l5, l2 = l3 = l1 / 2, l4 = l2 + l3, l5 = l4  =>  l1 = 1.25
    sol = solve_open(network(jackson()))
    expected = {"N1": 1.25, "N2": 0.625, "N3": 0.625, "N4": 1.25, "N5": 1.25}
    for name, lam in expected.items():
        assert lam_of(sol, name) == pytest.approx(lam, rel=1e-12)
        assert sol.visits[0, sol.network.index[name]] == pytest.approx(lam, rel=1e-12)
    assert sol.offered[sol.network.index["N4"]] == pytest.approx(1.25 / 4, rel=1e-12)


def test_two_classes_are_routed_separately():
    spec = {"nodes": {"a": exp_queue(10, next={"b": 0.5}), "b": exp_queue(10)},
            "arrivals": {"x": {"to": "a", "rate": 1.0}, "y": {"to": "b", "rate": 2.0}}}
    sol = solve_open(network(spec))
    a, b = sol.network.index["a"], sol.network.index["b"]
    assert sol.lam.tolist() == [[1.0, 0.5], [0.0, 2.0]]
    assert sol.visits[1, b] == 1.0 and sol.visits[0, b] == 0.5 and sol.visits[1, a] == 0.0


# -- product form ------------------------------------------------------------------------


def test_jackson_product_form_is_isolated_mm1_stations():
    sol = solve_open(network(jackson()))
    assert sol.product_form
    # Jackson (1963): station i is an M/M/1 with rate l_i, so L_i = rho_i / (1 - rho_i)
    rho = {"N1": 1.25 / 3, "N2": 0.625 / 2, "N3": 0.625 / 2, "N4": 1.25 / 4, "N5": 1.25 / 3}
    total = 0.0
    for name, r in rho.items():
        s = sol.stations[sol.network.index[name]]
        assert s.method == "exact"
        assert s.metrics.mean_in_system == pytest.approx(r / (1 - r), rel=1e-12)
        assert isinstance(s.response, MMcResponse)
        total += r / (1 - r)
    assert total == pytest.approx(2.792208, abs=1e-6)  # end-to-end mean by Little (rate 1)


def test_jackson_product_form_with_a_two_server_station():
    spec = {"nodes": {"front": exp_queue(5, next={"pool": 1.0}),
                      "pool": exp_queue(1, servers=2, next={"front": 0.25})},
            "arrivals": {"jobs": {"to": "front", "rate": 1.2}}}
    sol = solve_open(network(spec))
    lam = 1.2 / 0.75  # l_front = 1.2 + 0.25 l_pool, l_pool = l_front
    pool = sol.stations[sol.network.index["pool"]].metrics
    rho = lam / 2
    assert pool.mean_in_system == pytest.approx(2 * rho / (1 - rho**2), rel=1e-12)  # M/M/2
    assert pool.p_idle == pytest.approx((1 - rho) / (1 + rho), rel=1e-12)
    assert pool.p_wait == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-12)  # Erlang C(2, 2 rho)


def test_product_form_needs_poisson_exponential_fcfs():
    assert is_product_form(network(jackson()))
    spec = jackson()
    spec["nodes"]["N4"]["service"] = {"dist": "deterministic", "value": 0.25}
    assert not is_product_form(network(spec))
    spec = jackson()
    spec["nodes"]["N4"]["discipline"] = "ps"
    spec["nodes"]["N4"]["service"] = {"dist": "deterministic", "value": 0.25}
    assert is_product_form(network(spec))  # BCMP: PS is insensitive


# -- QNA ---------------------------------------------------------------------------------


def test_qna_tandem_departure_variability_and_kingman_wait():
    """Poisson(0.5) -> M/D/1 (mean 1) -> ./M/1 (mean 1): the second station sees
    ``c_a^2 = rho^2 * 0 + (1 - rho^2) * 1 = 0.75`` (Whitt 1983) and waits ``rho / (1 - rho)
    (c_a^2 + c_s^2) / 2 E[S] = 0.875`` (Kingman)."""
    spec = {"nodes": {"d": {"kind": "queue", "service": {"dist": "deterministic", "value": 1.0},
                            "next": "m"},
                      "m": exp_queue(1)},
            "arrivals": {"jobs": {"to": "d", "rate": 0.5}}}
    sol = solve_open(network(spec))
    d, m = sol.network.index["d"], sol.network.index["m"]
    assert not sol.product_form
    assert sol.arrival_scv[d] == pytest.approx(1.0, rel=1e-12)
    assert sol.arrival_scv[m] == pytest.approx(0.75, rel=1e-12)
    assert sol.stations[d].metrics.mean_wait == pytest.approx(0.5, rel=1e-12)  # M/D/1 P-K
    assert sol.stations[m].metrics.mean_wait == pytest.approx(0.875, rel=1e-12)
    assert sol.stations[m].method == "approximation(QNA, Kingman)"


# -- instability -------------------------------------------------------------------------


def test_a_saturated_station_is_reported_not_solved():
    spec = jackson()
    spec["nodes"]["N2"]["service"] = {"dist": "exponential", "rate": 0.5}  # rho = 1.25
    sol = solve_open(network(spec))
    n2 = sol.network.index["N2"]
    assert sol.unstable == [n2]
    assert sol.stations[n2].metrics is None and sol.stations[n2].method == "unstable"
    assert "saturated" in sol.stations[n2].note
    assert sol.bottleneck == n2
    assert sol.saturation_factor == pytest.approx(1 / 1.25, rel=1e-12)
    result = qmodel.solve(qmodel.Model.from_dict(spec))
    assert not result.stable


def test_needs_simulation_names_the_reason():
    spec = {"nodes": {"app": {**exp_queue(1, servers=2), "discipline": "priority-preemptive"}},
            "arrivals": {"jobs": {"to": "app", "rate": 1.0}}}
    net = network(spec)
    assert needs_simulation(net, net.stations[0]) == "preemptive priority with several servers"
    assert solve_open(net).stations[0].method == "needs simulation"


# -- fork blocks -------------------------------------------------------------------------


def two_branches() -> dict:
    return {"nodes": {"split": {"kind": "fork", "branches": ["a", "b"], "join": "merge"},
                      "a": exp_queue(100, next="merge"), "b": exp_queue(100, next="merge"),
                      "merge": {"kind": "join", "next": "after"},
                      "after": exp_queue(200)},
            "arrivals": {"jobs": {"to": "split", "rate": 50.0}}}


def test_fork_blocks_are_found_and_timed():
    sol = solve_open(network(two_branches()))
    idx = sol.network.index
    split = idx["split"]
    assert sol.branch_members == {split: {idx["a"], idx["b"]}}
    law = sol.fork_laws[split][0]
    assert isinstance(law, PhaseType)
    # the law: max of two independent Exp(theta), theta = mu - lam = 50: 1.5 / theta
    assert law.mean() == pytest.approx(1.5 / 50, rel=1e-12)
    # the mean: Flatto-Hahn's exact (12 - rho) / 8 / theta for the associated branches
    assert sol.fork_times[split][0] == pytest.approx(11.5 / 8 / 50, rel=1e-12)
    join = sol.stations[idx["merge"]]
    assert join.method == "exact"
    # E[min] moved from the independent 1/100 towards one branch's 1/50 as far (0.875)
    # as the mean moved from the independent maximum towards it
    first = 0.02 - 0.875 * (0.02 - 0.01)
    assert join.metrics.mean_wait == pytest.approx(11.5 / 8 / 50 - first, rel=1e-12)


def test_class_walk_crosses_a_fork_block_in_one_step():
    sol = solve_open(network(two_branches()))
    idx = sol.network.index
    laws, routing = class_walk(sol, 0)
    assert laws is not None
    assert laws[idx["split"]] is sol.fork_laws[idx["split"]][0]
    assert routing[idx["split"]].tolist() == routing[idx["merge"]].tolist()
    assert routing[idx["split"], idx["after"]] == 1.0


def test_nested_fork_members_include_the_inner_block():
    delay = {"kind": "delay", "service": 1.0}
    spec = {"nodes": {"outer": {"kind": "fork", "branches": ["a", "inner"], "join": "done"},
                      "inner": {"kind": "fork", "branches": ["b", "c"], "join": "both"},
                      "a": {**delay, "next": "done"}, "b": {**delay, "next": "both"},
                      "c": {**delay, "next": "both"}, "both": {"kind": "join", "next": "done"},
                      "done": {"kind": "join"}},
            "arrivals": {"jobs": {"to": "outer", "rate": 0.1}}}
    sol = solve_open(network(spec))
    idx = sol.network.index
    assert sol.branch_members[idx["inner"]] == {idx["b"], idx["c"]}
    assert sol.branch_members[idx["outer"]] == {idx[n] for n in ("a", "inner", "b", "c", "both")}
    # inner: max of two Exp(1) = 1.5; outer: max(Exp(1), inner block)
    inner, outer = sol.fork_times[idx["inner"]][0], sol.fork_times[idx["outer"]][0]
    assert inner == pytest.approx(1.5, rel=1e-12)
    # E[max(X, Y)] with X ~ Exp(1), Y = max of two Exp(1): 1 + 1.5 - E[min(X, Y)]
    e_min = 1 - 1 / 3  # P(min > t) = e^-t (2 e^-t - e^-2t): integral 1 - 1/3
    assert outer == pytest.approx(1 + 1.5 - e_min, rel=1e-9)


# -- flow balance ------------------------------------------------------------------------


def test_flow_balance_with_feedback_and_two_classes():
    spec = {"nodes": {"a": exp_queue(20, next={"b": 0.6, "c": 0.3}),
                      "b": exp_queue(20, servers=2, next={"a": 0.2, "c": 0.5}),
                      "c": {"kind": "delay", "service": 0.1, "next": {"a": 0.1}}},
            "arrivals": {"x": {"to": "a", "rate": 2.0}, "y": {"to": "c", "rate": 1.0}}}
    net = network(spec)
    sol = solve_open(net)
    for k, cls in enumerate(net.open_classes):
        routing, entry = net.routing[cls.name], net.entry[cls.name]
        lam = sol.lam[k]
        # in = external + routed in; out of the network = external in
        np.testing.assert_allclose(lam, cls.rate * entry + routing.T @ lam, rtol=1e-12)
        leave = 1.0 - routing.sum(axis=1)
        assert float(lam @ leave) == pytest.approx(cls.rate, rel=1e-12)
    for i, s in enumerate(sol.stations):
        m = s.metrics
        assert m.throughput == pytest.approx(sol.lam[:, i].sum(), rel=1e-12)
        assert m.mean_in_system == pytest.approx(m.throughput * m.mean_response, rel=1e-12)


def test_a_lossy_station_passes_on_only_what_it_accepts():
    spec = {"nodes": {"gate": {**exp_queue(1), "capacity": 2, "next": "back"},
                      "back": exp_queue(10)},
            "arrivals": {"jobs": {"to": "gate", "rate": 1.0}}}
    sol = solve_open(network(spec))
    gate = sol.stations[sol.network.index["gate"]].metrics
    assert gate.p_loss == pytest.approx(1 / 3, rel=1e-12)  # M/M/1/2 at rho = 1: uniform
    assert lam_of(sol, "back") == pytest.approx(gate.throughput, rel=1e-12)
    assert lam_of(sol, "back") == pytest.approx(2 / 3, rel=1e-12)
