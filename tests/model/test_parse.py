"""Every malformed model is rejected with its exact field path and a fix."""

from __future__ import annotations

import pytest

from qmodel import Model, ModelError, load
from qmodel.model.parse import read_yaml

BASE = {
    "nodes": {"app": {"kind": "queue", "servers": 2, "service": "20ms"}},
    "arrivals": {"web": {"to": "app", "rate": "50/s"}},
}


def problems_of(data) -> list[str]:
    with pytest.raises(ModelError) as info:
        Model.from_dict(data)
    return [str(p) for p in info.value.problems]


def with_node(**fields):
    node = {**BASE["nodes"]["app"], **fields}
    return {**BASE, "nodes": {"app": node}}


@pytest.mark.parametrize("data, expected", [
    (with_node(servers=0), "nodes.app.servers: must be a positive integer, got 0"),
    (with_node(servers=-3), "nodes.app.servers: must be a positive integer, got -3"),
    (with_node(servers="many"), "nodes.app.servers: must be a positive integer or 'inf', got 'many'"),
    (with_node(service="-5ms"), "nodes.app.service: must be a positive duration, got '-5ms'"),
    (with_node(service="20 parsecs"), "nodes.app.service: unknown time unit 'parsecs'"),
    (with_node(service={"dist": "gamma", "mean": "2ms", "cv": -1}),
     "nodes.app.service.cv: must be >= 0, got -1"),
    (with_node(service={"dist": "erlang", "mean": "2ms"}), "nodes.app.service.k: is required"),
    (with_node(service={"dist": "weibull", "mean": "2ms"}), "nodes.app.service.dist: must be one of"),
    (with_node(servce="2ms"), "nodes.app.servce: unknown key; did you mean 'service'?"),
    (with_node(discipline="lifo"), "nodes.app.discipline: must be one of"),
    (with_node(capacity=1), "nodes.app.capacity: must be at least servers (2), got 1"),
    (with_node(next={"app": 0.7, "nowhere": 0.2}), "nodes.app.next: no node named 'nowhere'"),
    (with_node(next={"app": 1.5}), "nodes.app.next: app: probability must be a number in [0, 1], got 1.5"),
    ({**BASE, "arrivals": {"web": {"to": "app", "rate": 0}}},
     "arrivals.web.rate: must be a positive rate such as 200/s, got 0"),
    ({**BASE, "arrivals": {"web": {"to": "db", "rate": "5/s"}}}, "arrivals.web.to: no node named 'db'"),
    ({**BASE, "arrivals": {}}, "arrivals: a model needs at least one class of jobs"),
    ({"nodes": {"app": {"service": "2ms"}}, "arrivals": BASE["arrivals"]},
     "nodes.app.kind: is required: one of queue, delay"),
    ({"nodes": {"app": {"kind": "server", "service": "2ms"}}, "arrivals": BASE["arrivals"]},
     "nodes.app.kind: must be one of queue, delay, shards, broker, batcher, fork, join, got 'server'"),
    ({**BASE, "time_unit": "fortnight"}, "time_unit: must be one of"),
    ({**BASE, "extra": 1}, "extra: unknown key"),
])
def test_problem_names_field_path(data, expected):
    assert any(p.startswith(expected) for p in problems_of(data)), problems_of(data)


def test_every_problem_is_reported_at_once():
    data = with_node(servers=0, servce="1ms")
    data["arrivals"] = {"web": {"to": "app", "rate": "-1/s"}}
    paths = {p.split(":")[0] for p in problems_of(data)}
    assert {"nodes.app.servers", "nodes.app.servce", "arrivals.web.rate"} <= paths


def test_unreachable_component_and_no_exit_loop():
    data = {
        "nodes": {
            "a": {"kind": "queue", "service": "1ms", "next": "b"},
            "b": {"kind": "queue", "service": "1ms", "next": "a"},
            "lonely": {"kind": "queue", "service": "1ms"},
        },
        "arrivals": {"web": {"to": "a", "rate": "1/s"}},
    }
    problems = problems_of(data)
    assert any(p.startswith("nodes.a.next: jobs of class 'web' that reach 'a' can never leave")
               for p in problems)
    assert "nodes.lonely: no job can reach this component: no class arrives here and no route " \
           "leads here" in problems


