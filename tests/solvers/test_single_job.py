"""One job alone in a closed class (qmodel.solvers.single_job): its cycle through a fork
is its own time, checked against the closed form and the simulator."""

from __future__ import annotations

import math

import pytest

import qmodel


def one_user(population: int = 1, shared: bool = False) -> qmodel.Model:
    """Think 1 s, fork to an exponential queue (0.5 s) and a fixed 0.5 s queue, join,
    then a 0.2 s queue; ``shared``: both branches go through the same last queue."""
    after = {"next": "c"} if shared else {"next": "merge"}
    c = {"kind": "queue", "service": 0.2, **({"next": "merge"} if shared else {})}
    merge = {"kind": "join", **({} if shared else {"next": "c"})}
    return qmodel.Model.from_dict({
        "nodes": {"split": {"kind": "fork", "branches": ["a", "b"], "join": "merge"},
                  "a": {"kind": "queue", "service": 0.5, **after},
                  "b": {"kind": "queue", "service": {"dist": "deterministic", "value": 0.5},
                        **after},
                  "c": c, "merge": merge},
        "users": {"u": {"to": "split", "population": population, "think_time": 1.0}}})


def test_one_job_is_its_own_time():
    r = qmodel.solve(one_user())
    cycle = 0.5 + 0.5 * math.exp(-1) + 0.2  # E[max(Exp(mean 0.5), 0.5)] + 0.2
    assert r.system.method == "exact"
    assert float(r.system.mean_response_time) == pytest.approx(cycle, rel=1e-9)
    assert float(r.system.throughput) == pytest.approx(1 / (1 + cycle), rel=1e-9)
    assert float(r.node("c").utilization) == pytest.approx(0.2 / (1 + cycle), rel=1e-9)
    assert r.node("c").kind == "queue"
    sim = qmodel.simulate(one_user(), replications=4, customers=800, seed=5)
    low, high = sim.system.mean_response_time.ci95
    assert low <= cycle <= high


def test_more_jobs_or_tasks_that_meet_still_need_simulation():
    assert qmodel.solve(one_user(population=2)).system.method == "needs simulation"
    assert qmodel.solve(one_user(shared=True)).system.method == "needs simulation"
