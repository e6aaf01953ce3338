"""Tests of qmodel.solvers.batch_latency: an item's latency law through a batcher.

Percentiles are checked against a per-item numpy simulation of the batcher (Poisson
items, the three triggers, FCFS batches on one or two processors): within 4 standard
errors of the block quantiles (20 blocks) plus the stated accuracy, 1% of the value for
one processor and 3% for two (the batch wait is approximated: Spitzer's probability of
waiting with an exponential tail, scaled for several processors); closed forms where no
batch waits.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from scipy import optimize

import qmodel
from qmodel.distributions import (
    Deterministic,
    Empirical,
    Exponential,
    Gamma,
    Mixture,
    Pareto,
)
from qmodel.solvers.batch_latency import CELLS, WAIT_METHOD, item_latency_law, lattice
from qmodel.solvers.microbatch import batch_metrics, offered_load

BLOCKS = 20
SHARE = {1: 0.01, 2: 0.03}     # stated accuracy of the percentiles (module docstring)


def item_latencies(lam, T, B, fixed, per_item, servers, rng, batches):
    """Latency of each item (after a tenth as burn-in) through the batcher's rules."""
    per_batch = T if B is None else B / lam if T is None else 1 / lam + min(T, B / lam)
    arr = np.cumsum(rng.exponential(1 / lam, int(lam * batches * per_batch * 1.3) + 1000))
    if B is None:
        owner = np.floor(arr / T).astype(int)
        closes = T * (np.arange(owner[-1] + 1) + 1)
    elif T is None:
        closes = arr[B - 1::B]
        owner = np.arange(arr.size) // B
        arr, owner = arr[owner < closes.size], owner[owner < closes.size]
    else:
        arr, owner, closes = _both(arr, T, B)
    service = fixed.sample(rng, closes.size) + np.bincount(
        owner, weights=per_item.sample(rng, arr.size), minlength=closes.size)
    free, waits = [0.0] * servers, np.empty(closes.size)
    for j, (t, s) in enumerate(zip(closes.tolist(), service.tolist())):
        begin = max(heapq.heappop(free), t)
        waits[j] = begin - t
        heapq.heappush(free, begin + s)
    latency = closes[owner] - arr + waits[owner] + service[owner]
    return latency[latency.size // 10:]


def _both(arr, T, B):
    """A batch opens with its first item and closes at its B-th or T later."""
    closes, owner, first = [], np.empty(arr.size, int), 0
    while first < arr.size:
        opened = arr[first]
        last = min(int(np.searchsorted(arr, opened + T, side="right")), first + B)
        if last == arr.size and last - first < B:
            break                                   # not closed within the arrivals
        closes.append(arr[last - 1] if last - first == B else opened + T)
        owner[first:last] = len(closes) - 1
        first = last
    return arr[:first], owner[:first], np.array(closes)


def assert_percentiles(law, latencies, servers):
    blocks = np.array_split(latencies, BLOCKS)
    for q in (0.5, 0.95, 0.99):
        sim = float(np.quantile(latencies, q))
        se = np.std([np.quantile(b, q) for b in blocks], ddof=1) / math.sqrt(BLOCKS)
        allowed = 4 * se + SHARE[servers] * sim
        assert abs(law.quantile(q) - sim) <= allowed, (q, law.quantile(q), sim, allowed)


CASES = {   # trigger: (T, B), at a load, on processors
    "interval": (1.0, None),
    "size": (None, 100),
    "both": (1.0, 150),
}


def _solved(trigger, load, servers):
    fixed, per_item = Gamma(0.2, 1.0), Exponential(0.005)
    T, B = CASES[trigger]
    lam = optimize.brentq(lambda x: offered_load(x, T, B, fixed, per_item, servers) - load,
                          1e-3, 1e5)
    m = batch_metrics(lam, T, B, fixed, per_item, servers)
    return lam, T, B, fixed, per_item, m, item_latency_law(lam, T, B, fixed, per_item,
                                                           servers, m)


def _check(trigger, load, servers, batches=20_000, seed=3):
    lam, T, B, fixed, per_item, m, out = _solved(trigger, load, servers)
    assert out.method.startswith(WAIT_METHOD)
    assert out.law.mean() == pytest.approx(m.mean_latency, rel=5e-4)   # kept, to the lattice
    rng = np.random.default_rng(seed)
    assert_percentiles(out.law, item_latencies(lam, T, B, fixed, per_item, servers, rng,
                                               batches), servers)


@pytest.mark.parametrize("trigger, load, servers", [
    ("interval", 0.9, 1), ("size", 0.6, 1), ("both", 0.6, 2)])
def test_percentiles_match_simulation(trigger, load, servers):
    _check(trigger, load, servers)


@pytest.mark.slow
@pytest.mark.full          # 18 cases, ~20 s: the opt-in set (tests/conftest.py)
@pytest.mark.parametrize("servers", [1, 2])
@pytest.mark.parametrize("load", [0.3, 0.6, 0.9])
@pytest.mark.parametrize("trigger", list(CASES))
def test_percentiles_match_simulation_everywhere(trigger, load, servers):
    _check(trigger, load, servers, batches=40_000, seed=11)


def test_labels_say_how_and_name_the_approximations():
    assert _solved("interval", 0.6, 1)[-1].method == WAIT_METHOD + ")"
    assert _solved("interval", 0.6, 2)[-1].method == WAIT_METHOD + ", Allen-Cunneen scaling)"
    assert _solved("both", 0.6, 1)[-1].method == WAIT_METHOD + ", wait independent of the fill)"


def test_wait_is_bounded_by_the_interval_when_no_batch_waits():
    """Deterministic batches shorter than T never wait: the law is uniform on [f, T + f]
    plus the item's share of per-item time; exact."""
    lam, T, f = 20.0, 0.2, Deterministic(0.01)
    m = batch_metrics(lam, T, None, f, Deterministic(0.0))
    out = item_latency_law(lam, T, None, f, Deterministic(0.0), 1, m)
    assert out.method == "exact" and m.delay_probability == 0.0
    for q in (0.5, 0.95, 0.99):
        assert out.law.quantile(q) == pytest.approx(0.01 + q * T, abs=T * 1e-4)
    assert out.law.quantile(0.999999) <= T + 0.01 + T * 1e-4


def test_size_trigger_closed_form():
    """B = 2, no per-item time: half the items wait Exp(lam), the others nothing (a
    batch waits for the one before only when two items come within 1 ms: 8e-6)."""
    lam, f = 4.0, Deterministic(0.001)
    m = batch_metrics(lam, None, 2, f, Deterministic(0.0))
    out = item_latency_law(lam, None, 2, f, Deterministic(0.0), 1, m)
    assert m.delay_probability < 1e-5
    assert out.law.quantile(0.95) == pytest.approx(0.001 + math.log(10) / lam, rel=1e-3)
    step = 7.5 / CELLS          # the lattice: (B - 1 + 12 (sqrt(B) + 1)) / lam over CELLS
    assert out.law.quantile(0.4) == pytest.approx(0.001, abs=2 * step)


def test_both_triggers_with_a_batch_of_one_and_a_linger_that_never_fills():
    f = Deterministic(0.001)
    one = item_latency_law(5.0, 1.0, 1, f, Deterministic(0.0), 1,
                           batch_metrics(5.0, 1.0, 1, f, Deterministic(0.0)))
    assert one.law.quantile(0.99) == pytest.approx(0.001, abs=2 / CELLS)   # the lattice
    # lam T = 0.01: nearly every batch is its opener alone, which waits the whole linger
    lone = item_latency_law(0.01, 1.0, 50, f, Deterministic(0.0), 1,
                            batch_metrics(0.01, 1.0, 50, f, Deterministic(0.0)))
    assert lone.law.quantile(0.5) == pytest.approx(1.001, abs=1e-3)


def test_lattice_keeps_atoms_means_and_mass():
    h, size = 0.1, 64
    assert lattice(Deterministic(0.25), h, 4).tolist() == pytest.approx([0, 0, 0.5, 0.5])
    emp = lattice(Empirical((0.05, 0.3, 0.42)), h, size)
    assert emp.sum() == pytest.approx(1.0)
    assert np.dot(emp, np.arange(size)) * h == pytest.approx((0.05 + 0.3 + 0.42) / 3)
    mix = lattice(Mixture((0.5, 0.5), (Deterministic(0.3), Exponential(1.0))), h, 4096)
    assert mix.sum() == pytest.approx(1.0)
    assert np.dot(mix, np.arange(4096)) * h == pytest.approx(0.65, rel=1e-3)


def test_infinite_variance_falls_back_to_none():
    f, p = Deterministic(0.01), Pareto(1.5, 0.001)
    m = batch_metrics(10.0, 1.0, None, f, p)
    assert item_latency_law(10.0, 1.0, None, f, p, 1, m) is None


def test_solve_labels_the_batchers_percentiles():
    model = qmodel.load("topologies/spark_streaming.yaml")
    node = qmodel.solve(model).node("batches")
    assert node.p95_response.method == WAIT_METHOD + ")"
    assert node.mean_response.method.startswith("approximation(Spitzer")
    assert node.p50_response < node.p95_response < node.p99_response <= 1.0 + 0.2 + 1.0


def test_a_chain_through_a_batcher_keeps_its_law_end_to_end():
    """Receivers (M/M/2, 0.1 ms) then the batcher: the end-to-end law is the sum of the
    two actual laws, not of their two-moment fits (whose p95 was 1.718 s here)."""
    result = qmodel.solve(qmodel.load("topologies/spark_streaming.yaml"))
    node, system = result.node("batches"), result.system
    assert system.p95_response_time.method == "approximation(independent visits)"
    for p in (0.5, 0.95, 0.99):
        assert node.percentile(p) <= system.percentile(p) <= node.percentile(p) + 0.002
