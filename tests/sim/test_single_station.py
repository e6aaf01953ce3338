"""Single stations against their closed forms: M/M/1, M/M/c, M/M/c/K, M/G/1.

Every check asks the exact value to lie in the simulation's 95% confidence interval
(Student t over independent replications, fixed seeds so the tests are reproducible).
"""

from __future__ import annotations

import pytest

from qmodel import Model
from qmodel.sim import simulate

from .theory import erlang_c, mmc_response, mmck, pk_response, single_queue, within_ci


@pytest.mark.parametrize("lam, mean, servers", [(0.5, 1.0, 1), (0.8, 1.0, 1), (3.0, 1.0, 4),
                                                (140.0, 0.02, 4), (7.0, 1.0, 8)])
def test_mmc_matches_erlang_c(lam, mean, servers):
    model = Model.from_dict(single_queue(lam, mean, servers))
    r = simulate(model, replications=10, customers=40_000, seed=11)
    q = r.node("q")
    assert within_ci(q.mean_response, mmc_response(lam, 1 / mean, servers))
    assert within_ci(q.p_wait, erlang_c(servers, lam * mean))
    assert within_ci(q.utilization, lam * mean / servers)
    assert within_ci(r.system.throughput, lam)


def test_mm1_response_percentile():
    # M/M/1 response time is exponential with rate mu - lambda: p95 = ln(20) / (mu - lambda).
    import math

    r = simulate(Model.from_dict(single_queue(0.7, 1.0)), replications=10, customers=40_000,
                 seed=5)
    assert within_ci(r.node("q").percentile(0.95), math.log(20) / 0.3)
    assert within_ci(r.system.percentile(0.5), math.log(2) / 0.3)


@pytest.mark.parametrize("lam, mean, servers, K", [(0.9, 1.0, 1, 5), (2.0, 1.0, 2, 4),
                                                   (6.0, 1.0, 4, 10)])
def test_mmck_losses(lam, mean, servers, K):
    model = Model.from_dict(single_queue(lam, mean, servers, capacity=K))
    r = simulate(model, replications=10, customers=20_000, seed=3)
    exact = mmck(lam, 1 / mean, servers, K)
    q = r.node("q")
    assert within_ci(q.p_loss, exact["p_loss"])
    assert within_ci(q.mean_in_system, exact["L"])
    assert within_ci(q.mean_response, exact["R"])
    assert within_ci(r.system.loss_probability, exact["p_loss"])


@pytest.mark.parametrize("service, scv", [
    ({"dist": "deterministic", "value": 1.0}, 0.0),
    ({"dist": "lognormal", "mean": 1.0, "cv": 2.0}, 4.0),
    ({"dist": "erlang", "k": 3, "mean": 1.0}, 1 / 3),
])
def test_mg1_pollaczek_khinchine(service, scv):
    lam = 0.6
    r = simulate(Model.from_dict(single_queue(lam, service)), replications=10,
                 customers=50_000, seed=17)
    assert within_ci(r.node("q").mean_response, pk_response(lam, 1.0, scv))


def test_simpy_engine_agrees_with_theory_on_mmc():
    lam, mean, c = 3.0, 1.0, 4
    r = simulate(Model.from_dict(single_queue(lam, mean, c)), replications=10, customers=15_000,
                 seed=2, method="simpy")
    assert within_ci(r.node("q").mean_response, mmc_response(lam, 1 / mean, c))


def test_delay_station_has_no_wait():
    model = Model.from_dict({"nodes": {"d": {"kind": "delay", "service": {"mean": 2.0, "cv": 0.5}}},
                             "arrivals": {"a": {"to": "d", "rate": 5.0}}})
    r = simulate(model, replications=10, customers=20_000, seed=1)
    d = r.node("d")
    assert d.mean_wait == 0 and d.p_wait == 0 and d.utilization is None
    assert within_ci(d.mean_response, 2.0)
    assert within_ci(d.mean_in_system, 10.0)


BLOCK = {"on_full": "block"}


@pytest.mark.parametrize("lam, service, servers, K, response, p_wait", [
    (0.9, 1.0, 1, 3, 10.0, 0.9),                                        # M/M/1
    (1.5, 1.0, 2, 3, mmc_response(1.5, 1.0, 2), erlang_c(2, 1.5)),       # M/M/2
    (0.7, {"dist": "deterministic", "value": 1.0}, 1, 2, pk_response(0.7, 1.0, 0.0), 0.7),
])
def test_a_blocking_fcfs_station_is_the_queue_without_capacity(lam, service, servers, K,
                                                                response, p_wait):
    # held jobs are at the node from their arrival: its response, wait, P(wait) and
    # number present are those of the queue without a capacity; nothing is lost
    model = Model.from_dict(single_queue(lam, service, servers, capacity=K, **BLOCK))
    r = simulate(model, replications=10, customers=20_000, seed=7)
    q = r.node("q")
    assert within_ci(q.mean_response, response)
    assert within_ci(r.system.mean_response_time, response)
    assert within_ci(q.mean_wait, response - 1.0)
    assert within_ci(q.p_wait, p_wait)
    assert within_ci(q.mean_in_system, lam * response)       # held jobs counted: above K
    assert q.mean_in_system == pytest.approx(q.throughput * q.mean_response, rel=0.02)
    assert q.p_loss == 0 and r.system.loss_probability == 0


def test_blocking_fcfs_follows_the_paths_of_the_queue_without_capacity():
    # held in order, then queued in order: the same draws, the same visits
    results = [simulate(Model.from_dict(single_queue(1.5, 1.0, 2, **extra)), replications=2,
                        customers=5_000, seed=3, method="simpy").node("q")
               for extra in ({"capacity": 3, **BLOCK}, {})]
    for key in ("mean_response", "mean_wait", "p_wait", "mean_in_system", "mean_in_queue"):
        assert getattr(results[0], key) == pytest.approx(getattr(results[1], key), rel=1e-9)


def test_ps_with_blocking_holds_the_mm1_number_present():
    # exponential service: held or admitted, the number at the node moves as in M/M/1
    model = Model.from_dict(single_queue(0.8, 1.0, capacity=2, discipline="ps", **BLOCK))
    r = simulate(model, replications=10, customers=20_000, seed=5)
    q = r.node("q")
    assert within_ci(q.mean_in_system, 4.0) and within_ci(q.mean_response, 5.0)
    assert within_ci(q.p_wait, 0.8)
    assert q.mean_in_system == pytest.approx(q.throughput * q.mean_response, rel=0.02)


def test_a_saturated_blocking_station_is_unstable():
    # blocking does not stop the source: held jobs pile up as in a queue at load 1.1
    model = Model.from_dict(single_queue(1.1, 1.0, capacity=3, **BLOCK))
    r = simulate(model, replications=2, customers=5_000, seed=1)
    assert not r.stable and [u.station for u in r.unstable] == ["q"]
    assert r.node("q").mean_response is None
