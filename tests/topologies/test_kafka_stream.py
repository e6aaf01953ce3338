"""Kafka-style stream: a partition belongs to one consumer (RangeAssignor), so consumers
beyond p idle, p not divisible by g overloads some, and a hot partition owns the tail
(Kafka documentation, consumer groups and RangeAssignor; Kleppmann, DDIA ch. 11)."""

from __future__ import annotations

import math

import pytest

import qmodel
from qmodel.sim import simulate

from .helpers import close, load, mm1_quantile

MU = 1 / 0.004          # a consumer processes a record in 4 ms
UNIFORM = {"nodes.topic.partition_weights": None}


@pytest.fixture(scope="module")
def topic() -> qmodel.Model:
    return load("kafka_stream")


def test_consumers_beyond_the_partitions_do_nothing(topic):
    six = qmodel.solve(topic.with_changes({**UNIFORM, "nodes.topic.consumers": 6}))
    ten = qmodel.solve(topic.with_changes({**UNIFORM, "nodes.topic.consumers": 10}))
    for idle in range(6, 10):
        assert ten.node(f"topic-{idle}").arrival_rate == 0
    assert ten.system.mean_response_time == pytest.approx(six.system.mean_response_time,
                                                          rel=1e-12)
    assert ten.system.saturation_rate == pytest.approx(six.system.saturation_rate, rel=1e-12)


def test_partitions_not_divisible_by_consumers_overload_the_first_ones(topic):
    r = qmodel.solve(topic.with_changes(UNIFORM))          # p = 6, g = 4
    rho = [r.node(f"topic-{i}").utilization for i in range(4)]
    assert rho[0] == pytest.approx(2 * rho[2]) and rho[1] == pytest.approx(2 * rho[3])
    # the group saturates when a consumer with ceil(p/g) = 2 partitions does: g = 4 and
    # g = 5 are no better than g = 3, and g = 6 doubles the capacity
    saturation = {g: qmodel.solve(topic.with_changes(
        {**UNIFORM, "nodes.topic.consumers": g})).system.saturation_rate for g in (3, 4, 5, 6)}
    for g, rate in saturation.items():
        assert rate == pytest.approx(MU * 6 / math.ceil(6 / g), rel=1e-9)


def test_a_hot_partition_dominates_the_tail(topic):
    r = qmodel.solve(topic)
    hot = r.node("topic-0")                 # owns the hot partition 0 (30%) and partition 1
    assert hot.arrival_rate == pytest.approx(0.44 * 400)
    sim = simulate(topic, replications=2, customers=20_000, seed=5, trace=True)
    assert close(sim.node("topic-0").percentile(0.99),
                 mm1_quantile(hot.arrival_rate, MU, 0.99), 0.08)
    visits = sim.trace
    per_record = visits.groupby(["replication", "job"]).agg(
        start=("arrival_s", "min"), end=("end_s", "max"))
    consumer = visits[visits.node.str.startswith("topic-")].set_index(
        ["replication", "job"]).node
    per_record["latency"] = per_record.end - per_record.start
    per_record["consumer"] = consumer
    tail = per_record[per_record.latency > per_record.latency.quantile(0.99)]
    share = (tail.consumer == "topic-0").mean()
    assert share > 0.8                      # 44% of the records, most of the slowest 1%
