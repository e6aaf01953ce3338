"""Fork-join: barriers of exponential tasks (H_N / mu), branches, waves over slots."""

from __future__ import annotations

import pytest

from qmodel import Model
from qmodel.sim import simulate

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
