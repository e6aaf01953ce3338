"""Fork-join: barriers of exponential tasks (H_N / mu), branches, waves over slots, and
quorum joins (the R-th of N tasks; late tasks discarded, losses beyond the quorum)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qmodel
from qmodel import Model
from qmodel.sim import simulate
from qmodel.sim.engine import Engine
from qmodel.sim.streams import Streams

from .theory import harmonic, within_ci


@pytest.mark.parametrize("n", [2, 5])
def test_barrier_of_exponential_tasks(n):
    # n parallel exponential tasks with unlimited slots: the job waits for the maximum,
    # whose mean is H_n / mu.
    model = Model.from_dict({
        "nodes": {"f": {"kind": "fork", "tasks": n, "join": "j", "task_service": 1.0},
                  "j": {"kind": "join"}},
        "arrivals": {"a": {"to": "f", "rate": 0.2}}})
    r = simulate(model, replications=10, customers=10_000, seed=n)
    assert within_ci(r.system.mean_response_time, harmonic(n))
    assert within_ci(r.node("f").mean_response, harmonic(n))


def test_branch_fork_waits_for_the_slowest_branch():
    model = Model.from_dict({
        "nodes": {"f": {"kind": "fork", "branches": ["a", "b", "c"], "join": "j"},
                  "a": {"kind": "delay", "service": 1.0, "next": "j"},
                  "b": {"kind": "delay", "service": 1.0, "next": "j"},
                  "c": {"kind": "delay", "service": 1.0, "next": "j"},
                  "j": {"kind": "join", "next": {"out": 1.0}},
                  "out": {"kind": "delay", "service": {"dist": "deterministic", "value": 0.5}}},
        "arrivals": {"x": {"to": "f", "rate": 1.0}}})
    r = simulate(model, replications=10, customers=8_000, seed=3)
    assert within_ci(r.system.mean_response_time, harmonic(3) + 0.5)
    # the join's visit is the synchronisation wait: E[max] - E[min] of 3 exponentials
    assert within_ci(r.node("j").mean_response, harmonic(3) - 1 / 3)
    assert within_ci(r.node("a").visits, 1.0)


@pytest.mark.parametrize("tasks, slots, waves", [(4, 4, 1), (5, 4, 2), (8, 4, 2), (9, 4, 3)])
def test_tasks_on_slots_run_in_waves(tasks, slots, waves):
    model = Model.from_dict({
        "nodes": {"f": {"kind": "fork", "tasks": tasks, "slots": slots, "join": "j",
                        "task_service": {"dist": "deterministic", "value": 1.0}},
                  "j": {"kind": "join"}},
        "arrivals": {"a": {"to": "f", "rate": 0.01}}})
    r = simulate(model, replications=3, customers=2_000, seed=1)
    # most jobs find the pool empty: the median response is exactly the waves
    assert r.system.percentile(0.5) == pytest.approx(waves, rel=1e-9)
    assert r.system.mean_response_time == pytest.approx(waves, rel=0.05)


def quorum_model(quorum: int | None, lossy: bool = False, loop: float = 0.0) -> Model:
    """Three branches to a join with ``quorum``; branch ``a`` can be a one-place queue that
    loses tasks (``lossy``), and a job can fork again after the join (``loop``)."""
    branch = {"kind": "delay", "service": 1.0, "next": "j"}
    a = {"kind": "queue", "service": 1.0, "capacity": 1, "next": "j"} if lossy else branch
    return Model.from_dict({
        "nodes": {"f": {"kind": "fork", "branches": ["a", "b", "c"], "join": "j"},
                  "a": a, "b": branch, "c": branch,
                  "j": {"kind": "join", "quorum": quorum, "next": {"f": loop} if loop else {}}},
        "arrivals": {"x": {"to": "f", "rate": 1.0}}})


def run_engine(model: Model, customers: int = 5_000) -> Engine:
    engine = Engine(model.network, Streams(np.random.SeedSequence(3)), customers=customers,
                    horizon=None, warmup=None)
    engine.run()
    return engine


@pytest.mark.parametrize("r", [1, 2, 3])
def test_quorum_join_releases_at_the_r_th_task(r):
    # iid Exp(1) branches with infinite servers: E[T_(R) of N] = sum_{i=N-R+1}^{N} 1/i,
    # and the join holds a job from its first task to its R-th: E[T_(R)] - E[T_(1)]
    r_th = harmonic(3) - harmonic(3 - r)
    result = simulate(quorum_model(r), replications=10, customers=8_000, seed=r)
    assert within_ci(result.system.mean_response_time, r_th)
    sync = result.node("j").mean_response  # zero for R = 1, which goes on with the first
    assert sync == 0.0 if r == 1 else within_ci(sync, r_th - 1 / 3)
    # one job leaves the join per job forked, not one per task
    assert result.node("j").throughput == pytest.approx(result.node("f").throughput, rel=1e-3)
    assert result.node("a").throughput == pytest.approx(result.node("f").throughput, rel=0.02)


def test_late_tasks_are_discarded_at_the_join():
    engine = run_engine(quorum_model(1))
    fork, join = engine.components["f"], engine.components["j"]
    running = sum(engine.components[b].n for b in "abc")
    # every task is still running, released its job (R = 1) or was discarded
    assert 3 * fork.completions == running + join.completions + join.discarded
    assert join.discarded > 1.9 * join.completions
    assert engine.done == join.completions


def test_quorum_of_all_tasks_is_the_plain_join():
    plain, full = (simulate(quorum_model(q), replications=2, customers=2_000, seed=5)
                   for q in (None, 3))
    assert full.system.mean_response_time == plain.system.mean_response_time
    assert full.node("j").mean_response == plain.node("j").mean_response


def test_a_lost_task_loses_the_job_only_when_the_quorum_is_out_of_reach():
    # branch a drops tasks that find it busy; b and c alone still make a quorum of 2
    partial, full = run_engine(quorum_model(2, lossy=True)), run_engine(quorum_model(3, lossy=True))
    assert partial.components["a"].losses > 1_000 and partial.losses == 0
    assert full.losses == full.components["a"].losses > 1_000
    assert full.components["j"].n <= 1  # lost jobs do not stay at the join


def test_a_job_forks_again_while_its_late_tasks_still_run():
    # after the join, half the jobs go round again: 2 rounds of E[min of 3] = 1/3 on average
    result = simulate(quorum_model(1, loop=0.5), replications=10, customers=8_000, seed=4)
    assert within_ci(result.system.mean_response_time, 2 / 3)
    assert within_ci(result.node("j").visits, 2.0)


def test_pool_quorum_leaves_at_the_r_th_task_and_keeps_the_slots_busy():
    model = Model.from_dict({
        "nodes": {"f": {"kind": "fork", "tasks": 4, "slots": 2, "join": "j", "task_service": 1.0},
                  "j": {"kind": "join", "quorum": 2}},
        "arrivals": {"a": {"to": "f", "rate": 0.05}}})
    result = simulate(model, replications=10, customers=8_000, seed=6)
    # all 4 tasks hold a slot (utilisation 0.05 x 4 / 2); the job leaves at the 2nd end
    assert within_ci(result.node("f").utilization, 0.1)
    pool = run_engine(model).components["f"]
    # the 2 late tasks of each job that left were discarded, or still queue or run
    assert 0 <= 2 * pool.completions - pool.discarded <= pool.busy + len(pool.queue)
    assert pool.discarded > 1.9 * pool.completions
    # two ends at rate 2 take 1.0, plus a little queueing (the analytic waves)
    solved = qmodel.solve(model).system.mean_response_time
    assert 1.0 < solved < 1.2
    assert result.system.mean_response_time == pytest.approx(solved, rel=0.02)


# -- simulation against qmodel.solve: the system numbers of models with fork-join blocks --

STORE = Path(__file__).resolve().parents[2] / "topologies" / "replicated_store.yaml"
SYSTEM = ("mean_jobs", "p50_response_time", "p95_response_time", "p99_response_time")


def agrees(estimate, value: float, rel: float) -> bool:
    """``value`` lies in the simulated 95% interval widened by ``rel`` of it on each side."""
    low, high = estimate.ci95
    return low - rel * value <= value <= high + rel * value


def test_replicated_store_system_numbers_match_the_solver():
    # measured (4 x 20,000 jobs): mean jobs 2.646 vs 2.629 simulated; p50 1.791 vs 1.792,
    # p95 8.21 vs 8.15, p99 13.8 vs 13.8 ms
    model = qmodel.load(STORE)
    solved = qmodel.solve(model).system
    sim = simulate(model, replications=4, customers=20_000, seed=1).system
    for name in SYSTEM:
        assert agrees(getattr(sim, name), getattr(solved, name), 0.05), name
    # Little's law holds for the simulated jobs too: each forked job counts once
    assert agrees(sim.mean_jobs, float(sim.throughput * sim.mean_response_time), 0.02)


def test_two_mm1_branches_are_correlated_and_the_solver_takes_flatto_hahn():
    # two M/M/1 branches (theta = mu - lam = 50/s) fed by the same arrivals: the exact
    # mean is (12 - rho) / 8 / theta = 28.75 ms (Flatto & Hahn 1984), what the solver
    # gives; its percentiles are those of independent branches (1.5 / theta = 30 ms in
    # the mean, 4.3% high). Measured (10 x 20,000 jobs): mean 28.65 ms simulated, p50
    # 22.9 (analytic 24.6, +7%), p95 72.9 (73.5, +1%), p99 104.8 (105.9, +1%)
    model = Model.from_dict({
        "nodes": {"f": {"kind": "fork", "branches": ["a", "b"], "join": "j"},
                  "a": {"kind": "queue", "service": 0.01, "next": "j"},
                  "b": {"kind": "queue", "service": 0.01, "next": "j"},
                  "j": {"kind": "join"}},
        "arrivals": {"x": {"to": "f", "rate": 50.0}}})
    solved = qmodel.solve(model).system
    sim = simulate(model, replications=6, customers=20_000, seed=7).system
    assert solved.mean_response_time == pytest.approx((12 - 0.5) / 8 / 50, rel=1e-12)
    assert within_ci(sim.mean_response_time, solved.mean_response_time, n=6)
    assert agrees(sim.p50_response_time, solved.p50_response_time, 0.1)
    for name in ("p95_response_time", "p99_response_time"):
        assert agrees(getattr(sim, name), getattr(solved, name), 0.03), name


def test_two_forks_sharing_replicas_match_the_solver():
    # writes fork to replicas a and b, reads to l, a and b (two answers); a and b serve
    # both. Measured (4 x 20,000 jobs): writes 5.86 vs 5.71 ms simulated (+2.6%), reads
    # 2.44 vs 2.51 (-2.5%); mean jobs 2.149 vs 2.146, p95 9.31 vs 9.32, p99 13.7 vs 13.6
    replica = {"kind": "queue", "servers": 2, "service": 0.002, "next": "read_done"}
    shared = {**replica, "class_next": {"writes": {"replicated": 1.0}}}
    model = Model.from_dict({
        "nodes": {"leader": {"kind": "queue", "service": 0.001, "next": "replicate"},
                  "replicate": {"kind": "fork", "branches": ["a", "b"], "join": "replicated"},
                  "read": {"kind": "fork", "branches": ["l", "a", "b"], "join": "read_done"},
                  "l": replica, "a": shared, "b": shared, "replicated": {"kind": "join"},
                  "read_done": {"kind": "join", "quorum": 2}},
        "arrivals": {"writes": {"to": "leader", "rate": 200.0},
                     "reads": {"to": "read", "rate": 400.0}}})
    solved = qmodel.solve(model)
    sim = simulate(model, replications=4, customers=20_000, seed=8)
    for name in SYSTEM:
        assert agrees(getattr(sim.system, name), getattr(solved.system, name), 0.05), name
    for cls in ("writes", "reads"):
        assert agrees(sim.classes[cls].mean_response_time,
                      solved.classes[cls].mean_response_time, 0.05), cls


def test_pool_quorum_percentiles_match_the_solver():
    # 6 Exp(1) tasks on 3 slots, the job leaves at the 4th end, utilisation 0.6: queueing
    # (an exponential wait with probability rho) then the exact gaps between task ends.
    # Measured (8 x 40,000 jobs): p95 8.94 vs 8.25 simulated (+8%), p99 13.8 vs 12.5 (+11%);
    # a two-moment fit of the task ends alone gave 4.3 and 4.9
    model = Model.from_dict({
        "nodes": {"f": {"kind": "fork", "tasks": 6, "slots": 3, "join": "j", "task_service": 1.0},
                  "j": {"kind": "join", "quorum": 4}},
        "arrivals": {"a": {"to": "f", "rate": 0.3}}})
    solved = qmodel.solve(model).system
    sim = simulate(model, replications=4, customers=20_000, seed=9).system
    assert agrees(sim.mean_response_time, solved.mean_response_time, 0.03)
    for name in ("p95_response_time", "p99_response_time"):
        assert agrees(getattr(sim, name), getattr(solved, name), 0.12), name
