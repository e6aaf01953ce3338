"""The Model page's graph editor without Streamlit: a model's components and routes as
graph elements, and each edit the graph makes (add a component, connect or disconnect two
nodes, delete a node, set a node's fields or a route's probability) applied to the model
document and checked by the model's own validation.

Every edit returns a new validated :class:`qmodel.Model` (its YAML is ``model.to_yaml()``)
or raises :class:`qmodel.ModelError` with the field paths at fault; the model passed in is
never changed. A class (an entry of ``arrivals``, ``users`` or ``batches``) is a node of
its own, ``arrivals:web``, with edges to where it sends its jobs.

>>> m = qmodel.Model.from_dict({"time_unit": "ms",
...     "nodes": {"app": {"kind": "queue", "service": "20ms", "next": {"db": 0.5}},
...               "db": {"kind": "queue", "service": "5ms"}},
...     "arrivals": {"web": {"to": "app", "rate": "40/s"}}})
>>> m = add_component(m, "cache", "delay", "app")  # fed with what app leaves: 0.5
>>> m.to_dict()["nodes"]["app"]["next"], m.to_dict()["nodes"]["cache"]
({'db': 0.5, 'cache': 0.5}, {'kind': 'delay', 'service': '10ms'})
>>> m = connect(m, "cache", "db"); m.to_dict()["nodes"]["cache"]["next"]
'db'
>>> set_fields(m, "db", {"servers": "0"})
Traceback (most recent call last):
...
qmodel.errors.ModelError: nodes.db.servers: must be a positive integer, got 0
"""

from __future__ import annotations

from typing import Any, get_args

import networkx as nx
import yaml

import qmodel
from qmodel.model import spec
from qmodel.model.parse import read_yaml
from qmodel.model.paths import unit_problems

SECTIONS = ("arrivals", "users", "batches")
"""The sections of classes; a class is the node ``SECTION:NAME``."""
ADDABLE = ("queue", "delay", "shards", "broker", "batcher")
"""The kinds a component can be added as (a fork needs its join: written in the YAML)."""
STARTS: dict[str, dict[str, Any]] = {
    "queue": {"servers": 1, "service": "10ms"},
    "delay": {"service": "10ms"},
    "shards": {"shards": 2, "servers": 1, "service": "10ms"},
    "broker": {"partitions": 4, "consumers": 2, "service": "10ms"},
    "batcher": {"batch_size": 10, "per_item": "1ms"},
}
"""What a new component starts with (its required fields), edited in the form after."""
FIELDS: dict[str, tuple[str, ...]] = {
    "queue": ("servers", "service", "discipline", "capacity"),
    "delay": ("service",),
    "shards": ("shards", "routing", "servers", "service"),
    "broker": ("partitions", "consumers", "assignment", "service"),
    "batcher": ("batch_size", "interval", "fixed", "per_item", "servers"),
    "fork": ("tasks", "slots", "task_service"),
    "join": ("quorum",),
    "arrivals": ("rate",),
    "users": ("population", "think_time"),
    "batches": ("size", "at", "every", "count"),
}
"""The fields the form beside the graph edits, per node kind or class section."""
_MODELS = {"queue": spec.QueueNode, "shards": spec.ShardsNode, "broker": spec.BrokerNode}
EDGE = "{source}->{target}"
"""An edge's id."""


def choices(kind: str, field: str) -> tuple[str, ...] | None:
    """The values a field of fixed choices takes (``discipline``, ``routing``, …), else None.

    >>> choices("shards", "routing")[:2], choices("queue", "servers")
    (('hash', 'round_robin'), None)
    """
    model = _MODELS.get(kind)
    info = model.model_fields.get(field) if model is not None else None
    options = get_args(info.annotation) if info is not None else ()
    return tuple(options) if options and all(isinstance(o, str) for o in options) else None


def kind_of(model: qmodel.Model, node: str) -> str:
    """A component's kind, or a class's section (``arrivals``…) for a class node."""
    section, sep, _ = node.partition(":")
    return section if sep else model.spec.nodes[node].kind


def graph(model: qmodel.Model) -> tuple[nx.DiGraph, list[str]]:
    """The component graph with a node per class (edges to where its jobs enter) and the
    class nodes."""
    out = model.graph.copy()
    sources = []
    for section in SECTIONS:
        for name, cls in getattr(model.spec, section).items():
            source = f"{section}:{name}"
            sources.append(source)
            out.add_node(source, kind=section, label=name)
            for target, p in cls.to.items():
                out.add_edge(source, target, p=p)
    return out, sources


