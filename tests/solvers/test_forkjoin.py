"""Tests of qmodel.solvers.forkjoin: closed forms and numpy Monte Carlo.

Monte Carlo means are compared within 4 standard errors (plus, for approximations, the
accuracy their docstrings state); a quantile ``q`` is checked through the simulated
``P(X <= q)``, within 4 binomial standard errors of ``p``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from qmodel.distributions import (
    Deterministic,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Pareto,
    Uniform,
)
from qmodel.errors import UnstableError, UnsupportedError
from qmodel.solvers import forkjoin
from qmodel.solvers.forkjoin import (
    INDEPENDENT_METHOD,
    RENEWAL_METHOD,
    aria_bounds,
    aria_bounds_expected,
    expected_max,
    expected_max_exponential,
    fork_join_moments,
    fork_join_response,
    makespan_moments,
    makespan_quantile,
    max_exponential_variance,
    nelson_tantawi,
    order_statistic_mean,
    order_statistic_quantile,
    quantile_of_max,
    quorum_moments,
    slots_for_deadline,
)


def harmonic(n: int) -> float:
    return sum(1.0 / i for i in range(1, n + 1))


def assert_mean(value: float, samples: np.ndarray, share: float = 0.0) -> None:
    """Within 4 standard errors of the sample mean, plus ``share`` of it."""
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    assert abs(value - samples.mean()) <= 4 * se + share * abs(samples.mean()), \
        (value, samples.mean(), se)


def assert_quantile(q: float, samples: np.ndarray, p: float, slack: float = 0.0) -> None:
    hit = np.mean(samples <= q)
    assert abs(hit - p) <= 4 * math.sqrt(p * (1 - p) / samples.size) + slack, (q, hit, p)


def simulate_makespan(n: int, k: int, task, reps: int, rng) -> np.ndarray:
    """Greedy list scheduling of n iid tasks on k slots, ``reps`` times."""
    x = task.sample(rng, (reps, n))
    free = x[:, :min(n, k)].copy()
    rows = np.arange(reps)
    for i in range(k, n):
        slot = free.argmin(axis=1)
        free[rows, slot] += x[:, i]
    return free.max(axis=1)


def simulate_quorum(n: int, k: int, task, r: int, reps: int, rng) -> np.ndarray:
    """The ``r``-th task end when n iid tasks run on k slots by greedy list scheduling."""
    x = task.sample(rng, (reps, n))
    free, ends = np.zeros((reps, min(n, k))), np.empty((reps, n))
    rows = np.arange(reps)
    for i in range(n):
        slot = free.argmin(axis=1)
        free[rows, slot] += x[:, i]
        ends[:, i] = free[rows, slot]
    return np.sort(ends, axis=1)[:, r - 1]


# -- maxima ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_expected_max_of_exponentials_is_harmonic(n):
    assert expected_max_exponential(n, 2.0) == pytest.approx(harmonic(n) / 2.0, rel=1e-15)
    assert expected_max([Exponential(0.5)] * n) == pytest.approx(harmonic(n) / 2.0, rel=1e-9)


def test_max_exponential_variance_against_monte_carlo():
    samples = np.random.default_rng(1).exponential(0.5, (200_000, 6)).max(axis=1)
    assert max_exponential_variance(6, 2.0) == pytest.approx(
        sum(1 / (2.0 * i) ** 2 for i in range(1, 7)), rel=1e-15)
    assert max_exponential_variance(6, 2.0) == pytest.approx(samples.var(), rel=0.03)


def weibull_cdf(t):
    return 1.0 - np.exp(-(t / 1.3) ** 1.5)


MIXED = [
    Lognormal(1.0, 1.5), Uniform(0.2, 2.0), Pareto(2.5, 0.6), HyperExponential.balanced(1.0, 4.0),
    Empirical(tuple(np.round(np.random.default_rng(2).gamma(2.0, 0.6, 300), 3))),
    Deterministic(1.2), Gamma(1.0, 0.4), Erlang(3, 0.8), Exponential(0.7),
]


def test_expected_max_of_mixed_distributions_against_monte_carlo():
    rng = np.random.default_rng(3)
    size = 400_000
    columns = [d.sample(rng, size) for d in MIXED]
    columns.append(1.3 * rng.weibull(1.5, size))               # the cdf callable below
    samples = np.max(columns, axis=0)
    assert_mean(expected_max([*MIXED, weibull_cdf]), samples)
    for p in (0.5, 0.99):
        assert_quantile(quantile_of_max([*MIXED, weibull_cdf], p), samples, p)


def test_quantile_of_max_solves_the_product_of_cdfs():
    p = 0.8
    q = quantile_of_max([Exponential(1.0)] * 3, p)
    assert q == pytest.approx(-math.log(1 - p ** (1 / 3)), rel=1e-12)
    mixed = [Lognormal(1.0, 0.5), Gamma(2.0, 0.7), Uniform(0.5, 3.0)]
    q = quantile_of_max(mixed, p)
    product = (stats.lognorm(math.sqrt(math.log(1.25)), scale=1 / math.sqrt(1.25)).cdf(q)
               * stats.gamma(1 / 0.49, scale=2.0 * 0.49).cdf(q) * stats.uniform(0.5, 2.5).cdf(q))
    assert product == pytest.approx(p, rel=1e-10)
    assert quantile_of_max([Deterministic(2.0), Exponential(1.0)], 0.5) == pytest.approx(2.0)


def test_heavy_tails_keep_their_mean():
    """Pareto(1.1): the part beyond the 1 - 1e-10 quantile is ~7% of the mean."""
    assert expected_max([Pareto(1.1, 1.0)]) == pytest.approx(11.0, rel=1e-7)
    two = 1 + 2 / 0.1 - 1 / 1.2                       # s + 2s/(a-1) - s/(2a-1), s = 1
    assert expected_max([Pareto(1.1, 1.0)] * 2) == pytest.approx(two, rel=1e-7)


def test_empirical_max_is_exact_enumeration():
    values = np.arange(1.0, 1001.0)
    k = np.arange(1, 1001)
    exact = np.sum(values * (k**2 - (k - 1) ** 2)) / 1000**2
    assert expected_max([Empirical(tuple(values))] * 2) == pytest.approx(exact, rel=1e-9)


def test_plain_callables_vectorized_or_not():
    assert expected_max([lambda t: 1 - math.exp(-t)] * 2) == pytest.approx(1.5, rel=1e-9)
    assert expected_max([lambda t: 1 - np.exp(-t), Exponential(1.0)]) == pytest.approx(1.5)


def test_max_argument_errors():
    with pytest.raises(ValueError, match="at least one"):
        expected_max([])
    with pytest.raises(ValueError, match="probability"):
        quantile_of_max([Exponential(1.0)], 1.0)
    with pytest.raises(TypeError, match="Distribution or a cdf"):
        expected_max([1.0])


# -- order statistics --------------------------------------------------------------------


@pytest.mark.parametrize("n, r", [(1, 1), (3, 1), (3, 2), (5, 5), (7, 4)])
def test_order_statistics_of_exponentials(n, r):
    mu = 4.0
    exact = sum(1 / (i * mu) for i in range(n - r + 1, n + 1))
    assert order_statistic_mean(Exponential(1 / mu), n, r) == pytest.approx(exact, rel=1e-9)
    p = 0.9
    quantile = -math.log1p(-special.betaincinv(r, n - r + 1, p)) / mu
    assert order_statistic_quantile(Exponential(1 / mu), n, r, p) == pytest.approx(quantile,
                                                                                   rel=1e-10)


def test_quorum_read_against_monte_carlo():
    """R = 2 of N = 3 replicas with lognormal response times (PBS-style)."""
    replica = Lognormal(0.01, 1.2)
    samples = np.sort(replica.sample(np.random.default_rng(4), (300_000, 3)), axis=1)[:, 1]
    assert_mean(order_statistic_mean(replica, 3, 2), samples)
    assert_quantile(order_statistic_quantile(replica, 3, 2, 0.999), samples, 0.999)
    with pytest.raises(ValueError, match="1 <= r <= n"):
        order_statistic_mean(replica, 3, 4)


@pytest.mark.parametrize("r", [1, 2, 3, 4])
def test_quorum_of_unlike_branches_against_monte_carlo(r):
    """The R-th of independent, not identical times: the Poisson-binomial recursion."""
    branches = [Lognormal(1.0, 1.5), Uniform(0.2, 2.0), Erlang(3, 0.8), Exponential(0.7)]
    rng = np.random.default_rng(20 + r)
    samples = np.sort([d.sample(rng, 300_000) for d in branches], axis=0)[r - 1]
    response = fork_join_response(branches, quorum=r)
    assert response.method == INDEPENDENT_METHOD
    assert_mean(response.mean, samples)
    for p in (0.5, 0.95):
        assert_quantile(response.quantile(p), samples, p)
    mean, variance = fork_join_moments(branches, quorum=r)
    assert mean == pytest.approx(response.mean, rel=1e-9)
    assert_mean(variance, (samples - samples.mean()) ** 2)


def test_quorum_of_exponential_branches_in_closed_form():
    # rates 1, 2, 3: the first end is Exp(6); the second comes Exp(6 - rate of the first)
    # later (memorylessness): 1/6 + (1/6)(1/5) + (2/6)(1/4) + (3/6)(1/3) = 27/60
    branches = [Exponential(1.0), Exponential(0.5), Exponential(1 / 3)]
    first = fork_join_response(branches, quorum=1)
    assert first.mean == pytest.approx(1 / 6, rel=1e-9)
    assert first.quantile(0.9) == pytest.approx(math.log(10) / 6, rel=1e-9)
    assert fork_join_response(branches, quorum=2).mean == pytest.approx(27 / 60, rel=1e-9)
    assert fork_join_response([Deterministic(1.0), Exponential(1.0)], quorum=1).mean == \
        pytest.approx(1 - math.exp(-1), rel=1e-9)
    # all of them is the maximum; iid branches are the Beta transform
    assert fork_join_response(branches, quorum=3) == fork_join_response(branches)
    assert fork_join_response([Exponential(1.0)] * 3, quorum=2).mean == \
        order_statistic_mean(Exponential(1.0), 3, 2)
    with pytest.raises(ValueError, match="1 <= r <= n"):
        fork_join_response(branches, quorum=4)


@pytest.mark.parametrize("n, k, r", [(8, 3, 1), (8, 3, 6), (4, 2, 2), (5, 8, 3)])
def test_exponential_quorum_of_tasks_on_slots_is_exact(n, k, r):
    task = Exponential(0.5)
    mean, variance, method = quorum_moments(n, k, task, r)
    assert method == "exact"
    samples = simulate_quorum(n, k, task, r, 200_000, np.random.default_rng(n + r))
    assert_mean(mean, samples)
    assert variance == pytest.approx(samples.var(), rel=0.03)


def test_quorum_of_tasks_on_slots_other_cases():
    task = Lognormal(1.0, 0.8)
    mean, variance, method = quorum_moments(5, 8, task, 3)  # every task starts at once
    assert (mean, method) == (pytest.approx(order_statistic_mean(task, 5, 3), rel=1e-8), "exact")
    samples = simulate_quorum(5, 8, task, 3, 200_000, np.random.default_rng(1))
    assert variance == pytest.approx(samples.var(), rel=0.03)
    assert quorum_moments(21, 10, Deterministic(2.0), 11) == (4.0, 0.0, "exact")
    assert quorum_moments(21, 10, task, 21) == makespan_moments(21, 10, task)
    with pytest.raises(UnsupportedError, match="quorum"):
        quorum_moments(21, 10, task, 11)


# -- fork-join ---------------------------------------------------------------------------


def simulate_fork_join(k: int, lam: float, mu: float, jobs: int, rng) -> np.ndarray:
    """Responses of a k-way fork-join of FCFS M/M/1 branches fed by the same arrivals."""
    gaps = rng.exponential(1 / lam, jobs)
    response = np.zeros(jobs)
    for _ in range(k):
        service = rng.exponential(1 / mu, jobs)
        level = np.cumsum(np.concatenate([[0.0], service[:-1] - gaps[1:]]))
        response = np.maximum(response, level - np.minimum.accumulate(level) + service)
    return response[jobs // 10:]


def batch_means(samples: np.ndarray, blocks: int = 30) -> np.ndarray:
    return np.array([b.mean() for b in np.array_split(samples, blocks)])


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9])
def test_nelson_tantawi_two_way_is_exact(rho):
    assert nelson_tantawi(2, rho, 1.0) == pytest.approx((12 - rho) / 8 / (1 - rho), rel=1e-15)
    assert nelson_tantawi(1, rho, 1.0) == pytest.approx(1 / (1 - rho), rel=1e-15)


@pytest.mark.parametrize("k", [2, 4, 8])
def test_nelson_tantawi_against_simulation(k):
    """Exact for k = 2; within 5% for larger k (Nelson & Tantawi's stated accuracy)."""
    responses = simulate_fork_join(k, 0.5, 1.0, 400_000, np.random.default_rng(10 + k))
    share = 0.0 if k == 2 else 0.05
    assert_mean(nelson_tantawi(k, 0.5, 1.0), batch_means(responses), share)


def test_nelson_tantawi_light_traffic_and_stability():
    for k in (2, 5, 16):
        assert nelson_tantawi(k, 1e-12, 1.0) == pytest.approx(harmonic(k), rel=1e-9)
    with pytest.raises(UnstableError):
        nelson_tantawi(3, 2.0, 2.0)


def test_fork_join_response_bounds_the_associated_branches():
    lam, mu, k = 0.6, 1.0, 4
    branch = Exponential(1 / (mu - lam))                     # M/M/1 sojourn time
    response = fork_join_response([branch] * k)
    assert response.method == INDEPENDENT_METHOD
    assert response.mean == pytest.approx(harmonic(k) / (mu - lam), rel=1e-9)
    assert response.quantile(0.9) == pytest.approx(quantile_of_max([branch] * k, 0.9))
    simulated = simulate_fork_join(k, lam, mu, 300_000, np.random.default_rng(5))
    assert simulated.mean() < response.mean
    assert nelson_tantawi(k, lam, mu) < response.mean
    assert np.quantile(simulated, 0.9) < response.quantile(0.9)


# -- makespan ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 11, 25])
def test_exponential_makespan_is_exact(n):
    k, mu = 10, 2.0
    mean, variance, method = makespan_moments(n, k, Exponential(1 / mu))
    assert method == "exact"
    if n >= k:
        assert mean == pytest.approx((n - k) / (k * mu) + harmonic(k) / mu, rel=1e-12)
        assert variance == pytest.approx((n - k) / (k * mu) ** 2 + sum(
            1 / (i * mu) ** 2 for i in range(1, k + 1)), rel=1e-12)
    else:
        assert mean == pytest.approx(harmonic(n) / mu, rel=1e-8)
        assert variance == pytest.approx(max_exponential_variance(n, mu), rel=1e-6)
    samples = simulate_makespan(n, k, Exponential(1 / mu), 100_000, np.random.default_rng(n))
    assert_mean(mean, samples)
    assert variance == pytest.approx(samples.var(), rel=0.03)
    assert_quantile(makespan_quantile(n, k, Exponential(1 / mu), 0.95), samples, 0.95)


def test_deterministic_single_slot_and_few_tasks():
    assert makespan_moments(21, 10, Deterministic(2.0)) == (6.0, 0.0, "exact")
    assert makespan_quantile(20, 10, Deterministic(2.0), 0.99) == 4.0
    task = Lognormal(1.0, 0.8)
    assert makespan_moments(7, 1, task) == (7.0, pytest.approx(7 * 0.64), "exact")
    mean, _, method = makespan_moments(8, 10, task)
    assert method == "exact" and mean == pytest.approx(expected_max([task] * 8), rel=1e-8)
    assert makespan_quantile(8, 10, task, 0.5) == pytest.approx(quantile_of_max([task] * 8, 0.5))


@pytest.mark.parametrize("cv, n, k, variance_rtol", [
    (0.1, 20, 10, 0.4),                  # whole waves of near-deterministic tasks
    (0.1, 21, 10, 0.15), (0.3, 11, 10, 0.15), (0.3, 41, 4, 0.15), (1.0, 21, 10, 0.15),
    (1.0, 60, 5, 0.15), (2.0, 31, 10, 0.15),
])
def test_lognormal_makespan_against_monte_carlo(cv, n, k, variance_rtol):
    """The renewal-slots approximation: mean within 4.5%, variance as its docstring says."""
    task = Lognormal(1.0, cv)
    mean, variance, method = makespan_moments(n, k, task)
    assert method == RENEWAL_METHOD
    samples = simulate_makespan(n, k, task, 40_000, np.random.default_rng(int(100 * cv) + n))
    assert_mean(mean, samples, share=0.045)
    assert variance == pytest.approx(samples.var(), rel=variance_rtol)
    assert_quantile(makespan_quantile(n, k, task, 0.9), samples, 0.9, slack=0.03)


def test_wave_effect():
    """One task past a full wave of near-deterministic tasks costs a whole task time, not
    the fluid mean/k; the approximation follows the simulation."""
    task, k = Lognormal(1.0, 0.1), 10
    rng = np.random.default_rng(7)
    sim_full, sim_extra = (simulate_makespan(n, k, task, 40_000, rng).mean() for n in (20, 21))
    model_full, model_extra = (makespan_moments(n, k, task)[0] for n in (20, 21))
    assert sim_extra - sim_full > 5 * task.mean / k
    assert model_extra - model_full == pytest.approx(sim_extra - sim_full, rel=0.05)


@pytest.mark.parametrize("task", [
    Gamma(1.0, 0.5), Uniform(0.5, 1.5), HyperExponential.balanced(1.0, 2.0), Pareto(3.0, 2 / 3),
    Empirical(tuple(np.round(np.random.default_rng(8).lognormal(0.0, 0.6, 200), 4))),
])
def test_other_task_distributions_against_monte_carlo(task):
    n, k = 31, 10
    mean, _, _ = makespan_moments(n, k, task)
    samples = simulate_makespan(n, k, task, 40_000, np.random.default_rng(9))
    assert_mean(mean, samples, share=0.045)


def test_normal_sum_of_slot_counts_matches_the_exact_sum(monkeypatch):
    """Large k uses a normal for the summed task-end counts instead of the FFT."""
    task = Lognormal(1.0, 1.0)
    exact = makespan_moments(400, 40, task)
    monkeypatch.setattr(forkjoin, "_EXACT_SUM_CELLS", 0)
    normal = makespan_moments(400, 40, task)
    assert normal[0] == pytest.approx(exact[0], rel=1e-5)
    assert normal[1] == pytest.approx(exact[1], rel=1e-3)


def test_infinite_variance_tasks_are_unsupported_beyond_one_wave():
    task = Pareto(1.5, 1 / 3)
    assert makespan_moments(5, 10, task)[2] == "exact"
    assert makespan_moments(5, 1, task)[1] == math.inf
    with pytest.raises(UnsupportedError, match="finite task variance"):
        makespan_moments(20, 10, task)
    with pytest.raises(ValueError, match="n >= 1"):
        makespan_moments(0, 3, task)


@pytest.mark.parametrize("task, n, k", [
    (Exponential(1.0), 25, 10), (Lognormal(1.0, 1.0), 30, 7), (Gamma(1.0, 0.3), 12, 5),
])
def test_aria_bounds_bracket_the_makespan(task, n, k):
    rng = np.random.default_rng(11)
    x = task.sample(rng, (20_000, n))
    free = x[:, :k].copy()
    for i in range(k, n):
        slot = free.argmin(axis=1)
        free[np.arange(x.shape[0]), slot] += x[:, i]
    makespan = free.max(axis=1)
    lower, upper = aria_bounds(n, k, x.mean(axis=1), x.max(axis=1))   # per realisation
    assert np.all(lower <= makespan + 1e-12) and np.all(makespan <= upper + 1e-12)
    lower, upper = aria_bounds_expected(n, k, task)
    assert lower < makespan.mean() < upper
    assert lower == pytest.approx(n * task.mean / k, rel=1e-9)
    assert upper == pytest.approx((n - 1) * task.mean / k + expected_max([task] * n), rel=1e-12)


# -- capacity ----------------------------------------------------------------------------


def test_slots_for_deadline_is_the_smallest_meeting_it():
    task, n = Exponential(1.0), 200
    k = slots_for_deadline(n, task, 12.0)
    assert makespan_moments(n, k, task)[0] <= 12.0 < makespan_moments(n, k - 1, task)[0]
    k95 = slots_for_deadline(n, task, 12.0, quantile=0.95)
    assert k95 > k
    assert makespan_quantile(n, k95, task, 0.95) <= 12.0 < makespan_quantile(n, k95 - 1, task,
                                                                             0.95)
    assert slots_for_deadline(n, task, harmonic(n) * 0.99) is None
    assert slots_for_deadline(n, task, harmonic(n)) == n      # only k = n: H_n


def test_slots_for_deadline_with_waves():
    task = Lognormal(1.0, 0.1)
    k = slots_for_deadline(30, task, 3.5)
    assert k == 10                                   # 3 waves fit, 4 (k = 9) do not
    assert slots_for_deadline(30, Deterministic(1.0), 3.0) == 10
