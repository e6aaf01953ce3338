"""Held threads and pools against exact results: a call's sub-visit is the callee's own
M/M/1 visit (solved without calls), Little's law, threads busy = λ × holding time, and
a pool of one unit is an M/M/1 queue."""

from __future__ import annotations

import math

import pytest

import qmodel
from qmodel import Model
from qmodel.sim import api


def within(est, exact: float, slack: float = 0.02) -> bool:
    """``exact`` inside the 95% interval of ``est``, widened by ``slack`` of ``exact``."""
    low, high = est.ci95
    return low - slack * abs(exact) <= exact <= high + slack * abs(exact)


CHAIN = {"nodes": {"app": {"kind": "queue", "servers": 50, "service": "2ms",
                           "calls": [{"to": "db"}], "service_after": "1ms"},
                   "db": {"kind": "queue", "servers": 1, "service": "5ms"}},
         "arrivals": {"web": {"to": "app", "rate": "100/s"}}}


@pytest.fixture(scope="module")
def chain():
    return qmodel.simulate(Model.from_dict(CHAIN), replications=4, customers=4000, seed=5)


def test_a_call_is_the_callees_own_visit_solved_without_calls(chain):
    # The same chain without calls: app's own work (2 + 1 ms, ample threads) then db.
    flat = qmodel.solve(Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": 50, "service": {"mean": "3ms"},
                          "next": "db"},
                  "db": {"kind": "queue", "servers": 1, "service": "5ms"}},
        "arrivals": {"web": {"to": "app", "rate": "100/s"}}}))
    assert within(chain.node("db").mean_response, flat.node("db").mean_response)
    assert within(chain.system.mean_response_time, flat.system.mean_response_time)
    assert within(chain.node("app").mean_response, flat.system.mean_response_time)
    assert Model.from_dict(CHAIN).network.visits("web").tolist() == [1.0, 1.0]


def test_threads_are_busy_for_own_work_plus_the_callee_and_littles_law_holds(chain):
    app, db = chain.node("app"), chain.node("db")
    assert within(app.busy_servers, 100 * (0.003 + float(db.mean_response)), 0.03)
    for node in (app, db):
        assert within(node.mean_in_system, float(node.throughput * node.mean_response), 0.03)
    assert chain.system.throughput == pytest.approx(100, rel=0.05)


def test_a_pool_of_one_unit_is_a_single_server():
    # 50 threads (ample), one unit of the pool held for the visit: M/M/1 at rho 0.5,
    # whose mean wait is rho / (mu - lambda) = 10 ms.
    r = qmodel.simulate(Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": 50, "service": "10ms", "pool": "lock"}},
        "pools": {"lock": {"size": 1}},
        "arrivals": {"web": {"to": "app", "rate": "50/s"}}}), replications=4,
        customers=4000, seed=2)
    lock = r.pools["lock"]
    assert within(lock.mean_wait, 0.010, 0.05)
    assert within(lock.utilization, 0.5)
    assert within(r.system.mean_response_time, 0.020, 0.05)
    assert r.node("app").p_abandon is None and "pools" in r.to_dict()


def test_a_call_pool_of_one_unit_is_a_single_server_in_front_of_the_callee():
    # Each call holds the one connection for the callee's visit (a delay of 10 ms):
    # the calls queue for it as M/M/1 customers at rho 0.5.
    r = qmodel.simulate(Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": 50, "service": "2ms",
                          "calls": [{"to": "db", "pool": "conn"}]},
                  "db": {"kind": "delay", "service": "10ms"}},
        "pools": {"conn": {"size": 1}},
        "arrivals": {"web": {"to": "app", "rate": "50/s"}}}), replications=4,
        customers=4000, seed=3)
    assert within(r.pools["conn"].mean_wait, 0.010, 0.05)
    assert within(r.system.mean_response_time, 0.002 + 0.010 + 0.010, 0.05)