def layers(g: nx.DiGraph, sources: list[str]) -> dict[str, int]:
    """Columns by hop count from the entry points; nodes not reached go last.

    >>> layers(nx.DiGraph([("s", "a"), ("a", "b")]), ["s"])
    {'s': 0, 'a': 1, 'b': 2}
    """
    depth = nx.multi_source_dijkstra_path_length(g, sources, weight=None) if sources else {}
    last = max(depth.values(), default=0) + 1
    return {n: depth.get(n, last) for n in g.nodes}


def elements(model: qmodel.Model, dx: float = 210, dy: float = 130
             ) -> tuple[list[dict], list[dict]]:
    """The graph's nodes (``id``, ``name``, ``kind``, ``summary``, ``x``, ``y``: columns
    from where work enters, ``dx`` apart) and edges (``id``, ``source``, ``target``,
    ``p``, ``label``: the probability when below 1, ``fork`` for a fork's branch)."""
    g, sources = graph(model)
    column = layers(g, sources)
    rows: dict[int, int] = {}
    nodes = []
    for node in g.nodes:
        row = rows[column[node]] = rows.get(column[node], -1) + 1
        name = node.partition(":")[2] or node
        nodes.append({"id": node, "name": name, "kind": kind_of(model, node),
                      "summary": _summary(model, node), "x": column[node] * dx, "y": row * dy})
    edges = []
    for a, b, data in g.edges(data=True):
        p = data.get("p", 1.0)
        label = "fork" if data.get("fork") else (f"p={p:g}" if p < 1 else "")
        edges.append({"id": EDGE.format(source=a, target=b), "source": a, "target": b,
                      "p": p, "label": label})
    return nodes, edges


def _summary(model: qmodel.Model, node: str) -> str:
    values = field_values(model, node)
    shown = [f"{f} {v}" for f, v in values.items() if v and len(v) <= 24][:3]
    return ", ".join(shown)


def _at(doc: dict, node: str) -> tuple[str, dict]:
    section, sep, name = node.partition(":")
    section, name = (section, name) if sep else ("nodes", node)
    found = doc.get(section, {}).get(name) if isinstance(doc.get(section), dict) else None
    if not isinstance(found, dict):
        raise qmodel.ModelError([qmodel.Problem(f"{section}.{name}", "no such node or class")])
    return f"{section}.{name}", found


def field_values(model: qmodel.Model, node: str) -> dict[str, str]:
    """The form's fields of a node as the file writes them (``25ms``, ``8``; a mapping in
    YAML's flow style; ``""`` when unset)."""
    _, found = _at(model.to_dict(), node)
    return {field: _written(found.get(field)) for field in FIELDS.get(kind_of(model, node), ())}


def _written(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False,
                              width=10**9).strip()
    return str(value)


def _checked(model: qmodel.Model, doc: dict) -> qmodel.Model:
    return qmodel.Model.from_dict(doc, model.base_dir, model.source)


def set_fields(model: qmodel.Model, node: str, values: dict[str, str]) -> qmodel.Model:
    """``node`` with its fields set to ``values`` (YAML text, as typed; ``""`` removes an
    optional field). A rate or duration typed without its unit is refused, saying what it
    would mean in the model's ``time_unit``."""
    doc = model.to_dict()
    path, found = _at(doc, node)
    typed = {}
    for field, text in values.items():
        if not str(text).strip():
            found.pop(field, None)
            continue
        typed[f"{path}.{field}"] = found[field] = read_yaml(str(text), f"{path}.{field}")
    changed = _checked(model, doc)
    problems = unit_problems(changed, typed)
    if problems:
        raise qmodel.ModelError(problems)
    return changed


def _route(doc: dict, node: str) -> tuple[str, dict, str]:
    """Where ``node`` routes its jobs: its path, the entry and the key (``next``, ``to``)."""
    path, found = _at(doc, node)
    return path, found, "next" if path.startswith("nodes.") else "to"


def _as_mapping(route: Any) -> dict:
    if isinstance(route, str):
        return {route: 1.0}
    return dict(route) if isinstance(route, dict) else {}


def left(model: qmodel.Model, node: str) -> float:
    """The probability that leaves ``node`` (1 minus its routes), what a new route gets."""
    section, sep, name = node.partition(":")
    routes = getattr(model.spec, section)[name].to if sep else model.spec.nodes[node].next
    return max(0.0, round(1.0 - sum(routes.values()), 12))


def connect(model: qmodel.Model, source: str, target: str, p: str | float | None = None
            ) -> qmodel.Model:
    """A route from ``source`` to ``target`` with probability ``p`` (by default what
    leaves ``source``; a fork gets a branch instead)."""
    doc = model.to_dict()
    _route_to(doc, model, source, target, p)
    return _checked(model, doc)


