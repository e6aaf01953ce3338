"""qmodel.solve against textbook values and independent methods.

Sources: Kleinrock, Queueing Systems Vol. 1 (1975) for M/M/1 and M/G/1; Gross & Harris,
Fundamentals of Queueing Theory (4th ed.) for M/M/c and M/M/c/K; Jackson (1963) for
open networks; Nelson & Tantawi (1988) for fork-join; Cobham (1954) for priorities.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import qmodel
from qmodel.solvers import ctmc, single_station


def single(service, rate, servers=1, **node):
    return qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": servers, "service": service, **node}},
        "arrivals": {"web": {"to": "app", "rate": rate}},
    })


def jackson_c():
    """Network (c) of the simulation issue: exact end-to-end mean 2.792208."""
    return qmodel.Model.from_dict({
        "nodes": {
            "N1": {"kind": "queue", "service": {"dist": "exponential", "rate": 3},
                   "next": {"N2": 0.5, "N3": 0.5}},
            "N2": {"kind": "queue", "service": {"dist": "exponential", "rate": 2}, "next": "N4"},
            "N3": {"kind": "queue", "service": {"dist": "exponential", "rate": 2}, "next": "N4"},
            "N4": {"kind": "queue", "service": {"dist": "exponential", "rate": 4}, "next": "N5"},
            "N5": {"kind": "queue", "service": {"dist": "exponential", "rate": 3},
                   "next": {"N1": 0.2}},
        },
        "arrivals": {"jobs": {"to": "N1", "rate": 1.0}},
    })


def test_mm1_mean_and_percentile():
    r = qmodel.solve(single("10ms", "80/s"))
    assert r.system.mean_response_time == pytest.approx(0.05)
    assert r.system.mean_response_time.method == "exact"
    # Kleinrock (1975) eq. 2.26: sojourn time is exponential with rate mu - lambda.
    assert r.system.p95_response_time == pytest.approx(-math.log(0.05) / 20.0, rel=1e-6)
    assert r.system.p95_response_time.method == "exact"
    assert r.node("app").utilization == pytest.approx(0.8)


def test_mm4_erlang_c():
    # Erlang C for c=4, a=2.8: C = 0.42865 (Erlang-B recurrence by hand: B = 0.18375,
    # C = B / (1 - rho (1 - B))); W = 27.14 ms, p95 75.05 ms (shared/notes/load-generation.md).
    r = qmodel.solve(single("20ms", "140/s", servers=4))
    assert r.node("app").p_wait == pytest.approx(0.42865, abs=1e-5)
    assert r.system.mean_response_time * 1000 == pytest.approx(27.14, abs=0.01)
    assert r.system.p95_response_time * 1000 == pytest.approx(75.05, abs=0.01)


def test_md1_pollaczek_khinchine():
    # M/D/1: Wq = rho S / (2 (1 - rho)) (Kleinrock eq. 5.73 with C_s^2 = 0).
    r = qmodel.solve(single({"dist": "deterministic", "value": "10ms"}, "50/s"))
    assert r.node("app").mean_wait == pytest.approx(0.5 * 0.01 / (2 * 0.5))
    assert r.node("app").mean_wait.method == "exact"
    assert r.node("app").p95_response.method.startswith("approximation")


def test_jackson_network_end_to_end():
    r = qmodel.solve(jackson_c())
    assert r.system.mean_response_time == pytest.approx(2.792208, abs=1e-6)
    assert r.system.mean_response_time.method == "exact"
    assert r.node("N1").visits == pytest.approx(1.25)


def test_jackson_agrees_with_ctmc():
    net = qmodel.Model.from_dict({
        "nodes": {
            "a": {"kind": "queue", "servers": 2, "service": {"dist": "exponential", "rate": 2},
                  "next": {"b": 0.6}},
            "b": {"kind": "queue", "service": {"dist": "exponential", "rate": 3},
                  "next": {"a": 0.3}},
        },
        "arrivals": {"jobs": {"to": "a", "rate": 1.0}},
    }).network
    stations = [ctmc.MarkovStation(1.0 / s.service["jobs"].mean, s.servers) for s in net.stations]
    exact = ctmc.solve_open(stations, net.entry["jobs"] * 1.0, net.routing["jobs"],
                            tail_tolerance=1e-12)
    r = qmodel.solve(net)
    for k, s in enumerate(net.stations):
        assert r.nodes[s.name].mean_in_system == pytest.approx(exact.mean_in_system[k], rel=1e-6)


def test_mmck_auto_uses_ctmc_and_matches_formula():
    r = qmodel.solve(single("20ms", "150/s", servers=2, capacity=5))
    ref = single_station.mmck(150.0, 50.0, 2, 5)
    assert r.method == "ctmc"
    assert r.node("app").p_loss == pytest.approx(ref.p_loss, rel=1e-9)
    assert r.node("app").mean_response == pytest.approx(ref.mean_response, rel=1e-9)
    assert r.stable  # a loss system never saturates


def test_erlang_b_table_value():
    # M/M/c/c with c=10, a=5 Erlangs: B = 0.01838 (standard Erlang B tables).
    r = qmodel.solve(single({"dist": "exponential", "mean": 1.0}, 5.0, servers=10, capacity=10))
    assert r.node("app").p_loss == pytest.approx(0.01838, abs=1e-5)


def test_closed_mva_matches_closed_ctmc():
    model = qmodel.load("topologies/three_tier_closed.yaml")
    net = model.network
    r = qmodel.solve(model, method="mva")
    cls = net.closed_classes[0]
    z = cls.think.mean
    # Independent check: the closed CTMC with the think time as an infinite-server station.
    stations = [ctmc.MarkovStation(1.0 / s.service[cls.name].mean) for s in net.stations]
    stations.append(ctmc.MarkovStation(1.0 / z, servers=None))
    k = len(net.stations)
    routing = np.zeros((k + 1, k + 1))
    routing[:k, :k] = net.routing[cls.name]
    routing[:k, k] = 1.0 - net.routing[cls.name].sum(axis=1)
    routing[k, :k] = net.entry[cls.name]
    exact = ctmc.solve_closed(stations, routing, cls.population)
    assert r.system.throughput == pytest.approx(exact.throughput[k], rel=1e-8)
    for i, s in enumerate(net.stations):
        assert r.nodes[s.name].mean_in_system == pytest.approx(exact.mean_in_system[i], rel=1e-8)


def test_unstable_is_reported_not_computed():
    r = qmodel.solve(single("20ms", "60/s"))
    assert not r.stable
    assert r.unstable[0].station == "app" and r.unstable[0].utilization == pytest.approx(1.2)
    assert r.system.mean_response_time is None
    assert r.node("app").mean_response is None
    assert r.system.saturation_rate == pytest.approx(50.0)


def test_saturation_rate_is_the_stability_boundary():
    model = qmodel.load("topologies/web_service.yaml")
    edge = qmodel.solve(model).system.saturation_rate
    below = model.with_changes({"arrivals.web.rate": f"{edge * 0.999}/s"})
    above = model.with_changes({"arrivals.web.rate": f"{edge * 1.001}/s"})
    assert qmodel.solve(below).stable and not qmodel.solve(above).stable
    assert not qmodel.solve(above).unstable[0].station.startswith("db")


def test_large_server_counts_stay_finite():
    r = qmodel.solve(single({"dist": "exponential", "mean": 1.0}, 9999.0, servers=10_000))
    node = r.node("app")
    assert math.isfinite(node.mean_response) and node.mean_response >= 1.0
    assert 0.0 <= node.p_wait <= 1.0
    assert node.utilization == pytest.approx(0.9999)


def test_cobham_priority_two_classes():
    model = qmodel.Model.from_dict({
        "nodes": {"cpu": {"kind": "queue", "service": "10ms", "discipline": "priority"}},
        "arrivals": {"hi": {"to": "cpu", "rate": "30/s", "priority": 0},
                     "lo": {"to": "cpu", "rate": "40/s", "priority": 1}},
    })
    r = qmodel.solve(model)
    s, rho1, rho = 0.01, 0.3, 0.7
    w0 = (30 + 40) * 2 * s**2 / 2  # residual work: lambda E[S^2] / 2
    assert r.classes["hi"].mean_response_time == pytest.approx(w0 / (1 - rho1) + s)
    assert r.classes["lo"].mean_response_time == pytest.approx(w0 / ((1 - rho1) * (1 - rho)) + s)


def test_fork_join_two_branches_nelson_tantawi():
    model = qmodel.Model.from_dict({
        "nodes": {
            "split": {"kind": "fork", "branches": ["a", "b"], "join": "merge"},
            "a": {"kind": "queue", "service": "10ms", "next": "merge"},
            "b": {"kind": "queue", "service": "10ms", "next": "merge"},
            "merge": {"kind": "join"},
        },
        "arrivals": {"jobs": {"to": "split", "rate": "50/s"}},
    })
    r = qmodel.solve(model)
    rho = 0.5
    exact = (12 - rho) / 8 / (100 - 50)  # Flatto-Hahn / Nelson-Tantawi, k = 2
    assert r.system.mean_response_time == pytest.approx(exact, rel=0.1)
    assert r.system.mean_response_time.method.startswith("approximation")


def test_needs_simulation_is_said():
    r = qmodel.solve(single("10ms", "50/s", discipline="mlfq",
                            mlfq={"levels": 2, "quantum": "5ms"}))
    assert r.node("app").method == "needs simulation"
    assert r.system.mean_response_time is None
    assert any("MLFQ" in n for n in r.notes)


def test_mixed_network():
    model = qmodel.Model.from_dict({
        "nodes": {"cpu": {"kind": "queue", "service": "10ms"},
                  "disk": {"kind": "queue", "service": "20ms"}},
        "arrivals": {"batch": {"to": "cpu", "rate": "10/s"}},
        "users": {"ui": {"to": "disk", "population": 5, "think_time": "1s"}},
    })
    r = qmodel.solve(model)
    assert r.method == "mva"
    assert r.classes["batch"].mean_response_time > 0.01
    assert 0 < r.node("disk").utilization < 1
