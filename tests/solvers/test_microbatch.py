"""Tests of qmodel.solvers.microbatch: closed forms and small numpy simulations.

Simulated means are compared within 4 standard errors (batch means over consecutive
blocks of batches), plus, for the approximate scheduling delay, a stated share of it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import pytest

from qmodel.distributions import Deterministic, Exponential, Gamma, HyperExponential
from qmodel.solvers.microbatch import (
    BOTH_TRIGGERS_METHOD,
    BatchMetrics,
    batch_interval_metrics,
    batch_metrics,
    batch_size_metrics,
    windowed_latency,
)

BATCHES = 40_000
BLOCKS = 20


@dataclass
class Simulated:
    latency: float
    latency_se: float
    item_processing: float
    batch_interval: float
    batch_size: float
    collection_wait: float


def simulate(lam, fixed, per_item, servers, rng, T=math.inf, B=None) -> Simulated:
    """Poisson items into a batcher closing at T after opening or at B items (the timer
    restarts at every close); batches FCFS on ``servers`` processors."""
    opens, closes, sizes, waits_to_close = _batches(lam, T, B, rng)
    n_items = int(sizes.sum())
    owner = np.repeat(np.arange(sizes.size), sizes)
    service = fixed.sample(rng, sizes.size) + np.bincount(
        owner, weights=per_item.sample(rng, n_items), minlength=sizes.size)
    done = closes + _queue_waits(closes, service, servers) + service
    keep = slice(sizes.size // 10, None)                     # burn-in
    per_batch_latency = waits_to_close + sizes * (done - closes)
    blocks_lat = [b.sum() / s.sum() for b, s in zip(np.array_split(per_batch_latency[keep], BLOCKS),
                                                   np.array_split(sizes[keep], BLOCKS))]
    return Simulated(
        latency=float(per_batch_latency[keep].sum() / sizes[keep].sum()),
        latency_se=float(np.std(blocks_lat, ddof=1) / math.sqrt(BLOCKS)),
        item_processing=float((sizes * service)[keep].sum() / sizes[keep].sum()),
        batch_interval=float(np.mean(closes[keep] - opens[keep])),
        batch_size=float(sizes[keep].mean()),
        collection_wait=float(waits_to_close[keep].sum() / sizes[keep].sum()),
    )


def _batches(lam, T, B, rng):
    """Open and close times, item counts and summed item waits until close per batch."""
    if B is None:                                            # closes every T
        closes = T * np.arange(1, BATCHES + 1)
        arrivals = _arrivals(lam, closes[-1], rng)
        owner = np.searchsorted(closes, arrivals)
    elif T == math.inf:                                      # closes at every B-th item
        arrivals = _arrivals(lam, 1.2 * B * BATCHES / lam, rng)[: B * BATCHES]
        closes = arrivals[B - 1::B]
        owner = np.arange(arrivals.size) // B
    else:
        return _batches_both(lam, T, B, rng)
    sizes = np.bincount(owner, minlength=BATCHES)
    waits = np.bincount(owner, weights=closes[owner] - arrivals, minlength=BATCHES)
    return np.concatenate([[0.0], closes[:-1]]), closes, sizes, waits


def _batches_both(lam, T, B, rng):
    arrivals = _arrivals(lam, 1.2 * BATCHES * min(T, B / lam), rng)
    opens, closes, sizes, waits = [], [], [], []
    start, first = 0.0, 0
    for _ in range(BATCHES):
        last = min(np.searchsorted(arrivals, start + T, side="right"), first + B)
        close = arrivals[last - 1] if last - first == B else start + T
        opens.append(start)
        closes.append(close)
        sizes.append(last - first)
        waits.append(float(np.sum(close - arrivals[first:last])))
        start, first = close, last
    return np.array(opens), np.array(closes), np.array(sizes), np.array(waits)


def _arrivals(lam, horizon, rng):
    times = np.cumsum(rng.exponential(1 / lam, int(lam * horizon * 1.1) + 1000))
    assert times[-1] > horizon
    return times[times <= horizon]


def _queue_waits(closes, service, servers):
    """FCFS waits of batches: Lindley for one processor, Kiefer-Wolfowitz for several."""
    if servers == 1:
        steps = np.concatenate([[0.0], service[:-1] - np.diff(closes)])
        level = np.cumsum(steps)
        return level - np.minimum.accumulate(level)
    free = [0.0] * servers
    waits = []
    for t, s in zip(closes.tolist(), service.tolist()):
        begin = max(heapq.heappop(free), t)
        waits.append(begin - t)
        heapq.heappush(free, begin + s)
    return np.array(waits)


def assert_latency(m: BatchMetrics, sim: Simulated, share: float) -> None:
    """Not below the simulation (the delay formulas err on the safe side) and above it by
    at most 4 standard errors plus ``share`` of the approximate scheduling delay."""
    noise = 4 * sim.latency_se
    assert sim.latency - noise <= m.mean_latency <= sim.latency + noise + share * m.scheduling_delay, \
        (m.mean_latency, sim.latency, noise, m.scheduling_delay)


# -- interval trigger --------------------------------------------------------------------


def test_interval_closed_forms():
    fixed, per_item = Gamma(0.2, 0.5), Exponential(0.01)
    m = batch_interval_metrics(30.0, 2.0, fixed, per_item, servers=2)
    assert m.trigger == "interval"
    assert (m.batch_interval, m.batch_interval_scv) == (2.0, 0.0)
    assert m.batch_size_mean == m.batch_size_variance == pytest.approx(60.0)
    assert m.processing_mean == pytest.approx(0.2 + 60 * 0.01)
    variance = 0.2**2 * 0.25 + 60 * 2 * 0.01**2                # Var F + lam T E[P^2]
    assert m.processing_scv == pytest.approx(variance / 0.8**2)
    assert m.utilization == pytest.approx(0.8 / (2 * 2.0))
    assert m.saturation_rate == pytest.approx((2 * 2.0 - 0.2) / (2.0 * 0.01))
    assert m.collection_wait == 1.0
    assert m.item_processing == pytest.approx(0.8 + 0.01)      # size-biased: one item more
    assert m.method == "approximation(Allen-Cunneen)"
    assert m.mean_latency == pytest.approx(1.0 + m.scheduling_delay + m.item_processing)


def test_interval_light_load_is_half_interval_plus_processing():
    rng = np.random.default_rng(11)
    fixed, per_item = Gamma(0.05, 0.5), Exponential(0.005)
    m = batch_interval_metrics(20.0, 1.0, fixed, per_item)
    sim = simulate(20.0, fixed, per_item, 1, rng, T=1.0)
    assert m.utilization == pytest.approx(0.15)
    assert m.scheduling_delay < 2e-3
    assert m.mean_latency == pytest.approx(0.5 + m.item_processing, abs=1e-3)
    assert_latency(m, sim, share=0.5)
    assert sim.collection_wait == pytest.approx(0.5, abs=0.01)


def test_items_see_size_biased_processing():
    """An item's batch is larger than the average batch: E[N S]/E[N] = E[S] + E[P]."""
    rng = np.random.default_rng(12)
    fixed, per_item = Deterministic(0.0), Exponential(0.05)
    m = batch_interval_metrics(4.0, 1.0, fixed, per_item)
    sim = simulate(4.0, fixed, per_item, 1, rng, T=1.0)
    assert m.item_processing == pytest.approx(m.processing_mean + 0.05)
    assert sim.item_processing == pytest.approx(m.item_processing, rel=0.02)
    assert abs(sim.item_processing - m.processing_mean) > 0.04


