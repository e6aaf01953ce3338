"""The network expansion (``qmodel.model.network``): each component kind becomes the
stations, routers and routing rows solvers see, with the model's names and labels kept."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmodel import Model
from qmodel.distributions import Deterministic, Exponential
from qmodel.model.network import DENSE_SOLVE_LIMIT, Batch, solve_linear

QUEUE = {"kind": "queue", "service": "10ms"}


def network(nodes: dict, **sections):
    sections.setdefault("arrivals", {"web": {"to": next(iter(nodes)), "rate": "10/s"}})
    return Model.from_dict({"nodes": nodes, **sections}).network


def test_a_queue_is_one_station_and_infinite_servers_make_it_a_delay():
    net = network({"app": {**QUEUE, "servers": 3, "capacity": 5, "discipline": "ps",
                           "label": "App server", "next": "think"},
                   "think": {**QUEUE, "servers": "inf"}})
    app, think = net.stations
    assert (app.name, app.component, app.kind, app.servers, app.capacity, app.discipline,
            app.label) == ("app", "app", "queue", 3, 5, "ps", "App server")
    assert app.service == {"web": Exponential(0.01)}
    assert (think.kind, think.servers) == ("delay", math.inf)
    assert net.components() == {}


def test_a_delay_node_is_an_infinite_server_station():
    (station,) = network({"hop": {"kind": "delay", "service": "5ms", "label": "WAN"}}).stations
    assert (station.kind, station.servers, station.label) == ("delay", math.inf, "WAN")


def test_shards_expand_to_members_behind_a_router_with_their_weights():
    net = network({"app": {**QUEUE, "next": "db"},
                   "db": {**QUEUE, "kind": "shards", "shards": 3, "servers": 2,
                          "weights": [1, 1, 2], "routing": "random", "label": "Orders DB"}})
    assert [s.name for s in net.stations] == ["app", "db-0", "db-1", "db-2"]
    assert {s.component for s in net.stations[1:]} == {"db"}
    assert all(s.servers == 2 and s.label == "Orders DB" for s in net.stations[1:])
    router = net.routers["db"]
    assert (router.policy, router.members, router.weights) == (
        "random", ("db-0", "db-1", "db-2"), (1.0, 1.0, 2.0))
    np.testing.assert_allclose(net.routing["web"][0], [0, 0.25, 0.25, 0.5])
    assert net.components() == {"db": ["db-0", "db-1", "db-2"]}


@pytest.mark.parametrize(("assignment", "owner", "weights"), [
    ("range", (0, 0, 1, 1, 2), (2.0, 2.0, 1.0)),        # Kafka's RangeAssignor
    ("round_robin", (0, 1, 2, 0, 1), (2.0, 2.0, 1.0)),
])
def test_a_broker_expands_to_consumers_owning_partitions(assignment, owner, weights):
    net = network({"topic": {"kind": "broker", "service": "2ms", "partitions": 5,
                             "consumers": 3, "assignment": assignment, "capacity": 100}})
    router = net.routers["topic"]
    assert (router.policy, router.owner, router.weights) == ("partition", owner, weights)
    assert router.partition_weights == (1.0,) * 5
    assert [(s.name, s.kind, s.servers, s.capacity) for s in net.stations] == [
        (f"topic-{i}", "queue", 1, 100) for i in range(3)]
    np.testing.assert_allclose(net.entry["web"], [0.4, 0.4, 0.2])


def test_skewed_partitions_weigh_their_consumers():
    net = network({"topic": {"kind": "broker", "service": "2ms", "partitions": 2,
                             "consumers": 2, "partition_weights": [3, 1]}})
    assert net.routers["topic"].weights == (3.0, 1.0)
    np.testing.assert_allclose(net.entry["web"], [0.75, 0.25])


def test_a_batcher_keeps_its_batch_rule_and_zero_for_missing_times():
    (station,) = network({"b": {"kind": "batcher", "interval": "1s", "batch_size": 50,
                                "per_item": "1ms", "servers": 2}}).stations
    assert (station.kind, station.servers, station.service) == ("batcher", 2, {})
    assert station.batch == Batch(1.0, 50, Deterministic(0.0), Exponential(0.001))


def test_fork_join_with_branches_routes_one_task_into_each_branch():
    net = network({"f": {"kind": "fork", "join": "j", "branches": ["a", "b"]},
                   "a": {**QUEUE, "next": "j"}, "b": {**QUEUE, "next": "j"},
                   "j": {"kind": "join", "quorum": 1, "next": "out"}, "out": QUEUE})
    f, a, b, j, out = net.stations
    assert (f.kind, f.tasks, f.branches, f.join, f.servers) == ("fork", 2, ("a", "b"), "j", math.inf)
    assert (j.kind, j.quorum) == ("join", 1)
    np.testing.assert_allclose(net.routing["web"][0], [0, 1, 1, 0, 0])  # a task to each branch
    np.testing.assert_allclose(net.join_tasks(), [1, 1, 1, 2, 1])
    np.testing.assert_allclose(net.visits("web"), [1, 1, 1, 1, 1])  # 2 tasks in, 1 job out


def test_fork_with_tasks_runs_them_on_slots():
    net = network({"f": {"kind": "fork", "join": "j", "tasks": 8, "slots": 2,
                         "task_service": "1s"}, "j": {"kind": "join"}})
    fork = net.station("f")
    assert (fork.tasks, fork.servers, fork.branches) == (8, 2, ())
    assert fork.service == {"web": Exponential(1.0)}
    np.testing.assert_allclose(net.routing["web"][0], [0, 1])


def test_routing_rows_and_entries_follow_the_model_per_class():
    net = network(
        {"app": {**QUEUE, "next": {"db": 0.6, "cache": 0.3}, "class_next": {"bulk": "db"},
                 "class_service": {"bulk": "50ms"}},
         "db": QUEUE, "cache": {"kind": "delay", "service": "1ms"}},
        arrivals={"web": {"to": "app", "rate": "10/s"},
                  "bulk": {"to": {"app": 0.5, "db": 0.5}, "rate": "1/s"}})
    assert [c.name for c in net.classes] == ["web", "bulk"]
    np.testing.assert_allclose(net.routing["web"].sum(axis=1), [0.9, 0, 0])  # 0.1 leaves
    np.testing.assert_allclose(net.routing["bulk"][0], [0, 1, 0])
    np.testing.assert_allclose(net.entry["bulk"], [0.5, 0.5, 0])
    assert net.station("app").service == {"web": Exponential(0.01), "bulk": Exponential(0.05)}
    assert net.station("db").service["bulk"] == Exponential(0.01)


def test_classes_of_every_kind_and_the_slo_are_carried():
    net = network({"app": QUEUE}, arrivals={"web": {"to": "app", "rate": "4/s", "priority": 1,
                                                    "interarrival": {"cv": 0}}},
                  users={"u": {"to": "app", "population": 5, "think_time": "1s"}},
                  batches={"b": {"to": "app", "size": 7, "at": "2s", "every": "1s",
                                 "count": 3}},
                  slo=["p95 < 1s", "utilization < 0.9"])
    web, u, b = net.classes
    assert (web.kind, web.rate, web.priority, web.interarrival) == (
        "open", 4.0, 1, Deterministic(0.25))
    assert (u.kind, u.population, u.think) == ("closed", 5, Exponential(1.0))
    assert (b.kind, b.size, b.times) == ("batch", 7, [2.0, 3.0, 4.0])
    assert net.slo == ("p95 < 1s", "utilization < 0.9")


def test_failures_go_to_the_members_they_name():
    net = network({"db": {**QUEUE, "kind": "shards", "shards": 3,
                          "failures": {"at": ["1s"], "duration": "1s", "members": [1]}}})
    assert [s.failures is not None for s in net.stations] == [False, True, False]
    assert list(net.failures) == ["db"]


def test_sparse_and_dense_linear_solves_agree():
    n = DENSE_SOLVE_LIMIT + 6
    rng = np.random.default_rng(3)
    routing = np.zeros((n, n))
    for i in range(n - 1):
        routing[i, i + 1] = 0.7
        routing[i, rng.integers(0, n)] += 0.2
    matrix, rhs = np.eye(n) - routing.T, rng.random(n)
    np.testing.assert_allclose(solve_linear(matrix, rhs), np.linalg.solve(matrix, rhs),
                               rtol=1e-10)
