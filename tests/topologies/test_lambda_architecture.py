"""Lambda architecture: events reach the real-time views in milliseconds and the batch
views only after interval/2 + recompute (the micro-batch formula); queries at the serving
layer do not feel the batch layer (Marz & Warren 2015, ch. 1-2)."""

from __future__ import annotations

import pytest

from qmodel.sim import simulate
from qmodel.solvers import microbatch

from .helpers import close, load, mmc_response

# A 10-second recompute stands in for the file's 10 minutes, to keep the test short.
SHORT = {"nodes.batch.interval": "10s", "nodes.batch.fixed": {"dist": "gamma", "mean": "2s",
                                                              "cv": 0.1}}


@pytest.fixture(scope="module")
def sim():
    model = load("lambda_architecture").with_changes(SHORT)
    return model, simulate(model, replications=3, customers=24_000, seed=11)


def test_speed_layer_is_fresh_and_batch_views_lag_by_the_micro_batch_latency(sim):
    model, r = sim
    events = model.network.job_class("events").rate
    speed = r.node("speed").mean_response
    assert close(speed, mmc_response(events, 1 / 0.010, 4), 0.03)        # M/M/4
    batch = model.network.station("batch").batch
    lag = microbatch.batch_interval_metrics(events, 10.0, batch.fixed, batch.per_item)
    assert lag.collection_wait == 5.0
    assert close(r.node("batch").mean_response, lag.mean_latency, 0.04)
    assert r.node("batch").mean_response > 300 * speed
    # an event is in both views when its slower path, the batch path, ends
    in_both = r.node("ingest").mean_response + r.node("batch").mean_response
    assert r.classes["events"].mean_response_time == pytest.approx(in_both, rel=0.01)


def test_queries_do_not_feel_the_batch_layer(sim):
    model, r = sim
    queries = model.network.job_class("queries").rate
    expected = mmc_response(queries, 1 / 0.020, 8)                        # M/M/8
    assert close(r.node("serving").mean_response, expected, 0.03)
    slower = load("lambda_architecture").with_changes(
        {**SHORT, "nodes.batch.fixed": {"dist": "gamma", "mean": "6s", "cv": 0.1}})
    r2 = simulate(slower, replications=3, customers=24_000, seed=11)
    assert close(r2.node("serving").mean_response, expected, 0.03)
    assert r2.node("batch").mean_response > r.node("batch").mean_response + 3.0
