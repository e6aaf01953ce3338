"""Tests of qmodel.solvers.microbatch: closed forms and small numpy simulations.

Simulated means are compared within 4 standard errors (batch means over consecutive
blocks of batches) plus the stated accuracy of the scheduling delay: the mean latency
within 2% for one batch processor (Spitzer's identity) and 10% for several (its
Allen-Cunneen scaling), at utilizations 0.3 to 0.9 and for each trigger.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import optimize

from qmodel.distributions import Deterministic, Exponential, Gamma, HyperExponential
from qmodel.solvers.microbatch import (
    ONE_PROCESSOR_METHOD,
    PROCESSORS_METHOD,
    BatchMetrics,
    batch_interval_metrics,
    batch_metrics,
    batch_size_metrics,
    gig1_wait,
    offered_load,
    windowed_latency,
)

BATCHES = 40_000
BLOCKS = 20
ONE_PROCESSOR = 0.02     # stated accuracy of the mean latency (module docstring)
PROCESSORS = 0.10


@dataclass
class Simulated:
    latency: float
    latency_se: float
    item_processing: float
    batch_interval: float
    batch_size: float
    collection_wait: float


def simulate(lam, fixed, per_item, servers, rng, T=None, B=None, batches=BATCHES
             ) -> Simulated:
    """Poisson items into a batcher with the module's triggers; ``batches`` batches FCFS
    on ``servers`` processors."""
    closes, sizes, waits_to_close = _batches(lam, T, B, rng, batches)
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
        batch_interval=float(np.mean(np.diff(closes[keep]))),
        batch_size=float(sizes[keep].mean()),
        collection_wait=float(waits_to_close[keep].sum() / sizes[keep].sum()),
    )


def _batches(lam, T, B, rng, batches):
    """Close times, item counts and summed item waits until close per batch."""
    if B is None:                                            # a tick every T
        closes = T * np.arange(1, batches + 1)
        arrivals = _arrivals(lam, closes[-1], rng)
        owner = np.searchsorted(closes, arrivals)
    elif T is None:                                          # closes at every B-th item
        arrivals = _arrivals(lam, 1.2 * B * batches / lam, rng)[: B * batches]
        closes = arrivals[B - 1::B]
        owner = np.arange(arrivals.size) // B
    else:
        closes, arrivals, owner = _batches_both(lam, T, B, rng, batches)
    sizes = np.bincount(owner, minlength=batches)
    waits = np.bincount(owner, weights=closes[owner] - arrivals, minlength=batches)
    return closes, sizes, waits


def _batches_both(lam, T, B, rng, batches):
    """A batch opens with its first item and closes at its B-th or T later."""
    arrivals = _arrivals(lam, 1.2 * batches * (1 / lam + min(T, B / lam)), rng)
    closes, ends, first = [], [], 0
    for _ in range(batches):
        opened = arrivals[first]
        last = min(np.searchsorted(arrivals, opened + T, side="right"), first + B)
        closes.append(arrivals[last - 1] if last - first == B else opened + T)
        ends.append(last)
        first = last
    owner = np.repeat(np.arange(batches), np.diff(ends, prepend=0))
    return np.array(closes), arrivals[:first], owner


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


def assert_latency(m: BatchMetrics, sim: Simulated, servers: int) -> None:
    """Within 4 standard errors plus the stated accuracy for ``servers`` processors."""
    share = ONE_PROCESSOR if servers == 1 else PROCESSORS
    allowed = 4 * sim.latency_se + share * sim.latency
    assert abs(m.mean_latency - sim.latency) <= allowed, (m.mean_latency, sim.latency, allowed)


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
    assert m.method == PROCESSORS_METHOD
    assert m.mean_latency == pytest.approx(1.0 + m.scheduling_delay + m.item_processing)


def test_interval_light_load_is_half_interval_plus_processing():
    rng = np.random.default_rng(11)
    fixed, per_item = Gamma(0.05, 0.5), Exponential(0.005)
    m = batch_interval_metrics(20.0, 1.0, fixed, per_item)
    sim = simulate(20.0, fixed, per_item, 1, rng, T=1.0)
    assert m.utilization == pytest.approx(0.15)
    assert m.method == ONE_PROCESSOR_METHOD and m.scheduling_delay < 1e-4
    assert m.mean_latency == pytest.approx(0.5 + m.item_processing, abs=1e-4)
    assert_latency(m, sim, 1)
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


def test_empty_interval_batches_cost_their_fixed_time():
    """Spark runs a job every interval: at 0.5 items per 1 s interval 61% of the batches
    are empty, and still each takes its fixed 0.3 s."""
    m = batch_interval_metrics(0.5, 1.0, Deterministic(0.3), Deterministic(0.01))
    assert m.utilization == pytest.approx(0.3 + 0.5 * 0.01)
    assert offered_load(0.5, 1.0, None, Deterministic(0.3), Deterministic(0.01)) \
        == pytest.approx(m.utilization)


# -- size trigger ------------------------------------------------------------------------


def test_size_closed_forms():
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


# -- both triggers -----------------------------------------------------------------------


def test_both_triggers_cycle_is_exact():
    """Batch sizes, times between closes and collection waits as simulated."""
    rng = np.random.default_rng(31)
    fixed, per_item = Exponential(0.05), Exponential(0.02)
    m = batch_metrics(25.0, 1.0, 25, fixed, per_item)
    sim = simulate(25.0, fixed, per_item, 1, rng, T=1.0, B=25)
    assert m.trigger == "interval or size" and m.method == ONE_PROCESSOR_METHOD
    assert 1 < m.batch_size_mean < 25 and 1 / 25 < m.batch_interval < 1 / 25 + 1
    assert sim.batch_size == pytest.approx(m.batch_size_mean, rel=0.01)
    assert sim.batch_interval == pytest.approx(m.batch_interval, rel=0.01)
    assert sim.collection_wait == pytest.approx(m.collection_wait, rel=0.02)


def test_both_triggers_limits():
    """A huge size leaves the linger: the first item and Poisson(lam T) more, waiting T
    and T/2; a huge interval leaves the size trigger; size 1 sends each item at once."""
    fixed, per_item = Deterministic(0.1), Exponential(0.004)
    linger = batch_metrics(100.0, 0.2, 10**6, fixed, per_item)
    assert linger.batch_size_mean == pytest.approx(21.0)
    assert linger.batch_interval == pytest.approx(0.01 + 0.2)
    assert linger.collection_wait == pytest.approx((0.2 + 20 * 0.1) / 21)
    by_size = batch_size_metrics(100.0, 20, fixed, per_item)
    loose_time = batch_metrics(100.0, 1e4, 20, fixed, per_item)
    for name in ("batch_interval", "batch_interval_scv", "batch_size_mean", "collection_wait",
                 "processing_mean", "utilization", "saturation_rate", "mean_latency"):
        assert getattr(loose_time, name) == pytest.approx(getattr(by_size, name), rel=1e-9), name
    single = batch_metrics(5.0, 1.0, 1, fixed, per_item)
    assert (single.batch_size_mean, single.collection_wait) == (1.0, 0.0)
    assert single.batch_interval_scv == pytest.approx(1.0)    # Poisson closes


def test_dispatch():
    fixed, per_item = Deterministic(0.1), Exponential(0.004)
    assert batch_metrics(10.0, 1.0, None, fixed, per_item).trigger == "interval"
    assert batch_metrics(10.0, None, 5, fixed, per_item).trigger == "size"
    with pytest.raises(ValueError, match="T, the batch size B"):
        batch_metrics(10.0, None, None, fixed, per_item)


# -- the scheduling delay ----------------------------------------------------------------


@pytest.mark.parametrize("rho, rel", [(0.5, 1e-9), (0.9, 1e-9), (0.999, 1e-3)])
def test_spitzer_wait_is_exact_for_d_m_1(rho, rel):
    """Exponential service, an arrival every T: the increment sums are translated gammas,
    and the D/M/1 wait is sigma / (mu (1 - sigma)), sigma = exp(-mu T (1 - sigma)); near
    saturation the terms past 2^14, summed as normal ones, cost 0.06%."""
    T = 1 / rho
    sigma = optimize.brentq(lambda s: s - math.exp(-T * (1 - s)), 1e-12, 1 - 1e-12)
    assert gig1_wait((1 - T, 1.0, 2.0)) == pytest.approx(sigma / (1 - sigma), rel=rel)


TRIGGERS = {"interval": {"T": 1.0}, "size": {"B": 20}, "both": {"T": 0.5, "B": 40}}


@pytest.mark.parametrize("servers", [1, 2])
@pytest.mark.parametrize("load", [0.3, 0.6, 0.9])
@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_latency_matches_simulation(trigger, load, servers):
    fixed, per_item = Gamma(0.2, 1.0), Exponential(0.005)
    kw = TRIGGERS[trigger]
    lam = optimize.brentq(lambda x: offered_load(x, kw.get("T"), kw.get("B"), fixed, per_item,
                                                 servers) - load, 1e-3, 1e5)
    m = batch_metrics(lam, kw.get("T"), kw.get("B"), fixed, per_item, servers)
    sim = simulate(lam, fixed, per_item, servers, np.random.default_rng(7),
                   batches=BATCHES * (4 if load > 0.8 else 1), **kw)
    assert m.utilization == pytest.approx(load)
    assert m.method == (ONE_PROCESSOR_METHOD if servers == 1 else PROCESSORS_METHOD)
    assert_latency(m, sim, servers)


def test_variable_overheads_in_heavy_traffic():
    """Hyperexponential overheads (scv 3) at utilization 0.85."""
    rng = np.random.default_rng(13)
    fixed, per_item = HyperExponential.balanced(0.2, 3.0), Exponential(0.01)
    m = batch_interval_metrics(65.0, 1.0, fixed, per_item)
    sim = simulate(65.0, fixed, per_item, 1, rng, T=1.0)
    assert 0.8 <= m.utilization <= 0.9 and m.scheduling_delay > 0.05
    assert_latency(m, sim, 1)


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


@pytest.mark.parametrize("T, B", [(0.5, None), (None, 30), (0.5, 30), (0.5, 5000)])
def test_offered_load_is_the_utilization(T, B):
    fixed, per_item = Gamma(0.1, 0.3), Exponential(0.002)
    for lam in (3.0, 80.0, 900.0):
        m = batch_metrics(lam, T, B, fixed, per_item, 2)
        assert offered_load(lam, T, B, fixed, per_item, 2) == pytest.approx(m.utilization)


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


def test_window_metrics_reduce_to_the_interval_and_count_each_item_per_window():
    fixed, per_item = Gamma(0.1, 0.5), Exponential(0.004)
    plain = batch_interval_metrics(50.0, 1.0, fixed, per_item)
    same = batch_metrics(50.0, 1.0, None, fixed, per_item, window=1.0)
    assert same.mean_latency == pytest.approx(plain.mean_latency, rel=1e-12)
    wide = batch_metrics(50.0, 0.5, None, fixed, per_item, window=3.0, slide=1.0)
    assert wide.trigger == "window" and wide.batch_interval == 1.0
    assert wide.utilization == pytest.approx((0.1 + 50 * 3.0 * 0.004) / 1.0)
    assert wide.utilization == pytest.approx(
        offered_load(50.0, 0.5, None, fixed, per_item, window=3.0, slide=1.0))
    assert wide.item_processing == pytest.approx(0.1 + (1 + 150) * 0.004)
    assert wide.collection_wait == 0.5
    assert batch_metrics(wide.saturation_rate, 0.5, None, fixed, per_item, window=3.0,
                         slide=1.0).utilization == pytest.approx(1.0)
    with pytest.raises(ValueError, match="window"):
        batch_metrics(50.0, 0.5, None, fixed, per_item, window=math.nan)
