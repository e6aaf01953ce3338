"""Retries as a fixed point: the M/M/c response tail against M/M/1 and the phase-type
solver, amplification and goodput identities, every solution found and classified, the
hysteresis loop, what removes it, and a discrete-event simulation of an M/M/c whose
clients time out and retry: within a confidence interval where healthy, and both
states persisting over the horizon in the bistable region."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from scipy import stats

from qmodel.errors import FieldError
from qmodel.solvers.mmc import wait_then_serve
from qmodel.solvers.retry_fixed_point import (
    CancelledTimeouts,
    MGcTimeouts,
    MMcTimeouts,
    RetryPolicy,
    fixed_points,
    hysteresis,
    request_latency,
    stable_points,
    what_removes_it,
)

STATION = MMcTimeouts(c=10, mean_service=0.1)
POLICY = RetryPolicy(timeout=0.3, max_retries=3)


def test_mmc_tail_is_exact():
    # M/M/1: R ~ Exp(mu - lam) (textbook); M/M/3: the phase-type of mmc.wait_then_serve
    one = MMcTimeouts(c=1, mean_service=0.5)
    t = np.array([0.1, 1.0, 4.0])
    assert one.sf(np.full(3, 1.5), t) == pytest.approx(np.exp(-0.5 * t), rel=1e-12)
    three = MMcTimeouts(c=3, mean_service=1.0)
    law = wait_then_serve(4 / 9, 1.0, 1.0)  # lam = 2: C = 4/9, theta = c mu - lam = mu
    assert three.sf(np.full(3, 2.0), t) == pytest.approx(law.sf(t), rel=1e-10)
    assert three.p_timeout(np.array([3.0, 5.0]), 1.0).tolist() == [1.0, 1.0]  # overloaded
    # E[R | R <= tau] from the law's own density
    grid = np.linspace(0, 2.0, 20001)
    dens = law.pdf(grid)
    direct = np.trapezoid(grid * dens, grid) / np.trapezoid(dens, grid)
    assert three.mean_in_time(np.array([2.0]), 2.0)[0] == pytest.approx(direct, rel=1e-6)


def test_mgc_approximation_reduces_to_mmc_and_is_near_a_simulation():
    lam = np.array([12.0, 18.0])
    exp = MGcTimeouts(c=20, mean_service=1.0, scv=1.0).p_timeout(lam, 2.5)
    assert exp == pytest.approx(MMcTimeouts(20, 1.0).p_timeout(lam, 2.5), rel=1e-8)
    # M/E2/4 at rho = 0.8, FCFS by earliest free server; 200,000 jobs measured 0.281 and
    # 0.110 against 0.272 and 0.103 (3% and 7%); Allen-Cunneen is an approximation
    rng = np.random.default_rng(1)
    n, c = 40_000, 4
    arrivals = np.cumsum(rng.exponential(1 / 3.2, n))
    work = rng.gamma(2.0, 0.5, n)
    free, response = [0.0] * c, np.empty(n)
    for i in range(n):
        end = max(arrivals[i], heapq.heappop(free)) + work[i]
        heapq.heappush(free, end)
        response[i] = end - arrivals[i]
    station = MGcTimeouts(c=c, mean_service=1.0, scv=0.5)
    for tau in (2.0, 3.0):
        measured = (response[n // 10:] > tau).mean()
        assert station.p_timeout(np.array([3.2]), tau)[0] == pytest.approx(measured, rel=0.12)


def test_amplification_goodput_and_the_map():
    pol = RetryPolicy(timeout=1.0, max_retries=2)
    assert pol.amplification(np.array([0.0, 0.5, 1.0])).tolist() == [1.0, 1.75, 3.0]
    for point in fixed_points(60.0, STATION, POLICY):
        p, m = point.p_timeout, POLICY.max_retries
        assert point.lam_eff == pytest.approx(60.0 * sum(p**i for i in range(m + 1)), rel=1e-9)
        assert point.goodput == pytest.approx(60.0 * (1 - p ** (m + 1)), rel=1e-9, abs=1e-9)
    assert fixed_points(60.0, STATION, RetryPolicy(0.3, 0))[0].lam_eff == 60.0


def test_every_solution_and_its_stability():
    points = fixed_points(60.0, STATION, POLICY)
    assert [x.state for x in points] == ["healthy", "unstable", "saturated"]
    healthy, threshold, saturated = points
    assert healthy.slope < 1 < threshold.slope and saturated.slope == 0.0
    assert saturated.lam_eff == 240.0 and saturated.goodput == 0.0
    assert healthy.lam_eff < threshold.lam_eff < STATION.capacity
    # light load: one healthy state, since lam0 (m + 1) does not reach the capacity
    assert [x.state for x in fixed_points(20.0, STATION, POLICY)] == ["healthy"]
    # heavy: the healthy state is gone (a saddle-node), only saturation is left
    assert [x.state for x in fixed_points(85.0, STATION, POLICY)] == ["saturated"]
    # a retry budget of 10%: lam <= 1.1 lam0 stays under capacity, one state
    budget = stable_points(60.0, STATION, RetryPolicy(0.3, 3, budget=0.1))
    assert len(budget) == 1 and budget[0].amplification <= 1.1


def test_hysteresis_loop_and_what_removes_it():
    h = hysteresis(np.linspace(10.0, 90.0, 9), STATION, POLICY)
    low, high = h.metastable
    assert low == pytest.approx(25.0, rel=1e-4)  # lam0 (m + 1) = capacity
    assert 70.0 < high < 80.0
    up = h.table[h.table.direction == "up"].set_index("lam0")
    down = h.table[h.table.direction == "down"].set_index("lam0")
    assert up.loc[50.0, "branch"] == "healthy" and down.loc[50.0, "branch"] == "saturated"
    assert up.loc[50.0, "state"] == down.loc[50.0, "state"] == "metastable"
    assert up.loc[10.0, "state"] == "healthy" and up.loc[90.0, "state"] == "saturated"
    assert up.loc[50.0, "goodput"] > 49.9 and down.loc[50.0, "goodput"] == 0.0
    table = what_removes_it(np.linspace(30.0, 70.0, 5), STATION, POLICY).set_index("change")
    assert not table.loc["as is", "removes"]
    assert table.loc["max_retries=0", "removes"] and table.loc["budget=10%", "removes"]


def test_request_latency_against_the_simulation():
    # M/M/10 healthy state: answered requests' mean latency (timeouts then an answer)
    lam0 = 60.0
    healthy = stable_points(lam0, STATION, POLICY)[0]
    bins, latency = _simulate(lam0, STATION, POLICY, horizon=300.0, seed=3, latencies=True)
    mean, half = _ci(latency, np.ones_like(latency))
    assert abs(request_latency(healthy, POLICY) - mean) <= half
    with pytest.raises(FieldError, match="^backoff:"):
        RetryPolicy(timeout=1.0, max_retries=2, backoff=(0.1,))


def test_cancelling_keeps_the_queue_stable():
    cancel = CancelledTimeouts(c=10, mean_service=0.1)
    points = stable_points(60.0, cancel, RetryPolicy(0.3, 3))
    assert all(0 < x.p_timeout < 1 for x in points)


def _simulate(lam0, station, policy, horizon, seed, backlog=0.0, latencies=False):
    """M/M/c FCFS whose servers finish every attempt; a timed-out attempt is retried at
    once (within the budget). Returns per one-second bin: first attempts, attempts,
    timeouts (and, with ``latencies``, each answered request's time from its first
    attempt, in order of answer, after the first 20 s)."""
    rng = np.random.default_rng(seed)
    free = [backlog] * station.c  # when each server is next free (FCFS: earliest first)
    firsts = np.cumsum(rng.exponential(1 / lam0, int(lam0 * horizon * 1.2) + 50))
    firsts = firsts[firsts < horizon]
    retries: list[tuple[float, int, float]] = []
    answered = []
    bins = np.zeros((3, int(horizon) + 1))
    n_first = n_retries = i = 0
    while i < firsts.size or retries:
        if retries and (i >= firsts.size or retries[0][0] < firsts[i]):
            t, k, first = heapq.heappop(retries)
            if t >= horizon or (policy.budget is not None and
                                n_retries >= policy.budget * n_first):
                continue
            n_retries += 1
        else:
            t, k = float(firsts[i]), 0
            first = t
            i += 1
            n_first += 1
        end = max(t, heapq.heappop(free)) + rng.exponential(station.mean_service)
        heapq.heappush(free, end)
        late = end - t > policy.timeout
        if late and k < policy.max_retries:
            heapq.heappush(retries, (t + policy.timeout, k + 1, first))
        elif not late and first >= 20.0:
            answered.append(end - first)
        b = int(t)
        bins[:, b] += (k == 0, 1, late)
    if latencies:
        return bins[:, :int(horizon)], np.array(answered)
    return bins[:, :int(horizon)]


def _ci(values, weights, batches=20):
    """Ratio estimate sum(values)/sum(weights) and its 99% batch-means half-width."""
    v, w = (np.array([x.sum() for x in np.array_split(a, batches)]) for a in (values, weights))
    ratios = v / w
    half = stats.t.ppf(0.995, batches - 1) * ratios.std(ddof=1) / math.sqrt(batches)
    return v.sum() / w.sum(), half


def test_simulation_in_the_healthy_state():
    lam0 = 60.0
    healthy = stable_points(lam0, STATION, POLICY)[0]
    bins = _simulate(lam0, STATION, POLICY, horizon=300.0, seed=3)[:, 20:]
    amp, half = _ci(bins[1], bins[0])
    assert abs(amp - healthy.amplification) <= half, (amp, half, healthy.amplification)
    p, half = _ci(bins[2], bins[1])
    assert abs(p - healthy.p_timeout) <= half, (p, half, healthy.p_timeout)


def test_simulation_shows_both_states_persist_and_a_budget_recovers():
    lam0, horizon = 50.0, 120.0
    empty = _simulate(lam0, STATION, POLICY, horizon, seed=5)
    backlog = _simulate(lam0, STATION, POLICY, horizon, seed=5, backlog=5.0)
    last = slice(int(horizon) // 2, None)
    # started empty: stays healthy to the end (amplification near the healthy point)
    assert empty[1, last].sum() / empty[0, last].sum() < 1.2
    # started with a 5 s backlog: every attempt times out to the end, attempts = 4 lam0
    assert backlog[2, last].sum() / backlog[1, last].sum() > 0.99
    assert backlog[1, last].sum() / backlog[0, last].sum() > 3.9
    # the same backlog with a 10% retry budget drains and recovers
    budget = RetryPolicy(0.3, 3, budget=0.1)
    recovered = _simulate(lam0, STATION, budget, horizon, seed=5, backlog=5.0)
    assert recovered[2, last].sum() / recovered[1, last].sum() < 0.2


def test_bad_input_names_the_field():
    with pytest.raises(FieldError, match="^timeout:"):
        RetryPolicy(timeout=0.0, max_retries=1)
    with pytest.raises(FieldError, match="^max_retries:"):
        RetryPolicy(timeout=1.0, max_retries=-1)
    with pytest.raises(FieldError, match="^budget:"):
        RetryPolicy(timeout=1.0, max_retries=1, budget=math.nan)
    with pytest.raises(FieldError, match="^c:"):
        MMcTimeouts(c=0, mean_service=1.0)
    with pytest.raises(FieldError, match="^lam0:"):
        fixed_points(-1.0, STATION, POLICY)
    with pytest.raises(FieldError, match="^lam0s:"):
        hysteresis(np.array([]), STATION, POLICY)


@pytest.mark.parametrize(("c", "mean", "lam", "t"), [
    (10_000, 0.02, 400_000.0, 0.1), (8, 0.02, 250.0, 1e6), (8, 1e-9, 250.0, 0.1),
    (100_000, 1.0, 99_000.0, 50.0)])
def test_the_mmc_tail_stays_finite_at_extremes(c, mean, lam, t):
    p = MMcTimeouts(c, mean).sf(np.array([lam]), np.array([t]))
    assert np.isfinite(p).all() and 0.0 <= p[0] <= 1.0
