"""ARIA bounds (Verma, Cherkasova & Campbell, ICAC 2011): T_low = n·mean/k and
T_up = (n−1)·mean/k + E[max of n tasks], checked by hand, and a job's bounds as its
stages' plus the solved rest of its route, from ``qmodel.solve``."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.distributions import Deterministic, Exponential
from qmodel.solvers.aria import ARIA_METHOD, stage


def test_stage_bounds_by_hand():
    fixed = stage("map", 10, Deterministic(2.0))          # E[max] = 2
    assert (fixed.low(4), fixed.high(4)) == (5.0, 6.5)    # 20/4; 18/4 + 2
    exp = stage("map", 3, Exponential(1.0))               # E[max of 3] = H_3 = 11/6
    assert exp.low(2) == pytest.approx(1.5)
    assert exp.high(2) == pytest.approx(1.0 + 11 / 6, rel=1e-9)
    assert exp.high(7) == exp.high(3) == pytest.approx(2 / 3 + 11 / 6, rel=1e-9)  # k <= n


def test_solve_reports_stage_and_job_bounds():
    model = qmodel.Model.from_dict({
        "arrivals": {"jobs": {"to": "map", "rate": "1/h"}},
        "nodes": {
            "map": {"kind": "fork", "tasks": 10, "slots": 4, "join": "map_done",
                    "task_service": {"dist": "deterministic", "value": 2}},
            "map_done": {"kind": "join", "next": "shuffle"},
            "shuffle": {"kind": "delay", "service": {"dist": "deterministic", "value": 3},
                        "next": "reduce"},
            "reduce": {"kind": "fork", "tasks": 3, "slots": 2, "join": "reduce_done",
                       "task_service": 1},
            "reduce_done": {"kind": "join"}}})
    job = qmodel.solve(model).aria["jobs"]
    assert (job.stages["map"].low, job.stages["map"].high) == (5.0, 6.5)
    assert job.stages["reduce"].high == pytest.approx(1.0 + 11 / 6, rel=1e-9)
    assert job.rest == pytest.approx(3.0, rel=1e-6)        # the shuffle; no queueing
    assert job.low == pytest.approx(3.0 + 5.0 + 1.5, rel=1e-6)
    assert job.high == pytest.approx(3.0 + 6.5 + 1.0 + 11 / 6, rel=1e-6)
    assert job.high.method == ARIA_METHOD
    stages = qmodel.solve(model).to_dict()["aria"]["jobs"]["stages"]
    assert stages["map"]["slots"] == 4 and stages["map"]["low_s"]["value"] == 5.0
