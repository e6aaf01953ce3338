"""Batchers: interval batching adds about T/2 at light load; size triggers release early."""

from __future__ import annotations

import pytest

from qmodel import Model, solve
from qmodel.sim import simulate

from .theory import within_ci


def batcher(**fields) -> Model:
    return Model.from_dict({"nodes": {"b": {"kind": "batcher", **fields}},
                            "arrivals": {"a": {"to": "b", "rate": 0.5}}})


def test_interval_adds_half_an_interval_at_light_load():
    T = 2.0
    r = simulate(batcher(interval=T, fixed={"dist": "deterministic", "value": 0.01}),
                 replications=10, customers=10_000, seed=2)
    assert within_ci(r.node("b").mean_wait, T / 2)
    assert r.node("b").mean_response == pytest.approx(T / 2 + 0.01, rel=0.03)


def test_size_trigger_and_per_item_time():
    # batches of 4: the k-th item of a batch waits for the 4 - k later arrivals
    # (1.5 inter-arrival times on average = 3 s at rate 0.5), then 0.1 + 4 x 0.05 s.
    r = simulate(batcher(batch_size=4, fixed={"dist": "deterministic", "value": 0.1},
                         per_item={"dist": "deterministic", "value": 0.05}),
                 replications=10, customers=10_000, seed=4)
    assert within_ci(r.node("b").mean_wait, 3.0)
    assert r.node("b").mean_response - r.node("b").mean_wait == pytest.approx(0.3, rel=1e-6)


def test_items_leave_together():
    r = simulate(batcher(batch_size=5), replications=1, customers=500, seed=1,
                 trace=True)
    ends = r.trace.groupby("end_s").size()
    assert set(ends.unique()) == {5}


def test_overloaded_batcher_is_reported_unstable():
    """A batch that takes longer than the interval to process: the backlog grows."""
    model = Model.from_dict({
        "nodes": {"mb": {"kind": "batcher", "interval": "1s", "fixed": "0.5s",
                         "per_item": {"dist": "deterministic", "value": "10ms"}}},
        "arrivals": {"ev": {"to": "mb", "rate": "80/s"}},  # 0.5 + 0.8 > 1 s per batch
    })
    assert not solve(model).stable
    sim = simulate(model, replications=2, seed=1, horizon="60s")
    assert [u.station for u in sim.unstable] == ["mb"]
    assert sim.system.mean_response_time is None
