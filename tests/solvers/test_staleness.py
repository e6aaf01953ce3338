"""PBS staleness (Bailis et al., VLDB 2012): k-staleness exactly C(N-W, R)/C(N, R), and
the WARS t-visibility against a Monte Carlo written here from the paper's definition
(independent exponential write lags and read times, the read served by its R fastest
replicas), monotone in t and zero for strict quorums."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmodel.distributions import Deterministic, Exponential
from qmodel.solvers.staleness import k_staleness, t_visibility


@pytest.mark.parametrize(("n", "r", "w", "expected"), [
    (3, 1, 1, 2 / 3), (3, 2, 1, 1 / 3), (3, 1, 2, 1 / 3), (3, 2, 2, 0.0), (3, 3, 1, 0.0),
    (3, 1, 3, 0.0), (5, 2, 2, 3 / 10)])   # C(3,2)/C(5,2) = 3/10
def test_k_staleness_is_exact(n, r, w, expected):
    assert k_staleness(n, r, w) == pytest.approx(expected, abs=1e-15)


def test_k_staleness_refuses_quorums_beyond_n():
    with pytest.raises(ValueError, match="1 <= R, W <= N"):
        k_staleness(3, 4, 1)


def wars(read_means, lag_means, r, w, t, size, seed):
    """P(stale at t) by the WARS definition: replica i holds the write lag_i after its
    spread starts (0 with no lag), the write commits at the w-th lag, a read issued t
    later reaches replica i after read_i and keeps the r first answers; stale when none
    of those replicas held the write at that moment."""
    rng = np.random.default_rng(seed)
    n = len(read_means)
    read = rng.exponential(read_means, size=(size, n))
    lag = np.column_stack([np.zeros(size) if m is None else rng.exponential(m, size)
                           for m in lag_means])
    commit = np.sort(lag, axis=1)[:, w - 1]
    order = np.argsort(read, axis=1)[:, :r]
    served = (commit + t)[:, None] + np.take_along_axis(read, order, axis=1)
    fresh = np.take_along_axis(lag, order, axis=1) <= served
    return float(1.0 - fresh.any(axis=1).mean())


CASES = {  # read means, write lag means (None: holds the write from the start), R, W
    "leader, R=1": ([1.0, 1.0, 1.0], [None, 2.0, 2.0], 1, 1),
    "leader, R=2, uneven": ([0.5, 1.0, 2.0], [None, 1.0, 4.0], 2, 1),
    "leaderless W=2 of 3": ([1.0, 1.0, 1.0], [1.0, 1.0, 3.0], 1, 2),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_t_visibility_matches_the_wars_definition(case):
    reads, lags, r, w = CASES[case]
    seen = t_visibility([Exponential(m) for m in reads],
                        [None if m is None else Exponential(m) for m in lags], r, w,
                        draws=40_000, seed=3)
    for t in (0.0, 0.5, 2.0):
        p, half = seen.p_stale(t)
        direct = wars(reads, lags, r, w, t, 40_000, seed=11)
        # two independent estimates of 40,000 draws: 4 standard errors of their difference
        se = math.sqrt(2 * max(direct * (1 - direct), 1e-4) / 40_000)
        assert abs(p - direct) < 4 * se, (t, p, direct)
        assert half == pytest.approx(1.96 * math.sqrt(max(p * (1 - p), 1 / 40_000) / 40_000))


def test_t_visibility_falls_with_t_and_reaches_k_staleness_when_replication_is_slow():
    reads = [Exponential(1.0)] * 3
    slow = t_visibility(reads, [None, Exponential(1e6), Exponential(1e6)], 2, 1,
                        draws=40_000)
    assert slow.p_stale(0.0)[0] == pytest.approx(k_staleness(3, 2, 1), abs=0.01)
    seen = t_visibility(reads, [None, Exponential(2.0), Exponential(2.0)], 2, 1, draws=40_000)
    curve = [seen.p_stale(t)[0] for t in np.linspace(0.0, 20.0, 41)]
    assert all(a >= b for a, b in zip(curve, curve[1:])) and curve[0] > curve[-1]
    t, low, high = seen.t_consistent(0.999)
    assert low <= t <= high and seen.p_stale(t)[0] <= 0.001 < seen.p_stale(0.99 * t)[0]


def test_strict_quorums_are_never_stale():
    # R + W > N: every read quorum meets a replica that had the write at the commit
    for r, w in ((2, 2), (3, 1), (1, 3)):
        seen = t_visibility([Exponential(1.0)] * 3, [Exponential(1.0)] * 3, r, w,
                            draws=20_000)
        assert seen.p_stale(0.0)[0] == 0.0 and seen.t_consistent(0.999)[0] == 0.0


def test_fixed_lags_make_a_sharp_window():
    # a lone replica commits the write itself: never stale
    seen = t_visibility([Deterministic(1.0)], [Deterministic(5.0)], 1, 1, draws=1_000)
    assert seen.p_stale(0.0)[0] == 0.0
    # a follower that gets the write exactly 5 after the leader's commit and answers in
    # exactly 1, before the leader (2), is the R = 1 read: stale until t = 4, never after
    seen = t_visibility([Deterministic(1.0), Deterministic(2.0)],
                        [Deterministic(5.0), None], 1, 1, draws=1_000)
    assert seen.p_stale(3.9)[0] == 1.0 and seen.p_stale(4.1)[0] == 0.0
