"""The address book: the catalogue, closest-path suggestions, writing values with units,
``--set`` on a missing node, class or field, and the Model page offering what sweeps take."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from qmodel import Model, ModelError, load
from qmodel.cli.main import app
from qmodel.model.paths import apply, catalogue, override, resolve, written

from ..experiments.models import mm1

TOPOLOGIES = sorted(Path("topologies").glob("*.yaml"))


def test_catalogue_lists_every_numeric_field(web):
    params = catalogue(web)
    for path in ("nodes.app.servers", "nodes.db.shards", "nodes.db.servers",
                 "nodes.app.service", "nodes.app.service.mean", "nodes.app.service.cv",
                 "arrivals.web.rate", "nodes.app.next.db", "nodes.gateway.capacity"):
        assert path in params, path
    assert params["nodes.db.shards"].value == 4
    assert params["arrivals.web.rate"].value == 200.0          # per second, not per ms
    assert params["nodes.app.service"].value == pytest.approx(0.025)
    assert params["nodes.gateway.capacity"].value is None      # unset, still variable


@pytest.mark.parametrize(("typo", "closest"), [
    ("nodes.app.srevers", "nodes.app.servers"),
    ("nodes.db.shard", "nodes.db.shards"),
    ("arrivals.web.rates", "arrivals.web.rate"),
])
def test_unknown_path_names_the_closest_valid_path(web, typo, closest):
    with pytest.raises(ModelError) as info:
        resolve(web, [typo])
    assert info.value.problems[0].path == typo
    assert f"did you mean {closest}?" in str(info.value)


def test_values_are_written_with_units_in_an_ms_model(web):
    changed = apply(web, {"arrivals.web.rate": 250.0, "nodes.app.service": 0.02,
                          "nodes.db.shards": 6})
    doc = changed.to_dict()
    assert doc["arrivals"]["web"]["rate"] == "250.0/s"          # not 250 per ms
    assert doc["nodes"]["app"]["service"] == {"dist": "exponential", "mean": "0.02s"}
    assert changed.network.classes[0].rate == 250.0
    assert len(changed.network.stations) == 2 + 6


def test_distribution_mean_and_cv_keep_each_other():
    m = mm1(service="10ms")
    changed = apply(m, {"nodes.cpu.service.mean": 0.004, "nodes.cpu.service.cv": 2.0})
    dist = changed.network.station("cpu").service["jobs"]
    assert dist.mean == pytest.approx(0.004) and math.sqrt(dist.scv) == pytest.approx(2.0)


def test_routing_probability_from_a_single_next(web):
    changed = apply(web, {"nodes.gateway.next.app": 0.5})
    assert changed.to_dict()["nodes"]["gateway"]["next"] == {"app": 0.5}


def test_invalid_value_fails_validation_with_its_path():
    with pytest.raises(ModelError, match=r"nodes\.cpu\.servers: must be a whole number"):
        apply(mm1(), {"nodes.cpu.servers": 2.5})


# -- --set and Model.with_changes: a path that names nothing says so ----------------------

@pytest.mark.parametrize(("changes", "expected"), [
    ({"nodes.ap.servers": 4}, "nodes.ap: no node 'ap' (did you mean 'app'?)"),
    ({"nodes.cache.servers": 4}, "nodes.cache: no node 'cache'; nodes are gateway, app, db"),
    ({"arrivals.webb.rate": "5/s"}, "arrivals.webb: no class 'webb' (did you mean 'web'?)"),
    ({"users.web.population": 5}, "users.web: no class 'web' under users; it is under arrivals"),
    ({"nodes.app.srevers": 4},
     "nodes.app.srevers: no field 'srevers' (did you mean 'servers'?); a queue node has "
     "balk, call_order, calls, capacity, class_next, class_service, discipline, failures, "
     "kind, label, mlfq, next, on_full, patience, pool, servers, service, service_after"),
    ({"nodes.db.partitions": 4},
     "nodes.db.partitions: no field 'partitions'; a shards node has admission_rounds, balk, "
     "call_order, calls, capacity, class_next, class_service, clusters, discipline, "
     "failures, kind, label, mlfq, next, on_full, patience, pool, rebalance, routing, "
     "servers, service, service_after, shards, weights"),
    ({"arrivals.web.rat": "5/s"},
     "arrivals.web.rat: no field 'rat' (did you mean 'rate'?); arrivals.web has "
     "hedge, interarrival, on_timeout, priority, rate, retries, timeout, to"),
    ({"nodes.app.service.meen": "2ms"},
     "nodes.app.service.meen: no field 'meen' (did you mean 'mean'?); a distribution has "
     "alpha, column, cv, dist, file, high, k, low, mean, means, probs, rate, samples, scale, "
     "value"),
    ({"nodez.app.servers": 4},
     "nodez: no field 'nodez' (did you mean 'nodes'?); a model has arrivals, batches, "
     "calibration, consistency, description, name, nodes, pools, requests, slo, time_unit, users"),
])
def test_with_changes_on_a_missing_node_class_or_field_says_so(web, changes, expected):
    with pytest.raises(ModelError) as info:
        web.with_changes(changes)
    assert [str(p) for p in info.value.problems] == [expected]


def test_a_whole_new_node_or_per_class_entry_may_still_be_set(web):
    node = {"kind": "delay", "service": "1ms"}
    changed = web.with_changes({"nodes.app.next": {"db": 0.8, "cache": 0.2}, "nodes.cache": node,
                                "nodes.app.class_service.web.mean": "20ms"})
    assert changed.to_dict()["nodes"]["cache"] == node
    assert changed.network.station("app").service["web"].mean == pytest.approx(0.02)


def test_set_on_a_misspelled_node_exits_2_with_the_suggestion():
    result = CliRunner().invoke(app, ["solve", "topologies/web_service.yaml",
                                      "--set", "nodes.ap.servers=4"])
    assert result.exit_code == 2
    assert "nodes.ap: no node 'ap' (did you mean 'app'?)" in result.output
    assert "kind" not in result.output


# -- one address book: the Model page offers exactly what a sweep accepts -----------------

@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_every_sweepable_path_is_editable_on_the_model_page_and_back(path):
    """The Model page lists ``catalogue`` (what ``resolve``, hence every sweep, accepts);
    each value it shows, entered again as an edit, gives a valid model with that value."""
    model = load(path)
    params = catalogue(model)
    assert resolve(model, list(params)) == params
    for param in params.values():
        if param.value is None:
            continue
        changes = override(model, param, written(model, param))
        edited = model.with_changes({p: yaml.safe_load(v) for p, v in changes.items()})
        assert catalogue(edited)[param.path].value == pytest.approx(param.value), param.path


def test_an_edit_with_units_writes_the_document_as_the_model_page_sends_it(web):
    params = catalogue(web)
    assert written(web, params["arrivals.web.rate"]) == "200/s"
    assert override(web, params["arrivals.web.rate"], "250/s") == {"arrivals.web.rate": "250/s"}
    assert override(web, params["nodes.gateway.next.app"], "0.5") == \
        {"nodes.gateway.next": "{app: 0.5}"}
    with pytest.raises(ModelError, match=r"nodes\.app\.service\.cv: must be a number, got 'x'"):
        override(web, params["nodes.app.service.cv"], "x")


def test_counts_and_durations_of_every_kind_are_addressed():
    model = Model.from_dict({
        "nodes": {"f": {"kind": "fork", "join": "j", "tasks": 4, "slots": 2,
                        "task_service": "10ms"},
                  "j": {"kind": "join", "quorum": 3},
                  "b": {"kind": "batcher", "interval": "1s", "servers": 2, "per_item": "1ms"}},
        "arrivals": {"a": {"to": "f", "rate": "1/s"}},
        "batches": {"bulk": {"to": "b", "size": 10, "at": "5s"}}})
    params = catalogue(model)
    assert {p: (params[p].kind, params[p].value) for p in (
        "nodes.f.tasks", "nodes.f.slots", "nodes.j.quorum", "nodes.b.interval",
        "nodes.b.servers", "batches.bulk.at")} == {
        "nodes.f.tasks": ("count", 4), "nodes.f.slots": ("servers", 2),
        "nodes.j.quorum": ("count", 3), "nodes.b.interval": ("duration", 1.0),
        "nodes.b.servers": ("count", 2), "batches.bulk.at": ("duration", 5.0)}
    assert apply(model, {"nodes.j.quorum": 2.0}).spec.nodes["j"].quorum == 2


@pytest.mark.parametrize(("changes", "expected"), [
    ({"nodes." + "a." * 5000 + "b": 1}, "nodes.a: no node 'a'"),
    ({"nodes.app.servers": float("nan")}, "nodes.app.servers: must be a positive integer"),
    ({"nodes.app.service": "nanms"}, "nodes.app.service: must be a duration"),
    ({"": 1}, "no field ''"),
    ({"nodes.app.servers.__class__": 1}, "nodes.app.servers: is not a mapping"),
], ids=["5000 deep", "NaN servers", "NaN duration", "empty path", "into a number"])
def test_hostile_set_paths_and_values_are_field_errors(web, changes, expected):
    with pytest.raises(ModelError) as info:
        web.with_changes(changes)
    assert expected in str(info.value)


def test_infinite_servers_set_by_path_make_a_delay_station(web):
    station = web.with_changes({"nodes.app.servers": "inf"}).network.station("app")
    assert (station.kind, station.servers) == ("delay", math.inf)