def test_fork_without_join_and_join_without_fork():
    data = {
        "nodes": {
            "split": {"kind": "fork", "branches": ["x"], "join": "merge"},
            "x": {"kind": "queue", "service": "1ms", "next": "merge"},
            "done": {"kind": "join"},
        },
        "arrivals": {"web": {"to": "split", "rate": "1/s"}},
    }
    problems = problems_of(data)
    assert any(p.startswith("nodes.split.join: no node named 'merge'") for p in problems)
    assert any(p.startswith("nodes.x.next: no node named 'merge'") for p in problems)


def test_branch_that_leaks_before_join():
    data = {
        "nodes": {
            "split": {"kind": "fork", "branches": ["x", "y"], "join": "merge"},
            "x": {"kind": "queue", "service": "1ms", "next": {"merge": 0.5}},
            "y": {"kind": "queue", "service": "1ms", "next": "merge"},
            "merge": {"kind": "join"},
        },
        "arrivals": {"web": {"to": "split", "rate": "1/s"}},
    }
    assert any(p.startswith("nodes.x.next: tasks of fork 'split' (class 'web') can leave")
               for p in problems_of(data))


def quorum_read(quorum, fork: dict | None = None) -> dict:
    replica = {"kind": "queue", "service": "1ms", "next": "read_done"}
    return {
        "nodes": {
            "read": fork or {"kind": "fork", "branches": ["r1", "r2", "r3"], "join": "read_done"},
            "r1": replica, "r2": replica, "r3": replica,
            "read_done": {"kind": "join", "quorum": quorum},
        },
        "arrivals": {"reads": {"to": "read", "rate": "5/s"}},
    }


def test_join_quorum_is_at_most_the_tasks_of_its_fork():
    assert problems_of(quorum_read(4)) == [
        "nodes.read_done.quorum: must be at most 3 (the branches of fork read), got 4"]
    pool = {"kind": "fork", "tasks": 2, "task_service": "1ms", "join": "read_done"}
    assert "nodes.read_done.quorum: must be at most 2 (the tasks of fork read), got 3" in \
        problems_of(quorum_read(3, pool))
    assert problems_of(quorum_read(0)) == [
        "nodes.read_done.quorum: must be a positive integer, got 0"]
    assert Model.from_dict(quorum_read(3)).network.station("read_done").quorum == 3


def test_shard_weights_and_name_clash():
    data = {
        "nodes": {
            "db": {"kind": "shards", "shards": 2, "service": "1ms", "weights": [1, 2, 3]},
            "db-1": {"kind": "queue", "service": "1ms"},
        },
        "arrivals": {"web": {"to": {"db": 0.5, "db-1": 0.5}, "rate": "1/s"}},
    }
    problems = problems_of(data)
    assert "nodes.db.weights: must have one weight per shard (2), got 3" in problems
    assert any(p.startswith("nodes.db-1: clashes with member 1 of shards 'db'") for p in problems)


def test_bad_yaml_and_non_mapping():
    with pytest.raises(ModelError, match="not valid YAML at line 3, column 1"):
        read_yaml("nodes:\n  a: [1, 2\n")
    with pytest.raises(ModelError, match="a model must be a mapping with 'nodes', got empty"):
        Model.from_dict(None)
    with pytest.raises(ModelError, match="got a list"):
        Model.from_dict([1, 2])


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        load(tmp_path / "nope.yaml")


def test_yaml_loader_is_safe():
    with pytest.raises(ModelError):
        read_yaml("!!python/object/apply:os.system ['true']")


def test_empirical_from_csv(tmp_path):
    (tmp_path / "times.csv").write_text("latency_ms\n10\n20\n30\n")
    (tmp_path / "m.yaml").write_text(
        "time_unit: ms\n"
        "nodes:\n  app: {kind: queue, service: {dist: empirical, file: times.csv, "
        "column: latency_ms}}\n"
        "arrivals:\n  web: {to: app, rate: 10/s}\n")
    model = load(tmp_path / "m.yaml")
    assert model.network.station("app").service["web"].mean == pytest.approx(0.020)