@pytest.mark.parametrize("servers, lam", [(1, 65.0), (2, 150.0)])
def test_interval_queueing_matches_simulation(servers, lam):
    rng = np.random.default_rng(13 + servers)
    fixed, per_item = HyperExponential.balanced(0.2, 3.0), Exponential(0.01)
    m = batch_interval_metrics(lam, 1.0, fixed, per_item, servers)
    sim = simulate(lam, fixed, per_item, servers, rng, T=1.0)
    assert m.stable and 0.8 <= m.utilization <= 0.9
    assert m.scheduling_delay > 0.05
    assert_latency(m, sim, share=0.6)


# -- size trigger ------------------------------------------------------------------------


def test_size_trigger_matches_simulation():
    rng = np.random.default_rng(21)
    fixed, per_item = Exponential(0.1), Gamma(0.01, 0.5)
    m = batch_size_metrics(60.0, 40, fixed, per_item)
    assert m.collection_wait == pytest.approx(39 / 120)
    assert (m.batch_size_mean, m.batch_size_variance) == (40.0, 0.0)
    assert m.batch_interval == pytest.approx(40 / 60)
    assert m.batch_interval_scv == pytest.approx(1 / 40)
    assert m.processing_mean == pytest.approx(0.1 + 40 * 0.01)
    assert m.utilization == pytest.approx(0.5 / (40 / 60))
    assert m.saturation_rate == pytest.approx(40 / 0.5)
    assert m.item_processing == m.processing_mean
    m = batch_size_metrics(70.0, 40, fixed, per_item)
    sim = simulate(70.0, fixed, per_item, 1, rng, B=40)
    assert sim.collection_wait == pytest.approx(m.collection_wait, rel=0.02)
    assert_latency(m, sim, share=0.6)