def _route_to(doc: dict, model: qmodel.Model, source: str, target: str,
              p: str | float | None) -> None:
    path, found, key = _route(doc, source)
    if found.get("kind") == "fork":
        found["branches"] = [*(found.get("branches") or []), target]
        return
    routes = _as_mapping(found.get(key))
    if target in routes:
        raise qmodel.ModelError([qmodel.Problem(f"{path}.{key}.{target}", "is a route already: "
                                                "select its edge to set its probability")])
    if p is None:
        p = left(model, source)
        if p == 0:
            why = ("its routes sum to 1: lower one first (select its edge)" if key == "next"
                   else "a class's entry probabilities sum to 1: split them in the YAML")
            raise qmodel.ModelError([qmodel.Problem(
                f"{path}.{key}", f"no probability left for a route to {target}: {why}")])
    value = read_yaml(str(p), f"{path}.{key}.{target}")
    routes[target] = value
    found[key] = target if len(routes) == 1 and value == 1 else routes


def disconnect(model: qmodel.Model, source: str, target: str) -> qmodel.Model:
    """``model`` without the route (or the fork's branch) from ``source`` to ``target``."""
    doc = model.to_dict()
    _, found = _at(doc, source)
    _drop(found, target)
    return _checked(model, doc)


def _drop(found: dict, target: str) -> None:
    """Every route of one node or class entry to ``target`` removed."""
    if isinstance(found.get("branches"), list):
        found["branches"] = [b for b in found["branches"] if b != target]
    for key in ("next", "to"):
        if key in found:
            routes = _as_mapping(found[key])
            routes.pop(target, None)
            if routes or key == "to":
                found[key] = routes
            else:
                del found[key]
    for route in (found.get("class_next") or {}).values():
        if isinstance(route, dict):
            route.pop(target, None)


def set_probability(model: qmodel.Model, source: str, target: str, p: str) -> qmodel.Model:
    """The route from ``source`` to ``target`` with probability ``p`` (text, ``0.3``)."""
    doc = model.to_dict()
    path, found, key = _route(doc, source)
    routes = _as_mapping(found.get(key))
    routes[target] = read_yaml(str(p), f"{path}.{key}.{target}")
    found[key] = routes
    return _checked(model, doc)


def add_component(model: qmodel.Model, name: str, kind: str, source: str,
                  p: str | float | None = None) -> qmodel.Model:
    """A new component ``name`` of ``kind`` (:data:`STARTS` its first fields) fed by a
    route from ``source`` (a component or class node) with probability ``p`` (by default
    what leaves ``source``): a component nothing reaches is not a valid model."""
    name = name.strip()
    if not name:
        raise qmodel.ModelError([qmodel.Problem("nodes", "give the new component a name")])
    if name in model.spec.nodes:
        raise qmodel.ModelError([qmodel.Problem(f"nodes.{name}", "a component of this name "
                                                "exists; pick another name")])
    if kind not in STARTS:
        raise qmodel.ModelError([qmodel.Problem(f"nodes.{name}.kind", f"must be one of "
                                                f"{', '.join(ADDABLE)}, got {kind!r}")])
    doc = model.to_dict()
    doc["nodes"][name] = {"kind": kind, **STARTS[kind]}
    _route_to(doc, model, source, name, p)
    return _checked(model, doc)


def remove(model: qmodel.Model, node: str) -> qmodel.Model:
    """``model`` without a component (and every route to it) or a class."""
    doc = model.to_dict()
    section, sep, name = node.partition(":")
    section, name = (section, name) if sep else ("nodes", node)
    _at(doc, node)
    del doc[section][name]
    if not sep:
        for entries in (doc.get(s) or {} for s in ("nodes", *SECTIONS)):
            for found in entries.values():
                if isinstance(found, dict):
                    _drop(found, name)
    return _checked(model, doc)


def from_canvas(model: qmodel.Model, edges: list[tuple[str, str]]) -> qmodel.Model | None:
    """The model with the routes the canvas drew (``edges`` as (source, target), all of
    them) added and those it no longer has removed; None when they are the model's."""
    g, _ = graph(model)
    now = set(g.edges)
    drawn = [e for e in dict.fromkeys(edges) if e not in now]
    gone = [e for e in now if e not in set(edges)]
    if not drawn and not gone:
        return None
    for source, target in gone:
        model = disconnect(model, source, target)
    for source, target in drawn:
        model = connect(model, source, target)
    return model
