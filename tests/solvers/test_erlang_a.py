"""Erlang-A, balking and state-dependent joining against textbook cases (Erlang C,
M/M/infinity when theta = mu, M/M/1/K, discouraged arrivals), against their own
identities computed another way (flow balance, the waiting law integrated), at c =
10,000, and against a customer-level simpy simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from scipy import integrate, special, stats

from qmodel.errors import FieldError, QModelError, UnstableError
from qmodel.solvers.erlang_a import balking, birth_death_queue, erlang_a
from qmodel.solvers.mmc import erlang_c


@pytest.mark.parametrize("c, lam", [(1, 0.5), (3, 2.0), (20, 18.0)])
def test_infinite_patience_is_erlang_c(c, lam):
    q = erlang_a(lam, 1.0, c, 0.0)
    p = erlang_c(c, lam)
    assert q.p_wait == pytest.approx(p, rel=1e-10)
    assert q.mean_wait == pytest.approx(p / (c - lam), rel=1e-9)
    assert q.mean_wait_served == pytest.approx(q.mean_wait, rel=1e-9)
    assert q.p_abandon == 0.0 and q.throughput == pytest.approx(lam, rel=1e-10)
    t = np.array([0.0, 0.5, 2.0])
    assert q.wait_sf(t) == pytest.approx(p * np.exp(-(c - lam) * t), rel=1e-6)


def test_small_patience_rate_tends_to_erlang_c():
    near = erlang_a(9.0, 1.0, 10, 1e-7)
    assert near.p_wait == pytest.approx(erlang_c(10, 9.0), rel=1e-5)


@pytest.mark.parametrize("c, a", [(1, 0.7), (4, 4.0), (5, 9.0)])
def test_patience_rate_equal_to_mu_is_poisson(c, a):
    # theta = mu: every job in system leaves at rate mu, so N ~ Poisson(a) (M/M/infinity)
    q = erlang_a(a, 1.0, c, 1.0)
    n = np.arange(200)
    pmf = stats.poisson.pmf(n, a)
    assert q.p_wait == pytest.approx(stats.poisson.sf(c - 1, a), rel=1e-10)
    assert q.mean_queue == pytest.approx(pmf @ np.maximum(n - c, 0), rel=1e-10)
    assert q.throughput == pytest.approx(pmf @ np.minimum(n, c), rel=1e-10)


@pytest.mark.parametrize("lam, c, theta", [(3.3, 3, 0.5), (18.0, 20, 0.3), (60.0, 50, 2.0)])
def test_erlang_a_by_the_confluent_hypergeometric_function(lam, c, theta):
    # Palm; Mandelbaum & Zeltyn (2007): with a = c mu / theta and x = lam / theta the queue
    # part sums to pi_c 1F1(1; a+1; x), its mean length to pi_c x/(a+1) 1F1(2; a+2; x)
    a, x = c / theta, lam / theta
    head = sum(lam**n / math.factorial(n) for n in range(c))
    top = lam**c / math.factorial(c)
    norm = head + top * special.hyp1f1(1, a + 1, x)
    q = erlang_a(lam, 1.0, c, theta)
    assert q.p_wait == pytest.approx(top * special.hyp1f1(1, a + 1, x) / norm, rel=1e-9)
    assert q.mean_queue == pytest.approx(top * x / (a + 1) * special.hyp1f1(2, a + 2, x) / norm,
                                         rel=1e-9)


@pytest.mark.parametrize("rho, k", [(0.5, 0), (0.9, 3), (1.0, 4), (2.5, 6)])
def test_balking_is_mm1k(rho, k):
    # Gross & Harris, M/M/1/K: p_K = (1 - rho) rho^K / (1 - rho^(K+1)), K = k + 1
    big_k = k + 1
    p_k = 1 / (big_k + 1) if rho == 1 else (1 - rho) * rho**big_k / (1 - rho ** (big_k + 1))
    q = balking(rho, 1.0, 1, k)
    assert q.p_balk == pytest.approx(p_k, rel=1e-12)
    assert q.throughput == pytest.approx(rho * (1 - p_k), rel=1e-12)


def test_discouraged_arrivals_are_poisson():
    # Gross & Harris: M/M/1 with lam_n = lam / (n + 1) has N ~ Poisson(lam / mu)
    lam = 3.0
    q = birth_death_queue(lam, 1.0, 1, 0.0, [1.0 / (j + 2) for j in range(400)])
    assert q.probs[:30] == pytest.approx(stats.poisson.pmf(np.arange(30), lam), abs=1e-13)


@pytest.mark.parametrize("lam, c, theta", [(3.3, 3, 0.5), (12.0, 10, 2.0), (40.0, 50, 0.1)])
def test_flow_balance_and_the_waiting_law(lam, c, theta):
    q = erlang_a(lam, 1.0, c, theta)
    assert q.lam * q.p_join == pytest.approx(q.throughput + theta * q.mean_queue, rel=1e-12)
    # abandonment from the law of V_j (per position) = theta E[Q] / lam (Little)
    ahead = (q.probs * q.join)[c:]
    assert ahead @ q.p_abandon_by_position == pytest.approx(q.p_abandon, rel=1e-9)
    # E[W] = integral of P(W > t): matrix exponential of the queue ahead vs Little
    top = 40 / (abs(c - lam) + theta)
    t = np.linspace(0.0, top, 401)
    area = integrate.simpson(q.wait_sf(t), x=t)
    assert area == pytest.approx(q.mean_wait, rel=1e-5)


def test_ten_thousand_servers_in_overload():
    lam, c, theta = 10_500.0, 10_000, 0.5
    q = erlang_a(lam, 1.0, c, theta)
    assert np.isfinite(q.probs).all() and q.probs.sum() == pytest.approx(1.0)
    # fluid limit (Whitt 2004): servers saturated, (lam - c mu) abandon, queue (lam - c mu)/theta
    assert q.utilization == pytest.approx(1.0, abs=1e-3)
    assert q.p_abandon == pytest.approx((lam - c) / lam, rel=0.01)
    assert q.mean_queue == pytest.approx((lam - c) / theta, rel=0.01)
    assert 0.0 <= float(q.wait_sf(0.5)) <= q.p_wait


def _simulate(lam, c, theta, n, seed):
    """Customer-level FCFS M/M/c+M: waits and whether each job was served."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)
    waits, served = np.empty(n), np.zeros(n, dtype=bool)

    def job(i):
        start = env.now
        req = servers.request()
        got = yield req | env.timeout(rng.exponential(1 / theta))
        waits[i] = env.now - start
        if req in got:
            served[i] = True
            yield env.timeout(rng.exponential(1.0))
            servers.release(req)
        else:
            req.cancel()

    def source():
        for i in range(n):
            yield env.timeout(rng.exponential(1 / lam))
            env.process(job(i))

    env.process(source())
    env.run()
    return waits, served


