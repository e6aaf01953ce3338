"""The ``layered`` method: each behaviour of issue 15 reaches its kernel from a model file,
the numbers match the kernel's, the result keeps Little's law and flow balance, a
metastable load says so, and what it cannot solve it refuses with the reason."""

from __future__ import annotations

import math

import pytest

import qmodel
from qmodel.errors import UnstableError, UnsupportedError
from qmodel.solvers import erlang_a, hedging, layered, retry_fixed_point


def exp(mean: float) -> dict:
    return {"dist": "exponential", "mean": mean}


CHAIN = {"nodes": {
    "gateway": {"kind": "queue", "servers": 4, "service": exp(0.05),
                "service_after": exp(0.05), "calls": [{"to": "service"}]},
    "service": {"kind": "queue", "servers": 2, "service": exp(0.1),
                "calls": [{"to": "database", "count": 2}]},
    "database": {"kind": "queue", "servers": 1, "service": exp(0.03)}},
    "arrivals": {"web": {"to": "gateway", "rate": 4.0}}}


def one_queue(rate: float, servers: int, mean: float, node=None, **arrival) -> qmodel.Model:
    return qmodel.Model.from_dict({
        "nodes": {"api": {"kind": "queue", "servers": servers, "service": exp(mean),
                          **(node or {})}},
        "arrivals": {"web": {"to": "api", "rate": rate, **arrival}}})


def little_and_flow(r: qmodel.Result) -> None:
    s = r.system
    assert float(s.mean_jobs) == pytest.approx(float(s.throughput) * float(s.mean_response_time))
    for n in r.nodes.values():
        assert float(n.mean_in_system) == pytest.approx(float(n.throughput) *
                                                        float(n.mean_response))
        assert float(n.throughput) == pytest.approx(float(n.arrival_rate) * (1 - float(n.p_loss)))


def test_held_threads_go_to_the_method_of_layers():
    model = qmodel.Model.from_dict(CHAIN)
    r = qmodel.solve(model)
    assert set(r.passed_over) == {"open", "mva", "amva", "ctmc", "batches", "qbd"}
    kernel = layered.solve_layered([
        layered.Task("gateway", 4, 0.05, 0.05, {"service": 1.0}, 4.0),
        layered.Task("service", 2, 0.1, 0.0, {"database": 2.0}),
        layered.Task("database", 1, 0.03)])
    for name, k in kernel.items():
        assert float(r.nodes[name].mean_response) == pytest.approx(k.response, rel=1e-12)
        assert float(r.nodes[name].utilization) == pytest.approx(k.utilization, rel=1e-12)
    assert float(r.system.mean_response_time) == pytest.approx(kernel["gateway"].response)
    visits = model.network.visits("web")
    assert [float(n.visits) for n in r.nodes.values()] == pytest.approx(list(visits))
    assert r.system.mean_response_time.method == "approximation(method of layers)"
    little_and_flow(r)


def test_patience_and_balking_are_erlang_a():
    model = one_queue(3.3, 3, 1.0, {"patience": exp(2.0), "balk": {"above": 5}})
    r = qmodel.solve(model, method="layered")
    q = erlang_a.balking(3.3, 1.0, 3, 5, theta=0.5)
    node = r.nodes["api"]
    assert float(node.throughput) == pytest.approx(q.throughput, rel=1e-12)
    assert float(node.p_loss) == 0.0  # no capacity: balking and abandoning have their fields
    assert (float(node.p_abandon), float(node.p_balk)) == (q.p_abandon, q.p_balk)
    assert float(node.throughput) == pytest.approx(3.3 * (1 - q.p_balk - q.p_abandon))
    assert float(r.system.loss_probability) == pytest.approx(q.p_balk + q.p_abandon)
    assert float(node.mean_response) == pytest.approx(q.mean_response_served, rel=1e-12)
    assert r.system.mean_response_time.method == "exact"
    # jobs present count those that will abandon too (as the simulator does): Little's law
    # holds for the joining jobs and their mean wait, served or not
    assert float(node.mean_in_queue) == pytest.approx(3.3 * q.p_join * q.mean_wait)
    assert float(node.mean_in_system) == pytest.approx(q.mean_queue + q.mean_busy)
    assert float(r.system.mean_jobs) == float(node.mean_in_system)


