"""Spark-Streaming-style micro-batches: the stability boundary, latency = T/2 + scheduling
delay + processing, the growing delay past the boundary, windowed results (Das et al.,
SoCC 2014; Zaharia et al., SOSP 2013; qmodel.solvers.microbatch)."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.sim import simulate
from qmodel.solvers import microbatch

from .helpers import close, load

RATE = 1000.0                       # records per second


@pytest.fixture(scope="module")
def stream() -> qmodel.Model:
    return load("spark_streaming")


@pytest.fixture(scope="module")
def batch(stream):
    return stream.network.station("batches").batch


def test_stability_boundary(batch):
    # fixed + rate T per_item < T  <=>  T > fixed / (1 - rate per_item) = 0.2 / 0.5 = 0.4 s
    boundary = batch.fixed.mean / (1 - RATE * batch.per_item.mean)
    assert boundary == pytest.approx(0.4)
    assert microbatch.batch_interval_metrics(RATE, boundary * 1.01, batch.fixed,
                                             batch.per_item).stable
    assert not microbatch.batch_interval_metrics(RATE, boundary * 0.99, batch.fixed,
                                                 batch.per_item).stable
    # at T = 1 s the largest stable rate is (T - fixed) / (T per_item) = 1600 records/s
    one = microbatch.batch_interval_metrics(RATE, 1.0, batch.fixed, batch.per_item)
    assert one.saturation_rate == pytest.approx(1600)


@pytest.mark.parametrize("interval", [1.0, 0.6])
def test_latency_is_half_an_interval_plus_scheduling_plus_processing(stream, batch, interval):
    m = microbatch.batch_interval_metrics(RATE, interval, batch.fixed, batch.per_item)
    assert m.collection_wait == pytest.approx(interval / 2)
    # an item sees its own batch, size-biased: fixed + (rate T + 1) per_item
    assert m.item_processing == pytest.approx(
        batch.fixed.mean + (RATE * interval + 1) * batch.per_item.mean)
    sim = simulate(stream.with_changes({"nodes.batches.interval": f"{interval}s"}),
                   replications=4, customers=24_000, seed=2)
    assert close(sim.node("batches").mean_response, m.mean_latency, 0.03)


def test_past_the_boundary_the_scheduling_delay_grows(stream):
    overloaded = stream.with_changes({"nodes.batches.interval": "350ms"})
    runs = [simulate(overloaded, replications=2, horizon=h, warmup=0, seed=3, trace=True)
            for h in (15.0, 30.0)]
    # An unstable stage gets no means, only the statement that it is unstable ...
    assert all([u.station for u in r.unstable] == ["batches"] for r in runs)
    assert all(r.node("batches").mean_wait is None for r in runs)
    # ... while its trace shows the delay growing: each batch adds about (E[S] - T) = 25 ms
    # to the next one's, so the mean wait doubles with the horizon (linear growth).
    waits = []
    for r in runs:
        visits = r.trace[r.trace["node"] == "batches"].dropna(subset=["start_s"])
        waits.append(float((visits["start_s"] - visits["arrival_s"]).mean()))
    assert waits[1] > 1.6 * waits[0]
    batch = overloaded.network.station("batches").batch
    m = microbatch.batch_interval_metrics(RATE, 0.35, batch.fixed, batch.per_item)
    assert not m.stable and m.mean_latency is None


def test_windowed_results_every_slide(stream, batch):
    # reduceByKeyAndWindow(window 2 s, slide 1 s) over T = 0.5 s at 500 records/s: one job
    # per slide over the window's records, each record reduced in window/slide = 2 windows
    window, slide, T, rate = 2.0, 1.0, 0.5, 500.0
    windowed = stream.with_changes({
        "arrivals.records.rate": f"{rate}/s", "nodes.batches.interval": f"{T}s",
        "nodes.batches.window": f"{window}s", "nodes.batches.slide": f"{slide}s"})
    job = microbatch.batch_window_metrics(rate, slide, window, batch.fixed, batch.per_item)
    expected = microbatch.windowed_latency(T, window, slide, job.scheduling_delay,
                                           job.item_processing)
    assert expected.windows_per_item == 2
    solved = qmodel.solve(windowed).node("batches")
    assert solved.mean_response == pytest.approx(expected.first, rel=1e-12)
    assert solved.window_response == pytest.approx(expected.last, rel=1e-12)
    assert solved.batches_per_window == 4
    sim = simulate(windowed, replications=4, customers=12_000, seed=4).node("batches")
    assert close(sim.mean_response, expected.first, 0.03)
    assert close(sim.window_response, expected.last, 0.03)
