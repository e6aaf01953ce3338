"""The checks across fields (``qmodel.model.check``): each rule with its exact path and
message, on a schema-valid spec, and the helpers the network builder uses."""

from __future__ import annotations

import pytest

from qmodel.model.check import check, class_names, class_source, next_of
from qmodel.model.parse import validate_spec

QUEUE = {"kind": "queue", "service": "1ms"}
WEB = {"web": {"to": "app", "rate": "1/s"}}


def problems(nodes: dict, arrivals: dict | None = None, **sections) -> list[str]:
    spec = validate_spec({"nodes": nodes, "arrivals": WEB if arrivals is None else arrivals,
                          **sections})
    return [str(p) for p in check(spec)]


def fork_join(fork: dict, join: dict | None = None, **more) -> dict:
    """app -> fork f -> (branches) -> join j; the branches are queues a and b."""
    return {"app": {**QUEUE, "next": "f"}, "f": {"kind": "fork", "join": "j", **fork},
            "a": {**QUEUE, "next": "j"}, "b": {**QUEUE, "next": "j"},
            "j": {"kind": "join", **(join or {})}, **more}


def test_a_sound_model_has_no_problems():
    assert problems({"app": QUEUE}) == []
    assert problems(fork_join({"branches": ["a", "b"]})) == []


@pytest.mark.parametrize(("nodes", "arrivals", "sections", "expected"), [
    ({"app": QUEUE}, {}, {}, ["arrivals: a model needs at least one class of jobs: an open "
                              "class under 'arrivals' (rate), a closed one under 'users' or "
                              "a batch under 'batches'"]),
    ({"app": QUEUE}, None, {"users": {"web": {"to": "app", "population": 2}}},
     ["users.web: class name 'web' is already used under arrivals"]),
    ({"app": QUEUE}, None, {"batches": {"b": {"to": "app", "size": 5, "every": "1s"}}},
     ["batches.b.count: is required with every: the number of batches in all"]),
    ({"app": QUEUE}, None, {"batches": {"b": {"to": "app", "size": 5, "count": 3}}},
     ["batches.b.every: is required with count 3: the time between batches"]),
])
def test_classes(nodes, arrivals, sections, expected):
    assert problems(nodes, arrivals, **sections) == expected


@pytest.mark.parametrize(("nodes", "expected"), [
    ({"app": {**QUEUE, "next": {"nowhere": 0.5}}},
     ["nodes.app.next: no node named 'nowhere'; nodes are app"]),
    ({"app": {**QUEUE, "class_next": {"gold": "app"}}},
     ["nodes.app.class_next.gold: no class named 'gold'; classes are web"]),
    ({"app": {**QUEUE, "class_service": {"gold": "2ms"}}},
     ["nodes.app.class_service.gold: no class named 'gold'; classes are web"]),
    ({"app": {**QUEUE, "next": "f"}, "f": {"kind": "fork", "join": "x", "branches": ["app"]}},
     ["nodes.f.join: no node named 'x'; nodes are app, f"]),
    ({"app": {**QUEUE, "next": "f"}, "f": {"kind": "fork", "join": "app", "branches": ["app"]}},
     ["nodes.f.join: must name a node of kind join, 'app' is a queue"]),
])
def test_references(nodes, expected):
    assert problems(nodes) == expected


def test_a_missing_entry_node_is_named_at_the_class():
    assert problems({"app": QUEUE}, {"web": {"to": {"app": 0.5, "ap": 0.5}, "rate": "1/s"}}) == \
        ["arrivals.web.to: no node named 'ap'; nodes are app"]


