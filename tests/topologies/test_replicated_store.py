"""Replicated store: an R-of-N quorum read (the read join's ``quorum``) takes the R-th order
statistic of the replica latencies (David & Nagaraja 2003), and its staleness follows PBS
(Bailis et al., VLDB 2012): never stale when R + W > N, C(N-W, R)/C(N, R) right after the
commit when replication is slow, falling with the time since the commit."""

from __future__ import annotations

import numpy as np
import pytest

import qmodel
from qmodel.sim import simulate
from qmodel.solvers import forkjoin

from .helpers import close, erlang_c, example, load, mmc_response, solved

pbs = example("replicated_store_quorum")
LAM, MU, C = 800.0, 500.0, 4  # each replica's read stage: M/M/4, 800 reads/s of 2 ms


def replica_cdf(t: np.ndarray) -> np.ndarray:
    """M/M/c FCFS response time: Exp(mu) service after an Exp(c mu - lam) wait with
    probability C(c, lam/mu) (Erlang C)."""
    wait, theta = erlang_c(C, LAM / MU), C * MU - LAM
    both = (theta * np.exp(-MU * t) - MU * np.exp(-theta * t)) / (theta - MU)
    return 1.0 - (1.0 - wait) * np.exp(-MU * t) - wait * both


def r_th_read(r: int) -> float:
    """Mean R-of-3 read latency for independent M/M/4 replicas (s)."""
    return forkjoin.order_statistic_mean(replica_cdf, 3, r)


def with_quorum(r: int) -> qmodel.Model:
    return load("replicated_store").with_changes({"nodes.read_done.quorum": r})


@pytest.fixture(scope="module")
def times():
    sim = simulate(load("replicated_store"), replications=2, customers=8_000, seed=2,
                   trace=True)
    return pbs.replica_times(sim.trace)


def test_the_model_reads_two_of_three():
    result = solved("replicated_store")
    assert load("replicated_store").network.station("read_done").quorum == 2
    assert result.classes["reads"].mean_response_time == pytest.approx(r_th_read(2), rel=1e-9)
    assert result.classes["reads"].throughput == pytest.approx(LAM)
    assert result.system.loss_probability == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("r", [1, 2, 3])
def test_quorum_read_latency_is_the_r_th_order_statistic(r):
    # an M/M/4 replica's time is phase-type, and so is their R-th: the closed form
    exact = r_th_read(r)
    solved_r = qmodel.solve(with_quorum(r))
    assert solved_r.classes["reads"].mean_response_time == pytest.approx(exact, rel=1e-9)
    assert solved_r.node("read_done").method == forkjoin.INDEPENDENT_METHOD
    sim = simulate(with_quorum(r), replications=4, customers=10_000, seed=r)
    # the replicas share the read stream, so their times are mildly correlated: 5%
    assert close(sim.classes["reads"].mean_response_time, exact, 0.05)
    # the late answers are dropped: one read leaves the join per read forked
    assert sim.node("read_done").throughput == pytest.approx(sim.node("read").throughput,
                                                             rel=1e-3)


def test_one_of_three_is_faster_and_all_three_slower_than_one_replica():
    one = mmc_response(LAM, MU, C)
    fastest, slowest = (qmodel.solve(with_quorum(r)).classes["reads"].mean_response_time
                        for r in (1, 3))
    assert fastest < 0.5 * one and slowest > 1.5 * one


def test_stale_reads_follow_pbs(times):
    reads, lags = times
    rng = np.random.default_rng(1)
    # R + W > N: the leader is in every read quorum
    assert pbs.stale_probability(0.0, 3, reads, lags, rng, 20_000) == 0.0
    for r in (1, 2):
        # replication far slower than reads: a read quorum is a random R of N replicas
        slow = pbs.stale_probability(0.0, r, reads, lags * 1e4, rng, 40_000)
        assert slow == pytest.approx(pbs.k_staleness(r), abs=0.01)
        curve = [pbs.stale_probability(t, r, reads, lags, rng, 40_000)
                 for t in (0.0, 0.002, 0.008)]
        assert curve[0] < pbs.k_staleness(r)
        assert curve[0] > curve[1] > curve[2]
    assert pbs.k_staleness(1) == pytest.approx(2 / 3) and pbs.k_staleness(2) == \
        pytest.approx(1 / 3)


def test_solve_gives_the_pbs_staleness_of_the_consistency_section():
    # N = 3, R = 2, W = 1: the leader holds the write at the commit; follower i gets it an
    # M/M/1 response later (200 writes/s of 2 ms: Exp(300/s)); each replica answers a
    # read in its M/M/4 response. A Monte Carlo of those laws, written here, is the check.
    stale = solved("replicated_store").consistency
    assert (stale.n, stale.r, stale.w) == (3, 2, 1)
    assert stale.p_stale_k == pytest.approx(1 / 3) and stale.p_stale_k.method == "exact"
    rng = np.random.default_rng(5)
    size = 100_000
    waits = rng.random((size, 3)) < erlang_c(C, LAM / MU)
    reads = rng.exponential(1 / MU, (size, 3)) + waits * rng.exponential(1 / (C * MU - LAM),
                                                                         (size, 3))
    lags = np.column_stack([np.zeros(size), rng.exponential(1 / 300, (size, 2))])
    fastest = np.argsort(reads, axis=1)[:, :2]
    ahead = np.take_along_axis(lags - reads, fastest, axis=1).min(axis=1)
    for t, p in stale.p_stale_at:
        direct = float(np.mean(ahead > t))
        se = np.sqrt(max(direct * (1 - direct), 1e-5) * (1 / size + 1 / 100_000))
        assert abs(p - direct) < 4 * se, (t, float(p), direct)
    assert stale.p_stale_at[0][1] < stale.p_stale_k  # followers catch up during the read
    assert float(np.mean(ahead > stale.t_999)) == pytest.approx(0.001, abs=3e-4)
    strict = qmodel.solve(with_quorum(3)).consistency
    assert strict.p_stale_k == 0.0 and all(p == 0.0 for _, p in strict.p_stale_at)
