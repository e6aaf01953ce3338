"""qmodel.solve against textbook values and independent methods.

Sources: Kleinrock, Queueing Systems Vol. 1 (1975) for M/M/1 and M/G/1; Gross & Harris,
Fundamentals of Queueing Theory (4th ed.) for M/M/c and M/M/c/K; Jackson (1963) for
open networks; Nelson & Tantawi (1988) for fork-join; Cobham (1954) for priorities.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import qmodel
from qmodel.distributions import Deterministic, Exponential, Mixture
from qmodel.solvers import ctmc, forkjoin, mg1, single_station
from qmodel.solvers.end_to_end import as_phase_type
from qmodel.solvers.open_network import solve_open


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


def test_a_loss_station_is_never_unstable_and_md1k_is_exact():
    r = qmodel.solve(single({"dist": "deterministic", "value": 2}, 1, capacity=3))
    app = r.node("app")
    assert r.stable and r.unstable == [] and app.stable
    # M/D/1/3 at rho = 2 (Brun & Garcia's closed form): half the jobs and more are lost
    assert app.p_loss == pytest.approx(0.5062003910071045, rel=1e-12) and app.method == "exact"
    assert app.throughput == pytest.approx(1 - app.p_loss, rel=1e-12)
    assert app.mean_in_system == pytest.approx(app.throughput * app.mean_response, rel=1e-12)
    assert r.system.loss_probability == pytest.approx(app.p_loss, rel=1e-12)
    assert r.system.saturation_rate is None and r.system.bottleneck is None
    p95 = app.percentile(0.95)  # a PH fit of the exact mean and variance, and labelled so
    assert app.mean_response < p95 < 1.5 * app.mean_response
    assert p95.method == "approximation(two-moment fit)"


def test_several_classes_at_a_loss_station_share_their_service_mixture():
    r = qmodel.solve(qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "capacity": 4, "service": 0.5,
                          "class_service": {"big": {"dist": "deterministic", "value": 2.0}}}},
        "arrivals": {"small": {"to": "app", "rate": 1.5}, "big": {"to": "app", "rate": 0.5}}}))
    mix = Mixture((0.75, 0.25), (Exponential(0.5), Deterministic(2.0)))
    exact = mg1.mg1k(2.0, mix, 4)
    assert r.stable and r.node("app").method == "exact"
    assert r.node("app").p_loss == pytest.approx(exact.p_loss, rel=1e-12)
    assert r.classes["small"].mean_response_time == pytest.approx(exact.mean_wait + 0.5)
    assert r.classes["big"].mean_response_time == pytest.approx(exact.mean_wait + 2.0)


def test_several_servers_with_a_capacity_keep_the_mmck_approximation():
    r = qmodel.solve(single({"dist": "erlang", "k": 2, "mean": 1.0}, 5.0, servers=2, capacity=4))
    assert r.stable and r.node("app").method == "approximation(M/M/c/K, mean service)"
    assert r.node("app").p_loss == pytest.approx(single_station.mmck(5.0, 1.0, 2, 4).p_loss)


def test_priorities_with_a_capacity_need_simulation():
    r = qmodel.solve(single(1.0, 2.0, capacity=3, discipline="priority"))
    assert r.node("app").method == "needs simulation" and r.system.mean_response_time is None


BLOCK = {"on_full": "block"}


def test_a_blocking_fcfs_station_is_the_queue_without_its_capacity():
    # jobs beyond the capacity wait outside in order: M/M/1 at 0.9, nothing lost
    for method in ("auto", "open", "ctmc"):
        r = qmodel.solve(single(1.0, 0.9, capacity=3, **BLOCK), method=method)
        app = r.node("app")
        assert app.mean_response == pytest.approx(10, rel=1e-6) and app.method == "exact"
        assert app.mean_in_system == pytest.approx(9, rel=1e-6)
        assert app.p_wait == pytest.approx(0.9, rel=1e-6)
        assert app.p_loss == pytest.approx(0, abs=1e-9)            # ctmc: truncation only
        assert r.system.mean_response_time == pytest.approx(10, rel=1e-6)
        assert r.system.loss_probability == pytest.approx(0, abs=1e-9) and r.stable
    # M/M/2 at a = 1.5 (Erlang C = 9/14) and M/D/1 at 0.7 (Pollaczek-Khinchine)
    mm2 = qmodel.solve(single(1.0, 1.5, servers=2, capacity=3, **BLOCK)).node("app")
    assert mm2.p_wait == pytest.approx(9 / 14) and mm2.mean_response == pytest.approx(16 / 7)
    md1 = qmodel.solve(single(deterministic(1.0), 0.7, capacity=2, **BLOCK)).node("app")
    assert md1.mean_response == pytest.approx(1 + 0.7 / (2 * 0.3)) and md1.method == "exact"


def test_a_blocking_station_saturates_like_a_queue():
    r = qmodel.solve(single(1.0, 1.1, capacity=3, **BLOCK))
    assert not r.stable and r.node("app").method == "unstable"
    assert r.system.bottleneck == "app" and r.system.saturation_rate == pytest.approx(1.0)


@pytest.mark.parametrize("node, why", [
    ({"discipline": "mlfq", "mlfq": {"levels": 2, "quantum": 0.5}}, "MLFQ scheduling"),
    ({"discipline": "ps", "service": {"dist": "deterministic", "value": 1.0}},
     "ps with on_full: block (only capacity jobs share the servers"),
    ({"discipline": "lcfs-pr", "class_service": {"b": 2.0}},
     "lcfs-pr with on_full: block"),
])
def test_blocking_under_other_disciplines_needs_simulation(node, why):
    model = qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "capacity": 2, "service": 1.0, **BLOCK, **node}},
        "arrivals": {"a": {"to": "app", "rate": 0.4}, "b": {"to": "app", "rate": 0.1}}})
    r = qmodel.solve(model)
    assert r.node("app").method == "needs simulation" and r.system.mean_response_time is None
    assert any(n.startswith(f"needs simulation: {why}") for n in r.notes)


def test_ps_with_a_blocking_capacity_and_one_exponential_service_is_exact():
    # the number held or admitted moves as in M/M/1, whatever the discipline
    r = qmodel.solve(single(1.0, 0.8, capacity=2, discipline="ps", **BLOCK))
    assert r.method == "ctmc" and r.node("app").method == "exact"
    assert r.node("app").mean_response == pytest.approx(5, rel=1e-6)
    assert r.node("app").p_loss == pytest.approx(0, abs=1e-9)


def test_a_blocking_fcfs_station_in_a_closed_network_is_solved_by_mva():
    model = qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": 1.0, "capacity": 2, **BLOCK}},
        "users": {"u": {"to": "app", "population": 5, "think_time": 2.0}}})
    held, plain = (qmodel.solve(m) for m in (model, model.with_changes(
        {"nodes.app.on_full": "reject", "nodes.app.capacity": None})))
    assert held.method == "mva"
    assert held.node("app").mean_response == pytest.approx(plain.node("app").mean_response)


def loss_then_db(db_service: float, rate: float) -> qmodel.Model:
    return qmodel.Model.from_dict({
        "nodes": {"q": {"kind": "queue", "capacity": 3, "next": "db",
                        "service": {"dist": "deterministic", "value": 2}},
                  "db": {"kind": "queue", "service": db_service}},
        "arrivals": {"a": {"to": "q", "rate": rate}}})


def test_downstream_of_a_loss_station_sees_and_saturates_on_the_accepted_flow():
    r = qmodel.solve(loss_then_db(3.0, 0.3))
    assert r.node("db").arrival_rate == pytest.approx(r.node("q").throughput, rel=1e-12)
    assert r.system.throughput == pytest.approx(r.node("q").throughput, rel=1e-12)
    # db saturates when q passes on 1/3 per second, not at 3x the rate that makes it 0.3 busy
    edge, db_load = r.system.saturation_rate, r.node("db").utilization
    assert r.system.bottleneck == "db" and edge > 0.3 / db_load
    passed = mg1.mg1k(edge, Deterministic(2.0), 3).throughput
    assert passed == pytest.approx(1 / 3, rel=1e-9)
    assert not qmodel.solve(loss_then_db(3.0, edge * 1.001)).stable
    # q never passes more than 1/2 per second: a 1 s db can never saturate
    r = qmodel.solve(loss_then_db(1.0, 50.0))
    assert r.stable and r.system.saturation_rate is None and r.system.bottleneck is None


def test_closed_mva_matches_closed_ctmc():
    model = qmodel.load("topologies/three_tier_closed.yaml")
    net = model.network
    r = qmodel.solve(model, method="mva")
    cls = net.closed_classes[0]
    z = cls.think.mean
    # Independent check: the closed CTMC with the think time as an infinite-server station.
    stations = [ctmc.MarkovStation(1.0 / s.service[cls.name].mean) for s in net.stations]
    stations.append(ctmc.MarkovStation(1.0 / z, servers=math.inf))
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


@pytest.mark.parametrize(("batch", "fixed"), [
    ({"interval": "1s"}, 0.5),                        # fixed / T + rate per_item = 1
    ({"batch_size": 20}, 0.1),                        # rate (fixed / B + per_item) = 1
    ({"interval": "1s", "batch_size": 20}, 0.1),      # Poisson(rate T) >> B: B fills first
    ({"interval": "1s", "batch_size": 1000}, 0.505),  # B never fills: rate / (1 + rate T)
])
def test_a_batcher_is_unstable_past_its_saturation_rate(batch, fixed):
    edge = 100.0  # items/s, per_item 5 ms
    model = qmodel.Model.from_dict({
        "nodes": {"b": {"kind": "batcher", "fixed": fixed, "per_item": 0.005, **batch}},
        "arrivals": {"x": {"to": "b", "rate": edge * 0.97}}})
    below = qmodel.solve(model)
    above = qmodel.solve(model.with_changes({"arrivals.x.rate": edge * 1.03}))
    assert below.stable and below.node("b").mean_response is not None
    assert below.system.saturation_rate == pytest.approx(edge, rel=1e-6)
    assert [u.station for u in above.unstable] == ["b"]
    assert 1 < above.unstable[0].utilization <= 1.03 + 1e-12
    assert above.node("b").mean_response is None and above.system.mean_response_time is None


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


def two_branches() -> qmodel.Model:
    """Jobs at 50/s forked to two M/M/1 queues of 10 ms (theta = mu - lam = 50/s), joined."""
    return qmodel.Model.from_dict({
        "nodes": {
            "split": {"kind": "fork", "branches": ["a", "b"], "join": "merge"},
            "a": {"kind": "queue", "service": "10ms", "next": "merge"},
            "b": {"kind": "queue", "service": "10ms", "next": "merge"},
            "merge": {"kind": "join"},
        },
        "arrivals": {"jobs": {"to": "split", "rate": "50/s"}},
    })


def test_fork_join_two_branches_nelson_tantawi():
    r = qmodel.solve(two_branches())
    rho = 0.5
    exact = (12 - rho) / 8 / (100 - 50)  # Flatto-Hahn / Nelson-Tantawi, k = 2
    assert r.system.mean_response_time == pytest.approx(exact, rel=1e-12)
    assert r.system.mean_response_time.method == "exact"


def quorum_read(quorum: int | None) -> qmodel.Model:
    replica = {"kind": "delay", "service": "10ms", "next": "done"}
    return qmodel.Model.from_dict({
        "nodes": {"read": {"kind": "fork", "branches": ["r1", "r2", "r3"], "join": "done"},
                  "r1": replica, "r2": replica, "r3": replica,
                  "done": {"kind": "join", "quorum": quorum}},
        "arrivals": {"reads": {"to": "read", "rate": "50/s"}},
    })


@pytest.mark.parametrize("r", [1, 2, 3])
def test_quorum_join_is_the_r_th_order_statistic(r):
    # iid Exp(mu) branches with infinite servers: E[T_(R) of N] = (1/mu) sum_{N-R+1}^{N} 1/i
    result = qmodel.solve(quorum_read(r))
    r_th = 0.01 * sum(1 / i for i in range(3 - r + 1, 4))
    assert result.system.mean_response_time == pytest.approx(r_th, rel=1e-9)
    # the join holds a job from its first task (E[T_(1)] = 1/(3 mu)) to its R-th
    assert result.node("done").mean_response == pytest.approx(r_th - 0.01 / 3, abs=1e-12)
    assert result.node("done").method == "exact"  # delays: the tasks never meet
    assert result.classes["reads"].throughput == pytest.approx(50.0)
    assert result.system.loss_probability == pytest.approx(0.0, abs=1e-12)


def test_quorum_of_all_tasks_is_the_plain_join():
    plain, full = qmodel.solve(quorum_read(None)), qmodel.solve(quorum_read(3))
    assert full.system.mean_response_time == plain.system.mean_response_time
    assert full.system.mean_jobs == plain.system.mean_jobs
    assert full.node("done").mean_response == plain.node("done").mean_response


def test_two_mm1_branches_take_the_maximum_of_two_exponentials():
    # each branch's response is Exp(theta) (Poisson arrivals); taken as independent, the
    # job's is their maximum: P(T <= t) = (1 - e^-theta t)^2 (an upper bound); the mean is
    # Flatto-Hahn's exact (12 - rho) / 8 / theta
    r, theta = qmodel.solve(two_branches()), 50.0
    assert r.system.mean_response_time == pytest.approx(11.5 / 8 / theta, rel=1e-12)
    for p in (0.5, 0.95, 0.99):
        exact = -math.log(1 - math.sqrt(p)) / theta
        assert r.system.percentile(p) == pytest.approx(exact, rel=1e-9)
    assert r.system.p99_response_time.method == "approximation(independent branches)"
    # a forked job counts once, not once per task (Little's law: 50/s x 28.75 ms)
    assert r.system.mean_jobs == pytest.approx(50 * 11.5 / 8 / theta, rel=1e-12)
    assert r.node("a").mean_in_system + r.node("b").mean_in_system == pytest.approx(2.0)


def test_mean_jobs_with_forks_obeys_littles_law():
    r = qmodel.solve(qmodel.load("topologies/replicated_store.yaml"))
    s = r.system
    assert s.mean_jobs == pytest.approx(s.throughput * s.mean_response_time, rel=1e-12)
    assert s.p50_response_time < s.mean_response_time < s.p95_response_time < \
        s.p99_response_time


def shared_replicas() -> qmodel.Model:
    """Writes fork to replicas a and b; reads fork to l, a and b and go on with two answers:
    a and b serve both forks, sending each class to its own join."""
    def replica(name: str) -> dict:
        to_writes = {"class_next": {"writes": {"replicated": 1.0}}} if name != "l" else {}
        return {"kind": "queue", "servers": 2, "service": "2ms", "next": "read_done",
                **to_writes}

    return qmodel.Model.from_dict({
        "nodes": {"leader": {"kind": "queue", "service": "1ms", "next": "replicate"},
                  "replicate": {"kind": "fork", "branches": ["a", "b"], "join": "replicated"},
                  "read": {"kind": "fork", "branches": ["l", "a", "b"], "join": "read_done"},
                  "l": replica("l"), "a": replica("a"), "b": replica("b"),
                  "replicated": {"kind": "join"},
                  "read_done": {"kind": "join", "quorum": 2}},
        "arrivals": {"writes": {"to": "leader", "rate": "200/s"},
                     "reads": {"to": "read", "rate": "400/s"}},
    })


def test_forks_sharing_a_station_time_only_their_own_classes():
    model = shared_replicas()
    r = qmodel.solve(model)
    assert r.system.mean_response_time.method == "approximation(QNA, independent branches)"
    net = model.network
    cdfs = {s.name: _grid_cdf(as_phase_type(law.response)) for s, law in
            zip(net.stations, solve_open(net).stations) if s.kind == "queue"}
    # a read: the 2nd of its 3 replicas; a write: the leader, then the later of a and b
    reads = forkjoin.fork_join_response([cdfs[n] for n in "lab"], quorum=2).mean
    writes = r.node("leader").mean_response + forkjoin.expected_max([cdfs["a"], cdfs["b"]])
    assert r.classes["reads"].mean_response_time == pytest.approx(reads, rel=1e-5)
    assert r.classes["writes"].mean_response_time == pytest.approx(writes, rel=1e-5)
    assert r.node("a").arrival_rate == pytest.approx(600.0)
    assert r.system.mean_jobs == pytest.approx(200 * writes + 400 * reads, rel=1e-5)
    assert r.system.p99_response_time > r.system.p50_response_time > 0


def _grid_cdf(ph):
    """``ph``'s cdf, interpolated on an even grid (one matrix exponential in all)."""
    t = np.linspace(0.0, float(ph.quantile(1 - 1e-13)), 20_001)
    values = ph.cdf(t)
    return lambda x: np.interp(x, t, values, right=1.0)