def test_parallel_calls_wait_for_the_last_and_a_probability_thins_them():
    # Two parallel calls to a 10 ms exponential delay: E[max] = 1.5 × 10 ms; made by
    # half of the visits.
    r = qmodel.simulate(Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": 200,
                          "service": {"dist": "deterministic", "value": "1ms"},
                          "calls": [{"to": "db", "count": 2, "probability": 0.5}],
                          "call_order": "parallel"},
                  "db": {"kind": "delay", "service": "10ms"}},
        "arrivals": {"web": {"to": "app", "rate": "50/s"}}}), replications=4,
        customers=4000, seed=4)
    assert within(r.system.mean_response_time, 0.001 + 0.5 * 0.015, 0.03)
    assert within(r.node("db").throughput, 50.0, 0.03)


def caller(call: dict, web: dict | None = None, seed: int = 6):
    """app (1 ms of its own, ample threads) calls db (an exponential 10 ms delay)."""
    return qmodel.simulate(Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": 100,
                          "service": {"dist": "deterministic", "value": "1ms"},
                          "calls": [{"to": "db", **call}]},
                  "db": {"kind": "delay", "service": "10ms"}},
        "arrivals": {"web": {"to": "app", "rate": "50/s", **(web or {})}}}),
        replications=3, customers=3000, seed=seed)


def test_a_call_that_times_out_is_retried_and_then_fails_the_visit():
    # Each sub-visit outlasts 5 ms with p = e^{-0.5}, independently (infinite servers);
    # after two retries the call fails, and so does the request.
    p = math.exp(-0.5)
    r = caller({"timeout": "5ms", "retries": {"max": 2}})
    assert within(r.system.loss_probability, p**3, 0.05)
    assert within(r.node("db").arrival_rate, 50 * (1 + p + p * p), 0.02)
    app = r.node("app")
    assert within(app.call_amplification, 1 + p + p * p, 0.01)
    assert within(app.call_timeout_rate, 50 * (p + p * p + p**3), 0.02)
    assert within(app.call_failure_rate, 50 * p**3, 0.05)


def test_a_cancelled_request_withdraws_its_calls_from_the_callee():
    # The client gives up after 6 ms: 1 ms at app, at most 5 ms at db. With cancel the
    # db visit is withdrawn then, so db is busy lambda E[min(S, 5 ms)]; with continue,
    # lambda E[S].
    web = {"timeout": "6ms", "on_timeout": "cancel"}
    cancelled = caller({}, web)
    assert within(cancelled.node("db").busy_servers, 50 * (1 - math.exp(-0.5)) / 100, 0.03)
    assert within(cancelled.classes["web"].client.failure_rate, 50 * math.exp(-0.5), 0.03)
    continued = caller({}, {**web, "on_timeout": "continue"})
    assert within(continued.node("db").busy_servers, 0.5, 0.03)
    assert continued.classes["web"].client.wasted_work > \
        cancelled.classes["web"].client.wasted_work


def test_threads_held_by_slow_calls_are_saturated_before_the_run(monkeypatch):
    # 2 threads each held 2 ms + 50 ms per visit at 100/s: offered load 2.6 per thread,
    # known from the model (own work and the callee's service), not only from growth.
    monkeypatch.setattr(api, "UNSTABLE_ARRIVALS", 3_000)
    r = qmodel.simulate(Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": 2, "service": "2ms",
                          "calls": [{"to": "db"}]},
                  "db": {"kind": "delay", "service": "50ms"}},
        "arrivals": {"web": {"to": "app", "rate": "100/s"}}}), replications=2, seed=1)
    assert [(u.station, u.utilization) for u in r.unstable] == [("app", pytest.approx(2.6))]


def test_a_chain_of_calls_hundreds_deep_fails_and_cancels_without_recursion():
    # 250 levels, the last one full: every failure climbs the whole chain, and the
    # client's timeout cancels it all the way down.
    n = 250
    nodes = {f"n{i}": {"kind": "queue", "servers": 10, "service": "0.1ms",
                       "calls": [{"to": f"n{i + 1}"}]} for i in range(n)}
    nodes[f"n{n}"] = {"kind": "queue", "service": "300ms", "capacity": 1}
    r = qmodel.simulate(Model.from_dict({"nodes": nodes, "arrivals": {"w": {
        "to": "n0", "rate": "5/s", "timeout": "200ms", "on_timeout": "cancel"}}}),
        replications=1, customers=12, seed=1)
    c = r.classes["w"].client
    assert float(c.failure_rate) > 0 and float(c.timeout_rate) > 0
    assert float(r.node(f"n{n}").p_loss) > 0.1  # rejected at the bottom