# -- both triggers -----------------------------------------------------------------------


def test_both_triggers_cycle_is_exact_and_latency_close():
    rng = np.random.default_rng(31)
    fixed, per_item = Exponential(0.05), Exponential(0.02)
    m = batch_metrics(25.0, 1.0, 25, fixed, per_item)
    sim = simulate(25.0, fixed, per_item, 1, rng, T=1.0, B=25)
    assert m.trigger == "interval or size" and m.method == BOTH_TRIGGERS_METHOD
    assert m.batch_size_mean < 25 and m.batch_interval < 1.0
    assert sim.batch_size == pytest.approx(m.batch_size_mean, rel=0.01)
    assert sim.batch_interval == pytest.approx(m.batch_interval, rel=0.01)
    assert sim.collection_wait == pytest.approx(m.collection_wait, rel=0.02)
    assert_latency(m, sim, share=1.0)                        # light load: delay ~ 0


def test_both_triggers_reduce_to_one_trigger():
    fixed, per_item = Deterministic(0.1), Exponential(0.004)
    by_time = batch_interval_metrics(100.0, 1.0, fixed, per_item)
    loose_size = batch_metrics(100.0, 1.0, 10**6, fixed, per_item)
    for name in ("batch_interval", "batch_size_mean", "batch_size_variance", "collection_wait",
                 "processing_mean", "processing_scv", "utilization", "saturation_rate",
                 "item_processing", "mean_latency"):
        assert getattr(loose_size, name) == pytest.approx(getattr(by_time, name), rel=1e-9,
                                                          abs=1e-12), name
    by_size = batch_size_metrics(100.0, 20, fixed, per_item)
    loose_time = batch_metrics(100.0, 1e4, 20, fixed, per_item)
    for name in ("batch_interval", "batch_interval_scv", "batch_size_mean", "collection_wait",
                 "processing_mean", "utilization", "saturation_rate", "mean_latency"):
        assert getattr(loose_time, name) == pytest.approx(getattr(by_size, name), rel=1e-9), name


def test_dispatch():
    fixed, per_item = Deterministic(0.1), Exponential(0.004)
    assert batch_metrics(10.0, 1.0, None, fixed, per_item).trigger == "interval"
    assert batch_metrics(10.0, None, 5, fixed, per_item).trigger == "size"
    with pytest.raises(ValueError, match="T, the batch size B"):
        batch_metrics(10.0, None, None, fixed, per_item)