def _batch_ci(x, batches=20):
    means = np.array([b.mean() for b in np.array_split(x, batches)])
    half = stats.t.ppf(0.995, batches - 1) * means.std(ddof=1) / math.sqrt(batches)
    return means.mean(), half


def test_agrees_with_simulation():
    lam, c, theta = 3.3, 3, 0.5
    q = erlang_a(lam, 1.0, c, theta)
    waits, served = _simulate(lam, c, theta, 8000, seed=7)
    waits, served = waits[500:], served[500:]
    for value, sample in [(q.p_abandon, ~served), (q.mean_wait, waits),
                          (q.p_wait, waits > 0), (float(q.wait_sf(1.0)), waits > 1.0)]:
        mean, half = _batch_ci(sample.astype(float))
        assert abs(mean - value) <= half, (value, mean, half)
    served_wait = np.where(served, waits, 0.0)
    mean, half = _batch_ci(served_wait)
    assert abs(mean / served.mean() - q.mean_wait_served) <= half / served.mean() * 1.5


def test_bad_input_names_the_field():
    with pytest.raises(FieldError, match="theta"):
        erlang_a(1.0, 1.0, 2, -1.0)
    with pytest.raises(FieldError, match="^c:"):
        erlang_a(1.0, 1.0, 0, 1.0)
    with pytest.raises(FieldError, match="join"):
        birth_death_queue(1.0, 1.0, 1, 0.0, [1.2])
    with pytest.raises(FieldError, match="^k:"):
        balking(1.0, 1.0, 1, -1)
    with pytest.raises(UnstableError):
        erlang_a(3.0, 1.0, 3, 0.0)
    with pytest.raises(QModelError, match="t:"):
        erlang_a(1.0, 1.0, 2, 1.0).wait_sf(-1.0)
