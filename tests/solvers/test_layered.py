"""Layered queueing (held threads): exact reductions (callees without a pool limit give
plain sums and an M/G/c pool by Allen-Cunneen; one caller thread never queues at its
callee and is M/G/1 by Pollaczek-Khinchine), flow balance inside the flow-equivalent
servers, and bad input. Against simulation: test_layered_examples.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmodel.errors import FieldError, UnstableError
from qmodel.solvers.layered import MAX_POOL, Task, _pool_queue, _sub_network, solve_layered
from qmodel.solvers.mmc import erlang_c


def test_callees_without_limit_reduce_to_sums_and_erlang_c():
    lam = 12.0
    tasks = [Task("web", 5, before=0.05, after=0.1, calls={"app": 2.0, "db": 1.0},
                  arrivals=lam),
             Task("app", math.inf, before=0.03, calls={"db": 1.5}),
             Task("db", math.inf, before=0.02)]
    r = solve_layered(tasks)
    assert r["db"].response == pytest.approx(0.02, rel=1e-12)
    assert r["app"].response == pytest.approx(0.03 + 1.5 * 0.02, rel=1e-12)
    holding = 0.15 + 2 * 0.06 + 0.02
    assert r["web"].holding == pytest.approx(holding, rel=1e-10)
    # the pool of 5 threads is M/G/5: the M/M/5 wait (Erlang C) times (1 + SCV) / 2
    # (Allen-Cunneen), the holding time's variance a sum over its exponential parts
    a = lam * holding
    variance = 0.05**2 + 0.1**2 + 2 * (0.03**2 + 1.5 * 0.02**2) + 0.02**2
    factor = (1 + variance / holding**2) / 2
    assert r["web"].wait == pytest.approx(erlang_c(5, a) * holding / (5 - a) * factor,
                                          rel=1e-9)
    assert r["db"].throughput == pytest.approx(lam * (1 + 2 * 1.5), rel=1e-12)


def test_one_caller_thread_never_queues_at_its_callee():
    tasks = [Task("caller", 1, before=0.1, after=0.05, calls={"callee": 3.0}, arrivals=2.0),
             Task("callee", 1, before=0.04)]
    r = solve_layered(tasks)
    assert r["callee"].wait == 0.0
    assert r["caller"].holding == pytest.approx(0.15 + 3 * 0.04, rel=1e-10)
    assert r["callee"].utilization == pytest.approx(2.0 * 3 * 0.04, rel=1e-10)


@pytest.mark.parametrize("before_scv, calls_variance", [(1.0, {}), (0.0, {}),
                                                        (1.0, {"callee": 9.0})])
def test_one_thread_is_m_g_1_by_pollaczek_khinchine(before_scv, calls_variance):
    # one caller thread: its callee never queues, its holding time is its own demand
    # plus 3 callee demands (on average; 0 or 6 with probability 1/2 when
    # calls_variance is 9 = 6^2 / 4), and its queue is M/G/1
    lam, before, s = 2.0, 0.1, 0.04
    r = solve_layered([Task("caller", 1, before=before, calls={"callee": 3.0},
                            arrivals=lam, before_scv=before_scv,
                            calls_variance=calls_variance),
                       Task("callee", 1, before=s)])
    h = before + 3 * s
    second = (before_scv + 1) * before**2 + 2 * before * 3 * s  # E[H^2]
    # a sum of n exponential demands: variance n s^2, second moment n s^2 + (n s)^2
    second += (3 * s**2 + 3**2 * s**2) if not calls_variance else 0.5 * (
        6 * s**2 + 6**2 * s**2)
    assert r["caller"].holding == pytest.approx(h, rel=1e-10)
    assert r["caller"].wait == pytest.approx(lam * second / (2 * (1 - lam * h)), rel=1e-9)
    assert r["callee"].wait == 0.0


def test_flow_equivalent_server_balances_flow():
    # owned callee: 2 threads, exponential 0.16 s; the caller's network of k threads
    rates = np.concatenate([[0.0], np.minimum(np.arange(1, 5), 2) / 0.16])
    layer = _sub_network(0.1, [("mid", 1.0, rates, 2.0)], 4)
    marg = layer.marg["mid"]
    assert marg.sum(axis=1) == pytest.approx(np.ones(5), rel=1e-12)
    for k in range(1, 5):  # throughput at the callee = the sub-network's rate
        served = marg[k] @ rates[np.minimum(np.arange(5), 2)]
        assert served == pytest.approx(layer.rate[k], rel=1e-10)
        # Little: threads at the delay + at the callee = k
        at_mid = marg[k] @ np.arange(5)
        assert at_mid + layer.rate[k] * 0.1 == pytest.approx(k, rel=1e-10)


def test_a_callee_of_finitely_many_threads_is_the_machine_repairman_queue():
    # M/M/1//N (Kleinrock, vol. 1, 3.9): N sources thinking z, p_n ~ N!/(N-n)! (s/z)^n;
    # given its throughput, the pool finds the same z and queue
    n_src, s, z = 5, 0.025, 0.06
    p = np.array([math.factorial(n_src) / math.factorial(n_src - n) * (s / z)**n
                  for n in range(n_src + 1)])
    p /= p.sum()
    lam = (1 - p[0]) / s
    rate = np.arange(2) / s
    busy, waiting, p_wait = _pool_queue("db", lam, rate, 1, sources=n_src)
    assert busy == pytest.approx([p[0], 1 - p[0]], rel=1e-9)
    assert waiting == pytest.approx(p @ np.maximum(np.arange(n_src + 1) - 1, 0), rel=1e-9)
    arriving = p * (n_src - np.arange(n_src + 1))
    assert p_wait == pytest.approx(arriving[1:].sum() / arriving.sum(), rel=1e-9)
    # many sources: Poisson arrivals, M/M/2 (Erlang C)
    rate = np.arange(3) / s
    _, waiting, p_wait = _pool_queue("db", 46.0, rate, 2, sources=MAX_POOL)
    assert p_wait == pytest.approx(erlang_c(2, 46.0 * s), rel=5e-3)
    assert waiting == pytest.approx(erlang_c(2, 46.0 * s) * 46.0 * s / (2 - 46.0 * s),
                                    rel=5e-3)


def test_a_shared_callee_is_fed_by_its_callers_threads():
    # two callers of 1 thread each: the database never has more than 2 requests
    r = solve_layered([Task("a", 1, before=0.05, calls={"db": 1}, arrivals=4.0),
                       Task("b", 1, before=0.05, calls={"db": 1}, arrivals=4.0),
                       Task("db", 1, before=0.05)])
    assert r["db"].wait < 0.05  # at most one request ahead
    poisson = erlang_c(1, 8 * 0.05) * 0.05 / (1 - 8 * 0.05)  # M/M/1: more
    assert r["db"].wait < poisson


def test_unstable_and_bad_input():
    with pytest.raises(UnstableError, match="caller"):
        solve_layered([Task("caller", 2, before=0.1, calls={"callee": 1}, arrivals=30.0),
                       Task("callee", 1, before=0.01)])
    with pytest.raises(UnstableError, match="db"):
        solve_layered([Task("a", math.inf, before=0.1, calls={"db": 1}, arrivals=30.0),
                       Task("db", 1, before=0.05)])
    with pytest.raises(FieldError, match="cycle"):
        solve_layered([Task("a", 1, before=0.1, calls={"b": 1}, arrivals=1.0),
                       Task("b", 1, before=0.1, calls={"a": 1})])
    with pytest.raises(FieldError, match=r"tasks\[0\]\.calls\.nope"):
        solve_layered([Task("a", 1, before=0.1, calls={"nope": 1}, arrivals=1.0)])
    with pytest.raises(FieldError, match=r"tasks\[0\]\.threads"):
        solve_layered([Task("a", 0, before=0.1, arrivals=1.0)])
    with pytest.raises(FieldError, match=r"tasks\[0\]\.before"):
        solve_layered([Task("a", 1, before=0.0, arrivals=1.0)])
    with pytest.raises(FieldError, match=r"tasks\[0\]\.before_scv"):
        solve_layered([Task("a", 1, before=0.1, arrivals=1.0, before_scv=-1.0)])
    with pytest.raises(FieldError, match=r"tasks\[0\]\.calls_variance\.b"):
        solve_layered([Task("a", 1, before=0.1, arrivals=1.0, calls_variance={"b": 1.0})])
    with pytest.raises(FieldError, match="no task has open arrivals"):
        solve_layered([Task("a", 1, before=0.1)])