# -- stability ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda lam: batch_interval_metrics(lam, 0.5, Gamma(0.1, 0.3), Exponential(0.002), 2),
    lambda lam: batch_size_metrics(lam, 30, Gamma(0.1, 0.3), Exponential(0.002), 2),
    lambda lam: batch_metrics(lam, 0.5, 30, Gamma(0.1, 0.3), Exponential(0.002), 2),
])
def test_stability_boundary(make):
    saturation = make(1.0).saturation_rate
    assert make(saturation).utilization == pytest.approx(1.0, rel=1e-9)
    below, above = make(saturation * 0.999), make(saturation * 1.001)
    assert below.stable and below.utilization < 1
    assert below.scheduling_delay > 0 and below.mean_latency > below.collection_wait
    assert not above.stable and above.utilization > 1
    assert above.scheduling_delay is None and above.mean_latency is None
    assert above.processing_mean > 0 and above.collection_wait > 0


def test_saturation_edge_cases():
    assert batch_interval_metrics(1.0, 1.0, Deterministic(1.0), Exponential(0.1)).saturation_rate == 0
    free = batch_interval_metrics(1.0, 1.0, Deterministic(0.5), Deterministic(0.0))
    assert free.saturation_rate == math.inf and free.scheduling_delay == 0.0
    assert batch_metrics(1.0, 1.0, 5, Deterministic(0.0), Deterministic(0.0)).saturation_rate \
        == math.inf
    assert batch_size_metrics(1.0, 5, Deterministic(0.0), Deterministic(0.0)).saturation_rate \
        == math.inf


@pytest.mark.parametrize("call, message", [
    (lambda: batch_interval_metrics(0.0, 1.0, Deterministic(0.1), Deterministic(0.0)), "lam"),
    (lambda: batch_interval_metrics(1.0, -1.0, Deterministic(0.1), Deterministic(0.0)), "T"),
    (lambda: batch_size_metrics(1.0, 0, Deterministic(0.1), Deterministic(0.0)), "B"),
    (lambda: batch_size_metrics(1.0, 2, Deterministic(0.1), Deterministic(0.0), 0), "servers"),
    (lambda: batch_metrics(1.0, 1.0, 2.5, Deterministic(0.1), Deterministic(0.0)), "B"),
])
def test_invalid_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- windows -----------------------------------------------------------------------------


def test_windowed_latency_against_arrival_sampling():
    """First and last slide boundaries whose window (s - W, s] holds a uniform arrival."""
    T, window, slide = 1.0, 5.0, 2.0
    arrivals = np.random.default_rng(41).uniform(0, 1000, 200_000)
    first = np.ceil(arrivals / slide) * slide
    last = np.ceil((arrivals + window) / slide) * slide - slide
    w = windowed_latency(T, window, slide, scheduling_delay=0.3, processing=0.2)
    assert w.first == pytest.approx(np.mean(first - arrivals) + 0.5, abs=0.01)
    assert w.last == pytest.approx(np.mean(last - arrivals) + 0.5, abs=0.01)
    assert w.windows_per_item == pytest.approx(np.mean((last - first) / slide + 1), abs=0.01)


def test_windowed_latency_reduces_to_batches_and_checks_multiples():
    m = batch_interval_metrics(50.0, 1.0, Deterministic(0.1), Exponential(0.004))
    w = windowed_latency(1.0, 1.0, 1.0, m.scheduling_delay, m.item_processing)
    assert w.first == w.last == pytest.approx(m.mean_latency)
    with pytest.raises(ValueError, match="multiple of T"):
        windowed_latency(1.0, 2.5, 1.0)
    with pytest.raises(ValueError, match="must not exceed"):
        windowed_latency(1.0, 2.0, 3.0)
