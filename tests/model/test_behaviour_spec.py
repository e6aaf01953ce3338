"""Calls, pools, timeouts, retries, hedging, patience and balking in the model file."""

import copy

import numpy as np
import pytest

import qmodel
from qmodel import Model
from qmodel.errors import ModelError, UnsupportedError

BASE = {
    "nodes": {"app": {"kind": "queue", "servers": 8, "service": "2ms",
                      "calls": [{"to": "db", "count": 2, "pool": "conn"},
                                {"to": "cache", "probability": 0.5}],
                      "service_after": "1ms"},
              "db": {"kind": "shards", "shards": 2, "servers": 4, "service": "3ms",
                     "weights": [3, 1]},
              "cache": {"kind": "delay", "service": "1ms"}},
    "pools": {"conn": {"size": 6}},
    "arrivals": {"web": {"to": "app", "rate": "100/s", "timeout": "50ms",
                         "retries": {"max": 2, "backoff": {"base": "10ms", "cap": "1s",
                                                           "jitter": "full"},
                                     "budget": {"ratio": 0.1}},
                         "hedge": {"after": "p95"}}},
}


def model(change=None) -> Model:
    doc = copy.deepcopy(BASE)
    if change:
        change(doc)
    return Model.from_dict(doc)


def test_fields_are_parsed_in_seconds_and_reach_the_network():
    net = model().network
    app = net.station("app")
    assert [c.to for c in app.calls] == ["db", "cache"]
    assert app.calls[0].pool == "conn" and app.after.mean == pytest.approx(0.001)
    assert net.pools == {"conn": 6}
    client = net.job_class("web").client
    assert client.timeout == pytest.approx(0.05)
    assert client.retries.backoff.base == pytest.approx(0.01)
    assert client.retries.budget.ratio == 0.1 and client.hedge.after == "p95"
    assert net.behaviours == {"calls", "pools", "timeouts", "retries", "hedging"}


def test_called_components_get_the_callers_visits():
    """Each visit to app makes 2 db calls (split 3:1 over the shards) and 0.5 cache calls."""
    net = model().network
    v = net.visits("web")
    assert v[net.index["app"]] == pytest.approx(1.0)
    assert v[net.index["db-0"]] == pytest.approx(1.5)
    assert v[net.index["db-1"]] == pytest.approx(0.5)
    assert v[net.index["cache"]] == pytest.approx(0.5)


def test_nested_calls_multiply():
    def nest(d):
        d["nodes"]["cache"] = {"kind": "queue", "service": "1ms", "calls": [{"to": "db", "count": 3}]}
    net = model(nest).network
    v = net.visits("web")
    assert v[net.index["db-0"]] + v[net.index["db-1"]] == pytest.approx(2 + 0.5 * 3)


def test_a_model_without_behaviours_has_none():
    m = Model.from_dict({"nodes": {"a": {"kind": "queue", "service": "1ms"}},
                         "arrivals": {"w": {"to": "a", "rate": "10/s"}}})
    assert m.network.behaviours == frozenset()
    assert np.allclose(m.network.visits("w"), [1.0])