@pytest.mark.parametrize(("fork", "join", "expected"), [
    ({"branches": ["a", "c"]}, None, ["nodes.f.branches.1: no node named 'c'; nodes are app, f, "
                                      "a, b, j"]),
    ({"branches": ["a", "b"]}, {"quorum": 3},
     ["nodes.j.quorum: must be at most 2 (the branches of fork f), got 3"]),
    ({"tasks": 4, "task_service": "1ms"}, {"quorum": 5},
     ["nodes.j.quorum: must be at most 4 (the tasks of fork f), got 5"]),
    ({"branches": ["a"], "tasks": 2, "task_service": "1ms"}, None,
     ["nodes.f: a fork needs either branches (one task per branch) or tasks (with "
      "task_service, run on slots)",
      "nodes.f.task_service: only for a fork with tasks; branches do their own work"]),
    ({"branches": []}, None, ["nodes.f.branches: must list at least one branch"]),
    ({"tasks": 2}, None, ["nodes.f.task_service: is required for a fork with tasks"]),
    ({"branches": ["a", "b"], "slots": 2}, None,
     ["nodes.f.slots: only for a fork with tasks; branches do their own work"]),
    ({"tasks": 2, "task_service": "1ms", "class_task_service": {"gold": "1ms"}}, None,
     ["nodes.f.class_task_service.gold: no class named 'gold'; classes are web"]),
])
def test_forks_and_joins(fork, join, expected):
    nodes = fork_join(fork, join)
    if "tasks" in fork:  # a and b are not branches: route them somewhere reachable
        nodes["j"]["next"] = "a"
        nodes["a"]["next"], nodes["b"] = {}, {**QUEUE}
        nodes["app"]["next"] = {"f": 0.5, "b": 0.5}
    assert problems(nodes) == expected


def test_a_branch_must_reach_its_join():
    leaky = fork_join({"branches": ["a", "b"]})
    leaky["a"]["next"] = {"j": 0.5}
    assert problems(leaky) == [
        "nodes.a.next: tasks of fork 'f' (class 'web') can leave the system here before join "
        "'j': probabilities must sum to 1"]
    looping = fork_join({"branches": ["a", "b"]})
    looping["a"]["next"] = "f"
    assert "nodes.f.branches: a branch leads back to its own fork before the join" in \
        problems(looping)


def test_one_join_per_fork_and_a_fork_per_join():
    nodes = fork_join({"branches": ["a"]}, g={"kind": "fork", "join": "j", "branches": ["b"]})
    nodes["app"]["next"] = {"f": 0.5, "g": 0.5}
    assert problems(nodes)[0] == "nodes.g.join: 'j' already joins fork 'f'; give each fork its " \
                                 "own join"
    orphan = {"app": {**QUEUE, "next": "j"}, "j": {"kind": "join"}}
    assert problems(orphan) == ["nodes.j: a join needs a fork whose 'join' names it"]


@pytest.mark.parametrize(("node", "expected"), [
    ({"servers": 4, "capacity": 2}, ["nodes.app.capacity: must be at least servers (4), got 2"]),
    ({"servers": "inf", "capacity": 2},
     ["nodes.app.capacity: an infinite-server queue never holds jobs waiting; remove capacity "
      "or set servers"]),
    ({"discipline": "mlfq"}, ["nodes.app.mlfq: discipline mlfq needs an mlfq block and an mlfq "
                              "block needs discipline: mlfq"]),
    ({"mlfq": {"quantum": "1ms"}}, ["nodes.app.mlfq: discipline mlfq needs an mlfq block and an "
                                    "mlfq block needs discipline: mlfq"]),
    ({"failures": {"mttf": "1h"}},
     ["nodes.app.failures: give mttf and mttr together (time to failure and time to repair)"]),
    ({"failures": {"at": ["1s"]}},
     ["nodes.app.failures.duration: failures at given times need a duration (or mttr) for the "
      "repair"]),
    ({"failures": [{"at": ["1s"], "duration": "1s"}, {"policy": "lost"}]},
     ["nodes.app.failures.1: give failure times (at) or mttf and mttr"]),
    ({"failures": {"at": ["1s"], "duration": "1s", "members": [0]}},
     ["nodes.app.failures.members: only for shards and broker members; a queue is one station: "
      "remove members"]),
])
def test_queue_fields(node, expected):
    assert problems({"app": {**QUEUE, **node}}) == expected


