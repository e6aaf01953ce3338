"""Routers in front of members: JSQ, round robin, weights, broker partitions, rebalance."""

from __future__ import annotations

import pytest

from qmodel import Model
from qmodel.sim import simulate

from .theory import within_ci


def shards(routing: str, rate: float = 3.2, **extra) -> Model:
    return Model.from_dict({
        "nodes": {"db": {"kind": "shards", "shards": 4, "routing": routing, "service": 1.0,
                         **extra}},
        "arrivals": {"a": {"to": "db", "rate": rate}}})


RUN = dict(replications=10, customers=15_000, seed=14)


def test_jsq_beats_random_routing():
    jsq = simulate(shards("jsq"), **RUN)
    rnd = simulate(shards("random"), **RUN)
    assert jsq.system.mean_response_time.ci95[1] < rnd.system.mean_response_time.ci95[0]
    # random splitting of Poisson traffic: four independent M/M/1 at rho = 0.8
    assert within_ci(rnd.system.mean_response_time, 1.0 / (1.0 - 0.8))


def test_round_robin_beats_random():
    rr = simulate(shards("round_robin"), **RUN)
    rnd = simulate(shards("random"), **RUN)
    assert rr.system.mean_response_time.ci95[1] < rnd.system.mean_response_time.ci95[0]


def test_rebalance_helps_random_routing():
    plain = simulate(shards("random"), **RUN)
    balanced = simulate(shards("random", rebalance=0.5), **RUN)
    assert balanced.system.mean_response_time.ci95[1] < plain.system.mean_response_time.ci95[0]
    # component-level Little's law still holds for the whole component
    db = balanced.node("db")
    assert abs(db.mean_in_system - db.throughput * db.mean_response) < 0.03 * db.mean_in_system


def test_weighted_shards_and_component_view():
    r = simulate(shards("hash", rate=1.6, weights=[4, 2, 1, 1]), replications=10,
                 customers=10_000, seed=3)
    shares = [float(r.node(f"db-{i}").throughput) / float(r.system.throughput) for i in range(4)]
    assert shares == pytest.approx([0.5, 0.25, 0.125, 0.125], abs=0.01)
    db = r.node("db")
    assert within_ci(db.throughput, 1.6)
    assert db.percentile(0.5) is not None and db.percentile(0.99) > db.percentile(0.5)


def test_broker_partitions_load_their_owners():
    model = Model.from_dict({
        "nodes": {"topic": {"kind": "broker", "partitions": 3, "consumers": 2,
                            "partition_weights": [2, 1, 1], "service": 0.2}},
        "arrivals": {"m": {"to": "topic", "rate": 2.0}}})
    r = simulate(model, replications=10, customers=10_000, seed=4)
    # range assignment: consumer 0 owns partitions 0 and 1 (3/4 of messages)
    assert within_ci(r.node("topic-0").utilization, 2.0 * 0.75 * 0.2)
    assert within_ci(r.node("topic-1").utilization, 2.0 * 0.25 * 0.2)
