"""The graph editor's edits on model documents, without Streamlit: each one gives a model
the model's own validation accepts, or its problems by field path and nothing changed."""

from __future__ import annotations

import pytest

import qmodel
from qmodel_ui import graph_edit as ge

from .conftest import ROOT

WEB = qmodel.Model.from_yaml((ROOT / "topologies" / "web_service.yaml").read_text())


def _problems(call, *args) -> list[tuple[str, str]]:
    with pytest.raises(qmodel.ModelError) as caught:
        call(*args)
    return [(p.path, p.message) for p in caught.value.problems]


def test_elements_are_the_components_classes_and_routes_left_to_right() -> None:
    nodes, edges = ge.elements(WEB)
    by_id = {n["id"]: n for n in nodes}
    assert set(by_id) == {"arrivals:web", "gateway", "app", "db"}
    assert [by_id[n]["x"] for n in ("arrivals:web", "gateway", "app", "db")] == [0, 210, 420, 630]
    assert by_id["db"]["kind"] == "shards" and by_id["arrivals:web"]["kind"] == "arrivals"
    assert "shards 4" in by_id["db"]["summary"]
    assert {(e["source"], e["target"], e["label"]) for e in edges} == {
        ("arrivals:web", "gateway", ""), ("gateway", "app", ""), ("app", "db", "p=0.8")}


def test_a_new_component_is_fed_what_its_source_has_left_and_round_trips() -> None:
    model = ge.add_component(WEB, "cache", "queue", "app")
    doc = model.to_dict()
    assert doc["nodes"]["app"]["next"] == {"db": 0.8, "cache": pytest.approx(0.2)}
    assert doc["nodes"]["cache"] == {"kind": "queue", "servers": 1, "service": "10ms"}
    again = qmodel.Model.from_yaml(model.to_yaml())  # the YAML the editor shows
    assert again.to_dict() == doc
    # the new station gets 20% of 200/s: flow balance through the solver
    res = qmodel.solve(again)
    assert res.nodes["cache"].throughput == pytest.approx(0.2 * 200)


def test_adding_is_refused_by_field_path_and_changes_nothing() -> None:
    before = WEB.to_dict()
    assert _problems(ge.add_component, WEB, " ", "queue", "app") == [
        ("nodes", "give the new component a name")]
    [(path, _)] = _problems(ge.add_component, WEB, "bad name", "queue", "app")
    assert path == "nodes.bad name"  # the format's own name rule
    assert _problems(ge.add_component, WEB, "app", "queue", "gateway") == [
        ("nodes.app", "a component of this name exists; pick another name")]
    [(path, message)] = _problems(ge.add_component, WEB, "cache", "queue", "gateway")
    assert path == "nodes.gateway.next" and "routes sum to 1" in message
    [(path, message)] = _problems(ge.add_component, WEB, "cache", "queue", "arrivals:web")
    assert path == "arrivals.web.to" and "split them in the YAML" in message
    assert _problems(ge.add_component, WEB, "cache", "queue", "app", "0.5") == [
        ("nodes.app.next", "probabilities sum to 1.3, more than 1")]
    assert WEB.to_dict() == before


def test_drawn_and_removed_routes_come_from_the_canvas_edges() -> None:
    model = ge.add_component(WEB, "cache", "delay", "app", "0.1")
    _, edges = ge.elements(model)
    drawn = [(e["source"], e["target"]) for e in edges]
    assert ge.from_canvas(model, drawn) is None
    grown = ge.from_canvas(model, [*drawn, ("cache", "db")])
    assert grown.to_dict()["nodes"]["cache"]["next"] == "db"
    # a route the canvas no longer has is removed: db's 0.8 from app, the rest via cache
    shrunk = ge.from_canvas(grown, [e for e in drawn if e != ("app", "db")] + [("cache", "db")])
    assert shrunk.to_dict()["nodes"]["app"]["next"] == {"cache": 0.1}


def test_a_route_that_leaves_a_component_unreached_is_refused() -> None:
    model = ge.add_component(WEB, "cache", "delay", "app", "0.1")
    [(path, message)] = _problems(ge.disconnect, model, "app", "cache")
    assert path == "nodes.cache" and message.startswith("no job can reach this component")


def test_probability_fields_and_deletion() -> None:
    model = ge.set_probability(WEB, "app", "db", "0.5")
    assert model.to_dict()["nodes"]["app"]["next"] == {"db": 0.5}
    [(path, message)] = _problems(ge.set_probability, WEB, "app", "db", "1.5")
    assert path == "nodes.app.next" and "probability must be a number in [0, 1]" in message
    model = ge.set_fields(WEB, "app", {"servers": "10", "service": "20ms",
                                       "capacity": "50", "discipline": "ps"})
    app = model.to_dict()["nodes"]["app"]
    assert (app["servers"], app["service"], app["capacity"], app["discipline"]) == \
        (10, "20ms", 50, "ps")
    assert "capacity" not in ge.set_fields(model, "app", {"capacity": ""}).to_dict()["nodes"]["app"]
    [(path, message)] = _problems(ge.set_fields, WEB, "app", {"service": "20"})
    assert path == "nodes.app.service" and "a bare 20 would mean 20ms" in message
    [(path, _)] = _problems(ge.set_fields, WEB, "arrivals:web", {"rate": "300"})
    assert path == "arrivals.web.rate"
    assert ge.field_values(WEB, "db") == {"shards": "4", "routing": "hash", "servers": "1",
                                          "service": "6ms"}
    # deleting the leaf first works; deleting what the leaf hangs on does not
    assert "db" not in ge.remove(WEB, "db").to_dict()["nodes"]
    assert "db" not in ge.remove(WEB, "db").to_dict()["nodes"]["app"].get("next", {})
    assert [p for p, _ in _problems(ge.remove, WEB, "app")] == ["nodes.db"]


def test_fork_branches_are_its_routes() -> None:
    model = qmodel.Model.from_yaml((ROOT / "topologies" / "lambda_architecture.yaml").read_text())
    _, edges = ge.elements(model)
    assert {e["target"] for e in edges if e["source"] == "layers"} == {"batch", "speed"}
    assert all(e["label"] == "fork" for e in edges if e["source"] == "layers")
    # a new branch must lead to the join: the model's check says so, at the new component
    [(path, message)] = _problems(ge.add_component, model, "audit", "delay", "layers")
    assert path == "nodes.audit.next" and "before join 'visible'" in message
    joined = ge.connect(model, "layers", "visible")  # a branch straight to the join
    assert joined.to_dict()["nodes"]["layers"]["branches"] == ["batch", "speed", "visible"]
    [(path, _)] = _problems(ge.disconnect, model, "layers", "speed")
    assert path == "nodes.speed"  # nothing else reaches it: refused