@pytest.mark.parametrize(("node", "expected"), [
    ({"kind": "shards", "shards": 2, "weights": [1]},
     ["nodes.app.weights: must have one weight per shard (2), got 1"]),
    ({"kind": "shards", "shards": 2, "weights": [0, 0]},
     ["nodes.app.weights: must contain a positive weight"]),
    ({"kind": "shards", "shards": 4, "rebalance": {"period": "1s", "groups": 3}},
     ["nodes.app.rebalance.groups: must divide the 4 shards into equal groups, got 3"]),
    ({"kind": "shards", "shards": 2, "failures": {"at": ["1s"], "duration": "1s",
                                                  "members": [1, 2, 1]}},
     ["nodes.app.failures.members.1: no member 2 (shards 0..1)",
      "nodes.app.failures.members.2: member 1 is listed twice"]),
    ({"kind": "broker", "partitions": 3, "consumers": 2, "partition_weights": [1, 1]},
     ["nodes.app.partition_weights: must have one weight per partition (3), got 2"]),
    ({"kind": "broker", "partitions": 3, "consumers": 2,
      "failures": {"at": ["1s"], "duration": "1s", "members": []}},
     ["nodes.app.failures.members: must list at least one member (leave it out for every "
      "member)"]),
])
def test_shards_and_broker_fields(node, expected):
    assert problems({"app": {"service": "1ms", **node}}) == expected


def test_a_batcher_needs_a_trigger():
    assert problems({"app": {"kind": "batcher", "per_item": "1ms"}}) == [
        "nodes.app.interval: a batcher needs an interval, a batch_size or both"]


@pytest.mark.parametrize("fields, problem", [
    ({"window": "300ms"},
     "nodes.app.window: must be a multiple of the batch interval 200ms, got 300ms"),
    ({"window": "1s", "slide": "500ms"},
     "nodes.app.slide: must be a multiple of the batch interval 200ms, got 500ms"),
    ({"window": "1s", "slide": "1.2s"}, "nodes.app.slide: must not exceed the window 1s, got 1.2s"),
    ({"slide": "400ms"}, "nodes.app.slide: needs a window"),
    ({"window": "1s", "batch_size": 10},
     "nodes.app.window: needs the batches of a clock: an interval and no batch_size"),
    ({"interval": "10ms", "window": "2e6s"},
     "nodes.app.window: spans 2e+08 batch intervals; at most 1,000,000"),
])
def test_a_window_is_made_of_whole_batch_intervals(fields, problem):
    node = {"kind": "batcher", "interval": "200ms", "per_item": "1ms", **fields}
    assert problems({"app": node}) == [problem]


def test_a_window_of_whole_intervals_is_accepted():
    assert problems({"app": {"kind": "batcher", "interval": "200ms", "window": "1s",
                             "slide": "400ms", "per_item": "1ms"}}) == []


def test_expanded_member_names_must_not_clash():
    nodes = {"app": {**QUEUE, "next": "db"}, "db": {**QUEUE, "kind": "shards", "shards": 2},
             "db-1": QUEUE}
    assert problems(nodes)[0] == "nodes.db-1: clashes with member 1 of shards 'db'; rename one " \
                                 "of them"


def test_routing_entry_sums_loops_and_unreachable_nodes():
    assert problems({"app": QUEUE}, {"web": {"to": {"app": 0.5}, "rate": "1/s"}}) == [
        "arrivals.web.to: entry probabilities sum to 0.5; they must sum to 1"]
    loop = {"app": {**QUEUE, "next": "b"}, "b": {**QUEUE, "next": "app"}, "lonely": QUEUE}
    assert problems(loop) == [
        "nodes.app.next: jobs of class 'web' that reach 'app' can never leave the system: every "
        "route from it loops back; give some route an exit (probabilities summing below 1)",
        "nodes.b.next: jobs of class 'web' that reach 'b' can never leave the system: every "
        "route from it loops back; give some route an exit (probabilities summing below 1)",
        "nodes.lonely: no job can reach this component: no class arrives here and no route "
        "leads here"]


def test_helpers_find_classes_and_routes():
    spec = validate_spec({"nodes": {"app": {**QUEUE, "next": {"db": 0.5},
                                            "class_next": {"bulk": "db"}}, "db": QUEUE},
                          "arrivals": {"web": {"to": "app", "rate": "1/s"}},
                          "batches": {"bulk": {"to": "app", "size": 3}}})
    assert class_names(spec) == ["web", "bulk"]
    assert class_source(spec, "bulk")[0] == "batches"
    assert next_of(spec, "app", "web") == {"db": 0.5}
    assert next_of(spec, "app", "bulk") == {"db": 1.0}
