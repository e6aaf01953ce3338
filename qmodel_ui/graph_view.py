"""The Model page's Graph tab: the model drawn with ``streamlit-flow-component`` (React
Flow; its frontend is served from its wheel, nothing is fetched from the internet), and
beside it the forms that edit it. Drawing a route from one node's right handle to
another's left handle adds it; clicking a node or an edge selects it for the form.

Each edit is one of :mod:`qmodel_ui.graph_edit`'s, checked by the model's validation: a
valid edit becomes the current model (its YAML is what the YAML tab's editor shows), an
invalid one is not applied and its problems are listed by field path."""

from __future__ import annotations

import hashlib

import streamlit as st
from streamlit_flow import streamlit_flow
from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.layouts import ManualLayout
from streamlit_flow.state import StreamlitFlowState

import qmodel

from . import graph_edit, state, views

SELECTED = "graph_selected"  # the selected node id, or an edge id (graph_edit.EDGE)
PROBLEMS = "graph_problems"  # the problems of the last edit that was refused
_PENDING = "graph_pending"  # the YAML of an applied edit, made current at the next run
_MOUNT = "graph_mount"  # (digest of the model text, mount count): the canvas's key
_NODE_STYLE = {"width": "160px", "fontSize": "14px", "padding": "6px"}
_SOURCE_STYLE = {**_NODE_STYLE, "background": "#eceff1"}


def flow_key(text: str, remount: bool = False) -> str:
    """The canvas's key: a new one for every new model text (and on ``remount``), so that
    the canvas shows the model and never an earlier drawing of the same text."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    seen = st.session_state.get(_MOUNT)
    if seen is None or seen[0] != digest or remount:
        if seen is not None:  # the last canvas's elements: not drawn again
            st.session_state.pop(f"flow-{seen[1]}-state", None)
        seen = (digest, 0 if seen is None else seen[1] + 1)
        st.session_state[_MOUNT] = seen
    return f"flow-{seen[1]}"


def _flow_state(model: qmodel.Model) -> StreamlitFlowState:
    nodes, edges = graph_edit.elements(model)
    return StreamlitFlowState(
        [StreamlitFlowNode(
            n["id"], (n["x"], n["y"]),
            {"content": f"**{views.plain(n['name'])}** · {n['kind']}"
                        + (f"\n\n{views.plain(n['summary'])}" if n["summary"] else "")},
            node_type="input" if n["kind"] in graph_edit.SECTIONS else "default",
            source_position="right", target_position="left", connectable=True,
            selectable=True, deletable=False,
            style=dict(_SOURCE_STYLE if n["kind"] in graph_edit.SECTIONS else _NODE_STYLE))
         for n in nodes],
        [StreamlitFlowEdge(e["id"], e["source"], e["target"], label=e["label"],
                           marker_end={"type": "arrowclosed"}, label_show_bg=True,
                           style={"strokeWidth": 1.5})
         for e in edges],
        timestamp=0)  # never newer than what the canvas holds: it keeps its own edits


def _apply(model: qmodel.Model, select: str | None) -> None:
    """``model`` (validated) becomes the current model at the next run's start
    (:func:`apply_pending`), before the page's widgets are drawn."""
    st.session_state[_PENDING] = model.to_yaml()
    st.session_state[SELECTED] = select
    st.session_state.pop(PROBLEMS, None)
    st.rerun()


def apply_pending() -> None:
    """Make the model of the last graph edit current (the YAML tab then shows its text):
    called at the top of the Model page, as the topology picker must not yet be drawn."""
    text = st.session_state.pop(_PENDING, None)
    if text is not None:
        state.use_text(text)


def _refused(exc: qmodel.ModelError) -> None:
    st.session_state[PROBLEMS] = exc.problems


def show(cur: state.Current) -> None:
    """The Graph tab for the valid current model."""
    model = cur.model
    key = flow_key(cur.text)
    if f"{key}-state" not in st.session_state:
        st.session_state[f"{key}-state"] = _flow_state(model)
    canvas, side = st.columns([2, 1])
    with canvas:
        st.caption("Drag from a node's right edge to another node to add a route (it gets "
                   "the probability its source has left); click a node or a route to edit it.")
        drawn = streamlit_flow(key, st.session_state[f"{key}-state"], height=460,
                               fit_view=True, allow_new_edges=True, get_node_on_click=True,
                               get_edge_on_click=True, hide_watermark=True,
                               layout=ManualLayout())
    if drawn.selected_id:
        st.session_state[SELECTED] = drawn.selected_id
    edges = [(e.source, e.target) for e in drawn.edges]
    try:
        changed = graph_edit.from_canvas(model, edges)
    except qmodel.ModelError as exc:  # the canvas shows the model again, without it
        _refused(exc)
        flow_key(cur.text, remount=True)
        st.rerun()
    if changed is not None:
        new = [e for e in edges if e not in set(graph_edit.graph(model)[0].edges)]
        _apply(changed, graph_edit.EDGE.format(source=new[-1][0], target=new[-1][1])
               if new else None)
    with side:
        if st.session_state.get(PROBLEMS):
            views.show_problems(st.session_state[PROBLEMS], "Not applied")
        _selected(model, key)
        _add(model, key)