@pytest.mark.parametrize(("change", "path", "words"), [
    (lambda d: d["nodes"]["app"]["calls"].append({"to": "app"}), "nodes.app.calls.2.to",
     "cannot call itself"),
    (lambda d: d["nodes"]["cache"].update(kind="queue", calls=[{"to": "app"}]),
     "nodes.app.calls", "cycle (app -> cache -> app)"),
    (lambda d: d["nodes"]["app"]["calls"][0].update(pool="x"), "nodes.app.calls.0.pool",
     "no pool named 'x'"),
    (lambda d: d["nodes"]["app"].update(pool="y"), "nodes.app.pool", "no pool named 'y'"),
    (lambda d: d["nodes"]["app"].update(discipline="ps"), "nodes.app.calls",
     "needs discipline: fcfs"),
    (lambda d: d["arrivals"]["web"].update(hedge={"after": "60ms"}),
     "arrivals.web.hedge.after", "shorter than timeout"),
    (lambda d: d["arrivals"]["web"].update(hedge={"after": "p100"}),
     "arrivals.web.hedge.after", "quantile between p0 and p100"),
    (lambda d: d["arrivals"]["web"].update(timeout=None, retries={"max": 1, "when": ["timeout"]}),
     "arrivals.web.retries.when", "no timeout"),
    (lambda d: d["arrivals"]["web"].update(retries={"max": 101}), "arrivals.web.retries.max",
     "100"),
    (lambda d: d["arrivals"]["web"].update(timeout="inf"), "arrivals.web.timeout", ""),
    (lambda d: d["nodes"]["app"].update(balk={}), "nodes.app.balk", "either above"),
    (lambda d: d["nodes"]["app"].update(servers="inf", patience="1s"), "nodes.app.patience",
     "never keeps a job waiting"),
    (lambda d: d["nodes"]["app"]["calls"][0].update(to="nope"), "nodes.app.calls.0.to",
     "no node named 'nope'"),
    (lambda d: d["nodes"]["cache"].update(service_after="1ms"), "nodes.cache.service_after",
     ""),
    (lambda d: d["nodes"]["db"].update(service_after="1ms"), "nodes.db.service_after",
     "makes none"),
    (lambda d: d["pools"]["conn"].update(size=0), "pools.conn.size", "positive integer"),
    (lambda d: d["arrivals"]["web"].update(on_timeout="cancel", timeout=None, retries=None,
                                            hedge=None), "arrivals.web.on_timeout",
     "needs a timeout"),
])
def test_bad_behaviours_name_the_field(change, path, words):
    with pytest.raises(ModelError) as err:
        model(change)
    paths = [p.path for p in err.value.problems]
    assert path in paths, paths
    assert words in str(err.value)


def test_a_long_chain_of_calls_is_checked_without_recursion():
    n = 3000
    nodes = {f"n{i}": {"kind": "queue", "service": "1ms", "calls": [{"to": f"n{i + 1}"}]}
             for i in range(n)}
    nodes[f"n{n}"] = {"kind": "queue", "service": "1ms", "calls": [{"to": "n0"}]}
    with pytest.raises(ModelError, match="calls form a cycle"):
        Model.from_dict({"nodes": nodes, "arrivals": {"w": {"to": "n0", "rate": "1/s"}}})


def test_a_long_cycle_of_calls_is_named_by_its_ends():
    nodes = {f"n{i}": {"kind": "queue", "service": "1ms", "calls": [{"to": f"n{(i + 1) % 150}"}]}
             for i in range(150)}
    with pytest.raises(ModelError) as err:
        Model.from_dict({"nodes": nodes, "arrivals": {"w": {"to": "n0", "rate": "1/s"}}})
    assert str(err.value) == ("nodes.n0.calls: calls form a cycle (n0 -> n1 -> n2 -> n3 -> ... "
                              "-> n149 -> n0: 150 components): a held thread would wait for "
                              "itself")


def chain(count: int) -> dict:
    """a calls b ``count`` times per visit, b calls c ``count`` times."""
    return {"nodes": {"a": {"kind": "queue", "service": "1ms", "calls": [{"to": "b", "count": count}]},
                      "b": {"kind": "queue", "service": "1ms", "calls": [{"to": "c", "count": count}]},
                      "c": {"kind": "queue", "service": "1ms"}},
            "arrivals": {"w": {"to": "a", "rate": "1/s"}}}


def test_calls_that_multiply_past_the_limit_are_refused_where_they_cross_it():
    """A visit to a sets off count x (1 + count) calls: 249 x 250 = 62,250 is allowed (c
    gets 249^2 visits per job), 400 x 401 = 160,400 is not, and b (400 calls) is fine."""
    net = Model.from_dict(chain(249)).network
    assert net.visits("w")[net.index["c"]] == pytest.approx(249 ** 2)
    with pytest.raises(ModelError) as err:
        Model.from_dict(chain(400))
    assert [str(p) for p in err.value.problems] == [
        "nodes.a.calls: one visit sets off 160,400 calls (the calls' own calls included, each "
        "at its count); at most 100,000"]


def test_analytic_methods_that_do_not_model_a_behaviour_pass_it_over():
    with pytest.raises(UnsupportedError, match="does not model synchronous calls"):
        qmodel.solve(model(), method="open")


def test_pool_sizes_are_settable_by_path():
    m = model().with_changes({"pools.conn.size": 3})
    assert m.network.pools == {"conn": 3}


def test_the_documented_example_is_a_valid_model():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "model-format.md").read_text()
    section = text.split("## Held threads", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    net = Model.from_yaml(block).network
    assert net.behaviours == {"calls", "pools", "timeouts", "retries", "hedging",
                              "patience", "balking"}