def test_nested_forks_are_crossed_as_one_block():
    # outer: a || (inner: b || c); Exp(1) delays, so every branch time is exact
    delay = {"kind": "delay", "service": 1.0}
    model = qmodel.Model.from_dict({
        "nodes": {"outer": {"kind": "fork", "branches": ["a", "inner"], "join": "done"},
                  "inner": {"kind": "fork", "branches": ["b", "c"], "join": "both"},
                  "a": {**delay, "next": "done"}, "b": {**delay, "next": "both"},
                  "c": {**delay, "next": "both"}, "both": {"kind": "join", "next": "done"},
                  "done": {"kind": "join"}},
        "arrivals": {"jobs": {"to": "outer", "rate": 0.1}}})
    r = qmodel.solve(model)
    # the max of three Exp(1): H_3, and P(T <= t) = (1 - e^-t)^3
    assert r.system.mean_response_time == pytest.approx(11 / 6, rel=1e-12)
    assert r.system.p95_response_time == pytest.approx(-math.log(1 - 0.95 ** (1 / 3)),
                                                       rel=1e-9)
    assert r.system.mean_jobs == pytest.approx(0.1 * 11 / 6, rel=1e-12)


def test_pool_of_exponential_tasks_ends_after_the_gaps_between_task_ends():
    # 4 Exp(1) tasks on 2 slots, nearly no queueing: the makespan is Erlang(3, 2) (three
    # ends at rate 2) plus Exp(1) (the last task alone)
    model = qmodel.Model.from_dict({
        "nodes": {"f": {"kind": "fork", "tasks": 4, "slots": 2, "join": "j",
                        "task_service": 1.0}, "j": {"kind": "join"}},
        "arrivals": {"a": {"to": "f", "rate": 1e-6}}})
    erlang = stats.gamma(3, scale=0.5)

    def cdf(t: float) -> float:
        return integrate.quad(lambda u: erlang.pdf(u) * -math.expm1(u - t), 0, t)[0]

    p95 = optimize.brentq(lambda t: cdf(t) - 0.95, 1.0, 20.0, xtol=1e-12)
    assert qmodel.solve(model).system.p95_response_time == pytest.approx(p95, rel=1e-4)