def _selected(model: qmodel.Model, key: str) -> None:
    selected = st.session_state.get(SELECTED)
    g, _ = graph_edit.graph(model)
    source, arrow, target = (selected or "").partition("->")
    if arrow and g.has_edge(source, target):
        _route_form(model, key, source, target, g.edges[source, target])
    elif selected in g.nodes:
        _node_form(model, key, selected)
    else:
        st.info("Click a node or a route in the graph to edit it.")


def _node_form(model: qmodel.Model, key: str, node: str) -> None:
    kind = graph_edit.kind_of(model, node)
    name = node.partition(":")[2] or node
    st.subheader(f"{name} ({kind})")
    values = graph_edit.field_values(model, node)
    with st.form(f"{key}-fields-{node}"):
        typed = {}
        for field, value in values.items():
            options = graph_edit.choices(kind, field)
            if options:  # unset: left out of the file, its default applies
                options = options if value else ("", *options)
                typed[field] = st.selectbox(field, options, key=f"{key}-{node}-{field}",
                                            index=options.index(value) if value in options
                                            else 0, format_func=lambda o: o or "(default)")
            else:
                typed[field] = st.text_input(field, value, key=f"{key}-{node}-{field}",
                                             help="With its unit: 8, 25ms, 200/s; a "
                                                  "distribution as {dist: erlang, k: 2, "
                                                  "mean: 5ms}; empty removes an optional "
                                                  "field.")
        if st.form_submit_button("Apply", type="primary"):
            edits = {f: v for f, v in typed.items() if v != values[f]}
            if not edits:
                st.info("Nothing changed: edit a field first.")
            try:
                if edits:
                    _apply(graph_edit.set_fields(model, node, edits), node)
            except qmodel.ModelError as exc:
                views.show_problems(exc.problems, "Not applied")
    if st.button(f"Delete {name}", key=f"{key}-delete-{node}"):
        try:
            _apply(graph_edit.remove(model, node), None)
        except qmodel.ModelError as exc:
            views.show_problems(exc.problems, "Not deleted")


def _route_form(model: qmodel.Model, key: str, source: str, target: str, data: dict) -> None:
    st.subheader(f"{source.partition(':')[2] or source} → {target}")
    if data.get("fork"):
        st.caption("A fork's branch: every job sends a task along it.")
    else:
        with st.form(f"{key}-route-{source}-{target}"):
            p = st.text_input("probability", f"{data.get('p', 1.0):g}",
                              key=f"{key}-p-{source}-{target}")
            if st.form_submit_button("Apply", type="primary"):
                try:
                    _apply(graph_edit.set_probability(model, source, target, p),
                           graph_edit.EDGE.format(source=source, target=target))
                except qmodel.ModelError as exc:
                    views.show_problems(exc.problems, "Not applied")
    if st.button("Delete this route", key=f"{key}-delete-{source}-{target}"):
        try:
            _apply(graph_edit.disconnect(model, source, target), None)
        except qmodel.ModelError as exc:
            views.show_problems(exc.problems, "Not deleted")


def _add(model: qmodel.Model, key: str) -> None:
    st.subheader("Add a component")
    g, _ = graph_edit.graph(model)
    with st.form(f"{key}-add"):
        kind = st.selectbox("kind", graph_edit.ADDABLE, key=f"{key}-add-kind")
        name = st.text_input("name", key=f"{key}-add-name", placeholder="cache")
        source = st.selectbox("fed from", list(g.nodes), key=f"{key}-add-from",
                              help="A component or class that routes jobs to it: a component "
                                   "nothing reaches is not a valid model.")
        p = st.text_input("probability", key=f"{key}-add-p",
                          placeholder="what the source has left")
        if st.form_submit_button("Add"):
            try:
                _apply(graph_edit.add_component(model, name, kind, source, p.strip() or None),
                       name.strip())
            except qmodel.ModelError as exc:
                views.show_problems(exc.problems, "Not added")
