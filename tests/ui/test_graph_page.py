"""The Model page's Graph tab (AppTest): the forms beside the graph, and what the canvas
sends (seeded as the component sends it: AppTest cannot draw in a custom component),
each edit applied to the YAML the editor shows, or refused by field path."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import qmodel
from qmodel_ui.state import CUSTOM

from .test_pages import healthy, open_page


def _yaml(at: AppTest) -> qmodel.Model:
    """The current model, as the YAML tab's editor shows it."""
    assert at.session_state["scenario"].base == CUSTOM
    return qmodel.Model.from_yaml(at.session_state["custom_yaml"])


def _submit(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def _canvas(at: AppTest, key: str, extra: list[tuple[str, str]], selected: str | None) -> None:
    """What the canvas sends: its nodes and edges (plus ``extra``) and the selection."""
    flow = at.session_state[f"{key}-state"]
    edges = [e.asdict() for e in flow.edges]
    edges += [{"id": f"st-flow-edge_{s}-{t}", "source": s, "target": t} for s, t in extra]
    at.session_state[key] = {"nodes": [n.asdict() for n in flow.nodes], "edges": edges,
                             "selectedId": selected, "timestamp": 1}


def test_add_a_component_draw_a_route_and_set_its_fields(app: AppTest) -> None:
    at = open_page(app, "model")
    at.selectbox(key="flow-0-add-kind").set_value("queue")
    at.text_input(key="flow-0-add-name").input("cache")
    at.selectbox(key="flow-0-add-from").set_value("app")
    at = _submit(at, "Add")
    healthy(at)
    model = _yaml(at)
    assert model.to_dict()["nodes"]["app"]["next"] == {"db": 0.8, "cache": 0.2}
    assert "cache (queue)" in [h.value for h in at.subheader]  # the new component is selected
    # a route drawn on the canvas, from the new component to db
    _canvas(at, "flow-1", [("cache", "db")], "st-flow-edge_cache-db")
    at.run()
    healthy(at)
    assert _yaml(at).to_dict()["nodes"]["cache"]["next"] == "db"
    assert "cache → db" in [h.value for h in at.subheader]  # the drawn route is selected
    # the new component's fields: an invalid value is refused by path, nothing applied
    _canvas(at, "flow-2", [], "cache")
    at.run()
    before = at.session_state["custom_yaml"]
    at.text_input(key="flow-2-cache-servers").input("0")
    at = _submit(at, "Apply")
    assert any("`nodes.cache.servers`: must be a positive integer, got 0" in e.value
               for e in at.error), [e.value for e in at.error]
    assert at.session_state["custom_yaml"] == before
    at.text_input(key="flow-2-cache-servers").input("3")
    at.text_input(key="flow-2-cache-service").input("4ms")
    at = _submit(at, "Apply")
    healthy(at)
    cache = _yaml(at).to_dict()["nodes"]["cache"]
    assert (cache["servers"], cache["service"]) == (3, "4ms")
    assert "discipline" not in cache and "capacity" not in cache  # unset stays unset
    # and the solution follows: 0.2 × 200/s through cache, the model's utilization
    res = qmodel.solve(_yaml(at))
    assert abs(res.nodes["cache"].utilization - 40 * 0.004 / 3) < 1e-9


def test_refused_edits_deletions_and_a_yaml_edit_redrawing_the_graph(app: AppTest) -> None:
    at = open_page(app, "model")
    assert "p=0.8" in {e.label for e in at.session_state["flow-0-state"].edges}
    _canvas(at, "flow-0", [("gateway", "db")], None)  # gateway's routes already sum to 1
    at.run()
    healthy(at)
    assert any("`nodes.gateway.next`: no probability left for a route to db" in e.value
               for e in at.error), [e.value for e in at.error]
    assert at.session_state["scenario"].base != CUSTOM  # nothing applied
    edges = {(e.source, e.target) for e in at.session_state["flow-1-state"].edges}
    assert ("gateway", "db") not in edges  # a new canvas, drawn from the model
    # a route's probability, then deletions: db (a leaf) goes, gateway (app hangs on it) not
    _canvas(at, "flow-1", [], "app->db")
    at = at.run()
    at.text_input(key="flow-1-p-app-db").input("0.5")
    at = _submit(at, "Apply")
    assert _yaml(at).to_dict()["nodes"]["app"]["next"] == {"db": 0.5}
    _canvas(at, "flow-2", [], "db")
    at = next(b for b in at.run().button if b.label == "Delete db").click().run()
    healthy(at)
    assert set(_yaml(at).spec.nodes) == {"gateway", "app"}
    _canvas(at, "flow-3", [], "gateway")
    at = next(b for b in at.run().button if b.label == "Delete gateway").click().run()
    assert any("`nodes.app`: no job can reach this component" in e.value for e in at.error)
    assert set(_yaml(at).spec.nodes) == {"gateway", "app"}
    # a YAML edit redraws the graph
    text = at.session_state["custom_yaml"].replace("servers: 8", "servers: 9")
    at.session_state[f"yaml-{at.session_state['editor_version']}"] = {
        "id": "1", "type": "blur", "text": text}
    at = at.run().button(key="apply-yaml").click().run()
    healthy(at)
    [app_node] = [n for n in at.session_state["flow-4-state"].nodes if n.id == "app"]
    assert "servers 9" in app_node.data["content"]