def test_needs_simulation_is_said():
    r = qmodel.solve(single("10ms", "50/s", discipline="mlfq",
                            mlfq={"levels": 2, "quantum": "5ms"}))
    assert r.node("app").method == "needs simulation"
    assert r.system.mean_response_time is None
    assert any("MLFQ" in n for n in r.notes)


def deterministic(seconds: float) -> dict:
    return {"dist": "deterministic", "value": seconds}


def test_a_batch_needs_simulation_and_bounds_its_makespan():
    # 10 jobs: a (1 s each) feeds b (3 s each); b starts at 1 s and is busy until 31 s
    model = qmodel.Model.from_dict({
        "nodes": {"a": {"kind": "queue", "service": deterministic(1.0), "next": "b"},
                  "b": {"kind": "queue", "service": deterministic(3.0)}},
        "batches": {"load": {"to": "a", "size": 10}}})
    for method in ("auto", "mva"):
        r = qmodel.solve(model, method=method)
        assert r.method == r.system.method == r.node("b").method == "needs simulation"
        assert r.system.mean_response_time is None and r.system.makespan is None
        assert r.system.makespan_bound == pytest.approx(31) and r.system.bottleneck == "b"
        assert any(n.startswith("needs simulation: batch arrivals (batches.load)")
                   for n in r.notes)
        assert any(n.startswith("makespan >= 31 s") for n in r.notes)
    assert qmodel.simulate(model, replications=2, seed=1).system.makespan == 31.0
    mixed = model.with_changes({"arrivals": {"web": {"to": "a", "rate": "0.1/s"}}})
    assert qmodel.solve(mixed).system.makespan_bound == pytest.approx(31)


