"""``plan --deadline``: the fewest slots per stage whose ARIA job bound meets a deadline —
by hand for one stage, against a brute force over every (map, reduce) pair for the
MapReduce topology, and minimal (one slot fewer in any stage misses)."""

from __future__ import annotations

from pathlib import Path

import pytest

import qmodel
from qmodel.errors import ModelError
from qmodel.experiments.deadline import plan_deadline
from qmodel.experiments.planning import PlanError
from qmodel.solvers.aria import stage

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def one_stage(tasks: int = 10) -> qmodel.Model:
    return qmodel.Model.from_dict({
        "arrivals": {"j": {"to": "map", "rate": "1/h"}},
        "nodes": {"map": {"kind": "fork", "tasks": tasks, "slots": 10, "join": "done",
                          "task_service": {"dist": "deterministic", "value": 1}},
                  "done": {"kind": "join"}}})


@pytest.mark.parametrize(("deadline", "bound", "slots"), [
    (4.0, "upper", 3),      # 9/k + 1 <= 4: k = 3 (k = 2: 5.5)
    (3.0, "upper", 5),      # 9/k + 1 <= 3: k = 4.5 -> 5
    (3.0, "average", 4),    # (19/k + 1)/2 <= 3: k = 3.8 -> 4
    (1.9, "upper", 10),     # 9/10 + 1 = 1.9: all ten
])
def test_one_stage_by_hand(deadline, bound, slots):
    plan = plan_deadline(one_stage(), deadline, bound=bound)
    assert plan.configuration == {"nodes.map.slots": slots}
    assert plan.planned <= deadline


def test_mapreduce_plan_is_the_cheapest_pair_and_one_slot_fewer_misses():
    model = qmodel.load(TOPOLOGIES / "mapreduce_job.yaml")
    plan = plan_deadline(model, 600.0)
    maps = stage("map", 100, model.network.station("map").service["jobs"])
    reduces = stage("reduce", 20, model.network.station("reduce").service["jobs"])

    def upper(k_map: int, k_reduce: int) -> float:
        return 30.0 + maps.high(k_map) + reduces.high(k_reduce)   # 30 s: the shuffle

    best = min((m + r, m, r) for m in range(1, 101) for r in range(1, 21)
               if upper(m, r) <= 600.0)
    k_map, k_reduce = plan.configuration["nodes.map.slots"], plan.configuration[
        "nodes.reduce.slots"]
    assert k_map + k_reduce == best[0] == plan.cost
    assert plan.high == pytest.approx(upper(k_map, k_reduce), rel=1e-9) and plan.high <= 600
    assert upper(k_map - 1, k_reduce) > 600 and upper(k_map, k_reduce - 1) > 600
    average = plan_deadline(model, 600.0, bound="average")
    assert sum(average.configuration.values()) < k_map + k_reduce   # ARIA's T_avg is laxer


def test_what_cannot_be_planned_is_said():
    with pytest.raises(PlanError, match="with a slot per task the job's upper bound is 1.9s"):
        plan_deadline(one_stage(), 1.5)
    web = qmodel.Model.from_dict({"arrivals": {"w": {"to": "a", "rate": 1}},
                                  "nodes": {"a": {"kind": "queue", "service": 0.1}}})
    with pytest.raises(ModelError, match="no open class passes a fork with tasks"):
        plan_deadline(web, 10.0)
    with pytest.raises(ModelError, match="nodes.reduce is not a stage with tasks"):
        plan_deadline(one_stage(), 4.0, cost={"nodes.reduce": 1.0})
    with pytest.raises(ModelError, match="positive"):
        plan_deadline(one_stage(), 4.0, cost={"nodes.map": 0.0})