def test_empirical_csv_errors(tmp_path):
    (tmp_path / "bad.csv").write_text("x\n1\nabc\n")
    data = with_node(service={"dist": "empirical", "file": "bad.csv"})
    problems = [str(p) for p in pytest.raises(ModelError, Model.from_dict, data,
                                              tmp_path).value.problems]
    assert problems[0].startswith("nodes.app.service.file:") and "row 2" in problems[0]


@pytest.mark.parametrize("failures, expected", [
    ({"mttf": "1h"}, "nodes.app.failures: give mttf and mttr together"),
    ({"at": ["10s"]}, "nodes.app.failures.duration: failures at given times need a duration"),
    ({"policy": "lost"}, "nodes.app.failures: give failure times (at) or mttf and mttr"),
])
def test_failure_specs(failures, expected):
    assert any(p.startswith(expected) for p in problems_of(with_node(failures=failures)))


def sharded(**fields) -> dict:
    db = {"kind": "shards", "shards": 12, "service": "1ms", **fields}
    return {"nodes": {"db": db}, "arrivals": {"web": {"to": "db", "rate": "5/s"}}}


CLUSTER = {"members": [8, 9, 10, 11], "together": True, "at": ["10s"], "duration": "2s"}


@pytest.mark.parametrize("data, expected", [
    (with_node(failures={"mttf": "1h", "mttr": "1min", "members": [0]}),
     "nodes.app.failures.members: only for shards and broker members; a queue is one station"),
    (sharded(failures=[CLUSTER, {**CLUSTER, "members": [3, 12]}]),
     "nodes.db.failures.1.members.1: no member 12 (shards 0..11)"),
    (sharded(failures={**CLUSTER, "members": [3, 3]}),
     "nodes.db.failures.members.1: member 3 is listed twice"),
    (sharded(failures={**CLUSTER, "members": []}),
     "nodes.db.failures.members: must list at least one member"),
    (sharded(failures={**CLUSTER, "members": [-1]}), "nodes.db.failures.members.0: must be >= 0"),
    (sharded(failures=[CLUSTER, {"mttf": "1h"}]),
     "nodes.db.failures.1: give mttf and mttr together"),
    (sharded(failures=[CLUSTER, {"mtbf": "1h"}]),
     "nodes.db.failures.1.mtbf: unknown key; did you mean 'mttf'?"),
    (sharded(failures={"mtbf": "1h"}), "nodes.db.failures.mtbf: unknown key; did you mean 'mttf'?"),
    (sharded(failures=3), "nodes.db.failures: must be a mapping, got 3"),
    ({"nodes": {"t": {"kind": "broker", "partitions": 4, "consumers": 2, "service": "1ms",
                      "failures": {**CLUSTER, "members": [2]}}},
      "arrivals": {"m": {"to": "t", "rate": "5/s"}}},
     "nodes.t.failures.members.0: no member 2 (consumers 0..1)"),
    (sharded(rebalance={"period": "100ms", "groups": 5}),
     "nodes.db.rebalance.groups: must divide the 12 shards into equal groups, got 5"),
    (sharded(rebalance={"period": "100ms", "group": 3}),
     "nodes.db.rebalance.group: unknown key; did you mean 'groups'?"),
    (sharded(rebalance={"period": "100ms", "threshold": 0}),
     "nodes.db.rebalance.threshold: must be a positive integer, got 0"),
    (sharded(rebalance="-5ms"), "nodes.db.rebalance: must be a positive duration, got '-5ms'"),
])
def test_member_failures_and_rebalance_groups(data, expected):
    assert any(p.startswith(expected) for p in problems_of(data)), problems_of(data)


def test_member_failures_and_rebalance_forms():
    model = Model.from_dict(sharded(failures=[CLUSTER, {"mttf": "1h", "mttr": "1min"}],
                                    rebalance={"period": "100ms", "groups": 3}))
    net = model.network
    assert [len(net.station(f"db-{i}").failures) for i in (0, 8)] == [1, 2]
    assert net.routers["db"].rebalance.groups == 3
    plain = Model.from_dict(sharded(failures={"mttf": "1h", "mttr": "1min"}, rebalance="100ms"))
    assert plain.network.routers["db"].rebalance.period == pytest.approx(0.1)
    assert len(plain.network.failures["db"]) == 1