def test_retries_report_the_healthy_state_and_say_when_metastable():
    arrival = {"timeout": 0.3, "retries": {"max": 3}}
    r = qmodel.solve(one_queue(60.0, 10, 0.1, **arrival))
    healthy = retry_fixed_point.stable_points(60.0, retry_fixed_point.MMcTimeouts(10, 0.1),
                                              retry_fixed_point.RetryPolicy(0.3, 3))[0]
    assert float(r.nodes["api"].arrival_rate) == pytest.approx(healthy.lam_eff, rel=1e-12)
    assert float(r.system.throughput) == pytest.approx(healthy.goodput, rel=1e-12)
    assert any(n.startswith("METASTABLE") for n in r.notes)
    little_and_flow(r)
    light = qmodel.solve(one_queue(20.0, 10, 0.1, **arrival))
    assert not any(n.startswith("METASTABLE") for n in light.notes)
    budget = qmodel.solve(one_queue(60.0, 10, 0.1, timeout=0.3,
                                    retries={"max": 3, "budget": {"ratio": 0.1}}))
    assert not any(n.startswith("METASTABLE") for n in budget.notes)
    rejections_only = qmodel.solve(one_queue(60.0, 10, 0.1, timeout=0.3,
                                             retries={"max": 3, "when": ["reject"]}))
    assert float(rejections_only.nodes["api"].arrival_rate) == 60.0
    with pytest.raises(UnstableError, match="retries keep it saturated"):
        qmodel.solve(one_queue(85.0, 10, 0.1, **arrival), method="layered")


def test_success_latency_adds_timeouts_and_back_off():
    # no retries: a request answered in time took the in-time mean
    r = qmodel.solve(one_queue(5.0, 1, 0.1, timeout=0.5))
    p = math.exp(-(10 - 5) * 0.5)  # M/M/1: R ~ Exp(mu - lam)
    in_time = (1 / 5 - 0.5 * p / (1 - p))  # E[R | R <= tau] for R ~ Exp(5)
    assert float(r.system.mean_response_time) == pytest.approx(in_time, rel=1e-9)
    assert float(r.system.loss_probability) == pytest.approx(p, rel=1e-9)
    # retries after 40 ms, then 80 ms capped at 50 ms, full jitter: mean waits 20, 25 ms
    backoff = {"base": 0.04, "factor": 2, "cap": 0.05, "jitter": "full"}
    r = qmodel.solve(one_queue(5.0, 1, 0.1, timeout=0.5,
                               retries={"max": 2, "backoff": backoff}))
    policy = retry_fixed_point.RetryPolicy(0.5, 2, backoff=(0.02, 0.025))
    point = retry_fixed_point.stable_points(5.0, retry_fixed_point.MMcTimeouts(1, 0.1),
                                            policy)[0]
    assert float(r.system.mean_response_time) == pytest.approx(
        retry_fixed_point.request_latency(point, policy), rel=1e-12)


def test_hedging_cuts_the_tail_for_the_copies_load():
    r = qmodel.solve(one_queue(5.0, 10, 1.0, hedge={"after": "p95", "cancel": False}))
    loaded = hedging.hedge_mmc(5.0, 10, 1.0, "p95")
    assert float(r.nodes["api"].arrival_rate) == pytest.approx(loaded.lam_total, rel=1e-12)
    assert float(r.system.mean_response_time) == pytest.approx(loaded.hedge.mean, rel=1e-12)
    assert float(r.system.percentile(0.99)) < loaded.hedge.unhedged_quantiles((0.99,))[0.99]
    assert any(n.startswith("METASTABLE") for n in r.notes)  # 2 x 5/s reaches 10/s
    two = qmodel.solve(one_queue(5.0, 10, 1.0, hedge={"after": 2.0, "copies": 2,
                                                      "cancel": False}))
    loaded = hedging.hedge_mmc(5.0, 10, 1.0, 2.0, copies=2)
    assert float(two.nodes["api"].arrival_rate) == pytest.approx(loaded.lam_total, rel=1e-12)
    little_and_flow(r)


@pytest.mark.parametrize("model, reason", [
    (one_queue(1.0, 2, 0.5), "no held threads"),
    (one_queue(1.0, 2, 0.5, {"patience": {"dist": "deterministic", "value": 1.0}}),
     "patience is solved when exponential"),
    (one_queue(1.0, 2, 0.5, hedge={"after": "p95"}), "copies that are not cancelled"),
    (qmodel.Model.from_dict({**CHAIN, "nodes": {**CHAIN["nodes"], "gateway": {
        **CHAIN["nodes"]["gateway"], "call_order": "parallel"}}}), "parallel calls"),
])
def test_what_it_cannot_solve_it_refuses_with_the_reason(model, reason):
    with pytest.raises(UnsupportedError, match=reason):
        qmodel.solve(model, method="layered")
