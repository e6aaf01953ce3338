"""The fast path: what it accepts, multi-class networks, bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel import Model
from qmodel.sim import fast, simulate
from qmodel.sim.record import MAX_ROWS
from qmodel.sim.stats import SAMPLE_CAP
from qmodel.sim.streams import Streams, replication_seeds

from .theory import NETWORK_C, single_queue


@pytest.mark.parametrize("change, reason", [
    ({"discipline": "ps"}, "discipline ps"),
    ({"capacity": 5}, "finite capacity"),
    ({"failures": {"mttf": 10, "mttr": 1}}, "failures"),
])
def test_unsupported_features_are_named(change, reason):
    network = Model.from_dict(single_queue(0.5, 1.0, **change)).network
    assert reason in fast.unsupported(network)


def test_closed_classes_and_jsq_need_simpy():
    closed = Model.from_dict({"users": {"u": {"to": "q", "population": 2}},
                              "nodes": {"q": {"kind": "queue", "service": 1.0}}})
    assert "closed classes" in fast.unsupported(closed.network)
    jsq = Model.from_dict({"nodes": {"s": {"kind": "shards", "shards": 2, "routing": "jsq",
                                           "service": 1.0}},
                           "arrivals": {"a": {"to": "s", "rate": 1.0}}})
    assert "jsq routing" in fast.unsupported(jsq.network)
    overflow = jsq.with_changes({"nodes.s.routing": "primary_secondary"})
    assert "primary_secondary routing" in fast.unsupported(overflow.network)
    assert fast.unsupported(Model.from_dict(NETWORK_C).network) is None


def test_multiclass_network_agrees_with_simpy():
    model = Model.from_dict({
        "arrivals": {"a": {"to": "x", "rate": 0.5},
                     "b": {"to": "y", "rate": 0.4, "interarrival": {"cv": 2.0}}},
        "nodes": {"x": {"kind": "queue", "servers": 2, "service": 1.0,
                        "class_service": {"b": {"dist": "uniform", "low": 0.5, "high": 1.5}},
                        "class_next": {"a": {"y": 0.5, "d": 0.2}}},
                  "y": {"kind": "queue", "service": 0.6, "next": {"x": 0.3}},
                  "d": {"kind": "delay", "service": 2.0}}})
    a = simulate(model, replications=10, customers=40_000, seed=3, method="fast")
    b = simulate(model, replications=10, customers=10_000, seed=3, method="simpy")
    for k in ("a", "b"):
        x, y = a.classes[k].mean_response_time, b.classes[k].mean_response_time
        assert x.ci95[0] <= y.ci95[1] and y.ci95[0] <= x.ci95[1], k


def test_memory_does_not_grow_with_customers():
    network = Model.from_dict(single_queue(0.8, 1.0)).network
    _, seqs = replication_seeds(1, 1)
    rep = fast.FastRun(network, Streams(seqs[0]), customers=400_000, horizon=None,
                       warmup=None).run()
    assert len(rep.rows) <= MAX_ROWS + 1
    assert all(len(s.values) < SAMPLE_CAP for s in rep.samples)
    assert rep.samples[0].stride >= 8
    assert len(rep.batch_means) * rep.batch_size == pytest.approx(400_000, rel=0.01)
    assert np.all(np.diff(rep.rows[:, 0]) > 0)
