"""Replicated store: an R-of-N quorum read takes the R-th order statistic of the replica
latencies (David & Nagaraja 2003), and its staleness follows PBS (Bailis et al., VLDB
2012): never stale when R + W > N, C(N-W, R)/C(N, R) right after the commit when
replication is slow, falling with the time since the commit."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel.distributions import Empirical
from qmodel.sim import simulate
from qmodel.solvers import forkjoin

from .helpers import close, example, load, solved

quorum = example("replicated_store_quorum")


@pytest.fixture(scope="module")
def times():
    sim = simulate(load("replicated_store"), replications=2, customers=8_000, seed=2,
                   trace=True)
    return sim, *quorum.replica_times(sim.trace)


def test_the_all_replica_read_is_the_fork_join_of_the_model(times):
    sim, reads, _ = times
    all_three = quorum.quorum_latency(reads, 3)
    assert close(sim.classes["reads"].mean_response_time, all_three, 0.01)
    # the analytic fork-join (independent branches) gives the same R = N read
    exact = solved("replicated_store")
    assert exact.classes["reads"].mean_response_time == pytest.approx(all_three, rel=0.05)


@pytest.mark.parametrize("r", [1, 2, 3])
def test_quorum_read_latency_is_the_r_th_order_statistic(times, r):
    _, reads, _ = times
    replica = Empirical(tuple(reads.ravel()))
    # the replicas share the read stream, so their times are mildly correlated: 5%
    assert quorum.quorum_latency(reads, r) == pytest.approx(
        forkjoin.order_statistic_mean(replica, 3, r), rel=0.05)


def test_one_of_three_is_faster_and_all_three_slower_than_one_replica(times):
    _, reads, _ = times
    assert quorum.quorum_latency(reads, 1) < 0.5 * reads.mean()
    assert quorum.quorum_latency(reads, 3) > 1.5 * reads.mean()


def test_stale_reads_follow_pbs(times):
    _, reads, lags = times
    rng = np.random.default_rng(1)
    # R + W > N: the leader is in every read quorum
    assert quorum.stale_probability(0.0, 3, reads, lags, rng, 20_000) == 0.0
    for r in (1, 2):
        # replication far slower than reads: a read quorum is a random R of N replicas
        slow = quorum.stale_probability(0.0, r, reads, lags * 1e4, rng, 40_000)
        assert slow == pytest.approx(quorum.k_staleness(r), abs=0.01)
        curve = [quorum.stale_probability(t, r, reads, lags, rng, 40_000)
                 for t in (0.0, 0.002, 0.008)]
        assert curve[0] < quorum.k_staleness(r)
        assert curve[0] > curve[1] > curve[2]
    assert quorum.k_staleness(1) == pytest.approx(2 / 3) and quorum.k_staleness(2) == \
        pytest.approx(1 / 3)
