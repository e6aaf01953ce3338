"""Every shipped topology and a model using every feature run on the simpy engine, and
Little's law holds at every station and for the system in each run."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmodel import Model, load
from qmodel.sim import simulate

TOPOLOGIES = sorted(Path(__file__).resolve().parents[2].glob("topologies/*.yaml"))

EVERYTHING = {
    "name": "everything",
    "arrivals": {
        "web": {"to": "gw", "rate": 4.0, "priority": 0},
        "bulk": {"to": "gw", "rate": 1.0, "priority": 1,
                 "interarrival": {"dist": "erlang", "k": 2}},
    },
    "users": {"ops": {"to": "sched", "population": 3, "think_time": 2.0}},
    "nodes": {
        "gw": {"kind": "queue", "servers": 2, "service": 0.05, "capacity": 20,
               "discipline": "priority-preemptive", "next": {"db": 0.6, "topic": 0.3}},
        "db": {"kind": "shards", "shards": 3, "routing": "jsq", "rebalance": 1.0,
               "service": {"dist": "lognormal", "mean": 0.1, "cv": 1.5},
               "failures": {"mttf": 200.0, "mttr": 5.0, "policy": "migrate"},
               "next": {"gw": 0.1}},
        "topic": {"kind": "broker", "partitions": 4, "consumers": 2, "service": 0.1,
                  "partition_weights": [3, 1, 1, 1], "next": "batch"},
        "batch": {"kind": "batcher", "interval": 0.5, "batch_size": 10,
                  "fixed": {"dist": "deterministic", "value": 0.02}, "per_item": 0.001},
        "sched": {"kind": "queue", "discipline": "mlfq", "service": {"mean": 0.3, "cv": 3},
                  "mlfq": {"levels": 3, "quantum": [0.05, 0.2], "boost": 10.0},
                  "next": {"split": 0.5}},
        "split": {"kind": "fork", "branches": ["left", "right"], "join": "merge"},
        "left": {"kind": "queue", "discipline": "ps", "servers": 2, "service": 0.2,
                 "next": "merge"},
        "right": {"kind": "queue", "discipline": "lcfs-pr", "service": 0.1,
                  "next": {"merge": 1.0}},
        "merge": {"kind": "join", "next": {"pool": 1.0}},
        "pool": {"kind": "fork", "tasks": 6, "slots": 4, "task_service": 0.05, "join": "done"},
        "done": {"kind": "join"},
    },
}


def assert_littles_law(result, rel=0.05):
    checked = 0
    for name, node in list(result.nodes.items()) + [(c, result.node(c))
                                                    for c in result.components]:
        if node.mean_in_system is None or not node.throughput or node.mean_response is None:
            continue
        if name in result.nodes and len(result.components.get(node.component, [])) > 1:
            continue  # members of a component trade jobs; the component is checked
        expected = float(node.throughput) * float(node.mean_response)
        assert float(node.mean_in_system) == pytest.approx(expected, rel=rel, abs=0.02), name
        checked += 1
    assert checked, "no node or component had L, X and R to check"
    s = result.system
    assert float(s.mean_jobs) == pytest.approx(float(s.throughput) * float(s.mean_response_time),
                                               rel=rel, abs=0.02)
    return checked


# Runs far from steady state in a short test, so Little's law is not checked: one batch
# pushed through at once, and a 10-minute batch interval (longer than the run).
TRANSIENT = {"brkss_warehouse", "lambda_architecture"}


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_every_topology_simulates(path):
    result = simulate(load(path), replications=2, customers=4_000, seed=1, method="simpy")
    assert result.stable and not result.partial
    assert result.system.throughput > 0
    if path.stem == "lambda_architecture":
        assert "statistics are transient" in " ".join(result.notes)
    if path.stem not in TRANSIENT:
        assert_littles_law(result, rel=0.08)


def test_a_model_with_every_feature():
    result = simulate(Model.from_dict(EVERYTHING), replications=3, horizon=2_000, seed=2)
    assert result.stable, result.unstable
    assert "simpy" in result.notes[0]
    assert assert_littles_law(result) >= 8
    assert result.classes["ops"].throughput > 0 and result.classes["bulk"].throughput > 0
    assert result.node("db").throughput > 0 and result.node("topic").percentile(0.9) is not None