def test_branch_checks_only_classes_that_reach_the_fork():
    """A station shared by a fork's branch and another class's route is fine."""
    model = Model.from_dict({
        "nodes": {
            "split": {"kind": "fork", "branches": ["replica"], "join": "merge"},
            "replica": {"kind": "queue", "service": "1ms", "next": "merge",
                        "class_next": {"direct": {}}},
            "merge": {"kind": "join"},
        },
        "arrivals": {"reads": {"to": "split", "rate": "5/s"},
                     "direct": {"to": "replica", "rate": "5/s"}},
    })
    assert model.network.station("replica").kind == "queue"


def batched(**fields):
    return {"nodes": BASE["nodes"], "batches": {"load": {"to": "app", "size": 100, **fields}}}


@pytest.mark.parametrize("data, expected", [
    (batched(size=0), "batches.load.size: must be a positive integer, got 0"),
    (batched(size=2.5), "batches.load.size: must be a positive integer, got 2.5"),
    (batched(at="-1s"), "batches.load.at: must be a non-negative duration, got '-1s'"),
    (batched(every="0s", count=2), "batches.load.every: must be a positive duration"),
    (batched(every="1h"), "batches.load.count: is required with every"),
    (batched(count=3), "batches.load.every: is required with count 3"),
    (batched(to={"app": 0.5}), "batches.load.to: entry probabilities sum to 0.5"),
    (batched(to="db"), "batches.load.to: no node named 'db'"),
    (batched(sizes=5), "batches.load.sizes: unknown key; did you mean 'size'?"),
    ({**batched(), "arrivals": {"load": {"to": "app", "rate": "5/s"}}},
     "batches.load: class name 'load' is already used under arrivals"),
    ({**batched(), "users": {"load": {"to": "app", "population": 3}}},
     "batches.load: class name 'load' is already used under users"),
])
def test_batch_problems_name_their_field(data, expected):
    assert any(p.startswith(expected) for p in problems_of(data)), problems_of(data)


def test_batches_become_batch_classes():
    model = Model.from_dict({**batched(at="2min", every="1h", count=3, priority=1),
                             "arrivals": BASE["arrivals"]})
    load_class = model.network.job_class("load")
    assert (load_class.kind, load_class.size, load_class.priority) == ("batch", 100, 1)
    assert load_class.times == [120.0, 3720.0, 7320.0]
    assert [c.name for c in model.network.batch_classes] == ["load"]
    assert Model.from_dict(batched()).network.job_class("load").times == [0.0]
    routed = Model.from_dict({**batched(), "nodes": {"app": {          # a batch class's route
        "kind": "queue", "service": "1ms", "next": "app", "class_next": {"load": {}}}}})
    assert routed.network.routing["load"].sum() == 0


@pytest.mark.parametrize(("text", "sentence"), [
    ("nodes:\n  a: {kind: queue, service: 1ms\n  b: [\n",
     "line 3, column 4: the { opened at line 2 is not closed (a missing } or a missing comma)"),
    ("nodes:\n  a: [1, 2\n", "the [ opened at line 2 is not closed"),
    ("name: 'x\n", "the quoted text opened at line 1 is not closed (a missing quote)"),
    ("nodes:\n  a:\n    kind: queue\n   service: 1ms\n",
     "line 4, column 4: this line's indentation does not line up"),
    ("nodes:\n\ta: 1\n", "a tab character: indent with spaces"),
    ("name: a: b\n", "a second ': ' on one line"),
    ("name: @x\n", "'@' cannot start a value here (put the value in quotes)"),
    ("name: *x\n", "an *alias with no &anchor before it"),
    ("name: !!python/object:os.system x\n", "a YAML tag (!!…) that a model file cannot use"),
])
def test_yaml_syntax_errors_are_one_plain_sentence_at_their_line(text, sentence):
    with pytest.raises(ModelError) as err:
        read_yaml(text)
    assert sentence in str(err.value)
    assert "<block" not in str(err.value) and "while parsing" not in str(err.value)
