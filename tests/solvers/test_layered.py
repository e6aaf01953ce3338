"""Layered queueing (held threads): exact reductions (callees without a pool limit give
plain sums and an M/M/c pool; one caller thread never queues at its callee), flow
balance inside the flow-equivalent servers, and a simpy simulation of 2- and 3-layer
chains with held threads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from scipy import stats

from qmodel.errors import FieldError, UnstableError
from qmodel.solvers.layered import Task, _sub_network, solve_layered
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


def _simulate(tasks, n, seed):
    """Held threads in simpy: a request holds a thread of each task while it calls."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    by = {t.name: t for t in tasks}
    pools = {t.name: simpy.Resource(env, int(t.threads)) for t in tasks}
    responses = {t.name: [] for t in tasks}

    def visit(name):
        t, start = by[name], env.now
        with pools[name].request() as req:
            yield req
            yield env.timeout(rng.exponential(t.before))
            for callee, y in t.calls.items():
                for _ in range(int(y)):
                    yield env.process(visit(callee))
            if t.after:
                yield env.timeout(rng.exponential(t.after))
        responses[name].append(env.now - start)

    top = next(t for t in tasks if t.arrivals > 0)

    def source():
        for _ in range(n):
            yield env.timeout(rng.exponential(1 / top.arrivals))
            env.process(visit(top.name))

    env.process(source())
    env.run()
    return {k: np.array(v[n // 20:]) for k, v in responses.items()}


def _ci(x, batches=20):
    means = np.array([b.mean() for b in np.array_split(x, batches)])
    return means.mean(), stats.t.ppf(0.995, batches - 1) * means.std(ddof=1) / math.sqrt(batches)


@pytest.mark.parametrize("tasks, tolerance, n", [
    # caller 4 threads -> callee 2 threads, rho 0.61 / 0.64; measured (150,000 requests,
    # two seeds) caller +2.5%, callee 0.0%
    ([Task("caller", 4, before=0.05, after=0.05, calls={"callee": 1}, arrivals=8.0),
      Task("callee", 2, before=0.16)], 0.05, 30_000),
    # three layers, rho up to 0.34; measured (80,000 requests) gateway +3.0%, service
    # +2.7%, database -0.3%. At rho 0.5 / 0.7 the gateway is off by +8% / +22%: a pool's
    # holding time made of several phases is less variable than the exponential the
    # flow-equivalent server assumes
    ([Task("gateway", 4, before=0.05, after=0.05, calls={"service": 1}, arrivals=4.0),
      Task("service", 2, before=0.1, calls={"database": 2}),
      Task("database", 1, before=0.03)], 0.06, 12_000),
])
def test_agrees_with_simulation(tasks, tolerance, n):
    model = solve_layered(tasks)
    measured = _simulate(tasks, n, seed=4)
    for name, result in model.items():
        assert result.utilization <= 0.7
        mean, half = _ci(measured[name])
        assert abs(result.response - mean) <= tolerance * result.response + half, \
            (name, result.response, mean, half)


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
    with pytest.raises(FieldError, match="no task has open arrivals"):
        solve_layered([Task("a", 1, before=0.1)])