def test_makespan_bound_per_member_pooled_when_members_trade_jobs_none_when_lost():
    model = qmodel.Model.from_dict({
        "nodes": {"db": {"kind": "shards", "shards": 4, "service": "10ms",
                         "weights": [5, 1, 1, 1]}},
        "batches": {"load": {"to": "db", "size": 800}}})
    hashed = qmodel.solve(model).system                     # 500 jobs to db-0
    assert (hashed.makespan_bound, hashed.bottleneck) == (pytest.approx(5.0), "db-0")
    jsq = qmodel.solve(model.with_changes({"nodes.db.routing": "jsq"})).system
    assert (jsq.makespan_bound, jsq.bottleneck) == (pytest.approx(2.0), "db")
    lossy = qmodel.solve(model.with_changes({"nodes.db.capacity": 10}))
    assert lossy.system.makespan_bound is None
    held = qmodel.solve(model.with_changes({"nodes.db.capacity": 10, "nodes.db.on_full": "block"}))
    assert held.system.makespan_bound == pytest.approx(5.0)       # blocking loses nothing
    assert any(n.startswith("no makespan bound: jobs can be lost") for n in lossy.notes)


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


def test_one_exact_queue_makes_the_system_means_exact():
    # M/D/1 (Pollaczek-Khinchine: 1 + 0.5 / (2 x 0.5) = 1.5) then a 2 s delay
    one = qmodel.solve(qmodel.Model.from_yaml("""
arrivals: {a: {to: q, rate: 0.5}}
nodes:
  q: {kind: queue, service: {dist: deterministic, value: 1}, next: {net: 1}}
  net: {kind: delay, service: 2}
"""))
    assert one.system.mean_response_time == pytest.approx(3.5)
    assert one.system.mean_response_time.method == "exact"
    tandem = qmodel.solve(qmodel.Model.from_yaml("""
arrivals: {a: {to: q, rate: 0.5}}
nodes:
  q: {kind: queue, service: {dist: deterministic, value: 1}, next: {r: 1}}
  r: {kind: queue, service: 1}
"""))  # the departures of an M/D/1 are not Poisson: the second queue is approximate
    assert tandem.system.mean_response_time.method == "approximation(QNA)"
