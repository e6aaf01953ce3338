"""Model: pick a topology, upload or paste YAML, see the architecture, edit parameters
(every numeric path of the model's address book, :mod:`qmodel.model.paths`), edit the
model as a graph (:mod:`qmodel_ui.graph_view`) or as YAML."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import qmodel
from qmodel.model import paths
from qmodel.units import unit_needed
from qmodel_ui import charts, editor, graph_view, interop, state, views

VERSION = "editor_version"


def _bump() -> None:
    """New keys for the editors, so that they show the new model's values."""
    st.session_state[VERSION] = st.session_state.get(VERSION, 0) + 1


def _pick() -> None:
    state.set_scenario(state.Scenario(st.session_state["topology"]))
    _bump()


def _upload() -> None:
    file = st.session_state.get("upload")
    if file is None:
        return
    st.session_state.pop(interop.REPORT, None)
    if interop.is_jmt(file.name):
        text = interop.read_upload(file.name, file.getvalue())
        if text is not None:
            _use_custom(text)
        return
    text = file.getvalue().decode("utf-8", errors="replace")
    try:
        state.parse(text)
    except qmodel.ModelError as exc:
        st.session_state["upload_problems"] = (file.name, exc.problems, text)
        return
    st.session_state.pop("upload_problems", None)
    _use_custom(text)


def _use_custom(text: str) -> None:
    state.set_scenario(state.Scenario(state.CUSTOM), custom_text=text)
    st.session_state["topology"] = None
    _bump()


def _shown(model: qmodel.Model, param: paths.Parameter) -> str:
    """A parameter's value as the file writes it, with the unit a bare rate or duration
    has in the file's ``time_unit`` written out (``20`` in a model in ms shows ``20ms``)."""
    text = paths.written(model, param)
    if unit_needed(param.kind, text, model.time_unit) is None:
        return text
    return f"{text}/{model.time_unit}" if param.kind == "rate" else f"{text}{model.time_unit}"


def _parameters(cur: state.Current, version: int) -> None:
    params = paths.catalogue(cur.model)
    frame = pd.DataFrame({"parameter": list(params),
                          "value": [_shown(cur.model, p) for p in params.values()],
                          "kind": [p.kind for p in params.values()]})
    edited = st.data_editor(frame, key=f"params-{version}", hide_index=True,
                            disabled=["parameter", "kind"], width="stretch",
                            column_config={"value": st.column_config.TextColumn(
                                help="With its unit: 8, 25ms, 200/s")})
    changes: dict[str, str] = {}
    problems = []
    try:
        for path, new, old in zip(frame["parameter"], edited["value"], frame["value"]):
            if new != old:
                text = "" if new is None else str(new)
                why = unit_needed(params[path].kind, text, cur.model.time_unit)
                if why:
                    problems.append(qmodel.Problem(path, why))
                    continue
                changes.update(paths.override(cur.model, params[path], text))
        if problems:
            raise qmodel.ModelError(problems)
    except qmodel.ModelError as exc:
        views.show_problems(exc.problems, "Not applied")
        return
    if not changes:
        return
    trial = state.changed(cur, changes)
    if trial.model is None:
        views.show_problems(trial.problems, "Not applied")
        return
    state.set_scenario(trial.scenario)
    _bump()
    st.rerun()


def _yaml_editor(cur: state.Current, version: int) -> None:
    """The model's YAML in the editor, its problems (or the edited text's) marked at their
    lines; a valid edit offers Apply."""
    key = f"yaml-{version}"
    text = editor.sent(cur.text, key)
    problems = list(cur.problems)  # shown above the editor when the model is not valid
    if text != cur.text:
        try:
            state.parse(text)
            problems = []
        except qmodel.ModelError as exc:
            problems = exc.problems
    editor.edit(text, key, editor.annotations(text, problems))
    if text == cur.text:
        return
    if problems:
        views.show_problems(problems, "Not applied", text)
        return
    st.success("Valid model.")
    st.button("Apply", type="primary", key="apply-yaml", on_click=_use_custom, args=(text,))


graph_view.apply_pending()
cur = state.current()
version = st.session_state.get(VERSION, 0)
st.title("Model")
names = state.library()
left, right = st.columns([2, 3])
with left:
    base = cur.scenario.base
    st.selectbox("Topology from the library", names, key="topology", on_change=_pick,
                 index=names.index(base) if base in names else None,
                 placeholder="pasted/uploaded model")
with right:
    st.file_uploader("…or upload a model file (YAML, or JMT's .jsimg / .jmva)",
                     type=["yaml", "yml", *interop.UPLOAD_TYPES], key="upload",
                     on_change=_upload)
    interop.show_report()
    if "upload_problems" in st.session_state:
        name, problems, text = st.session_state["upload_problems"]
        views.show_problems(problems, f"{name} is not a valid model", text)

if cur.model is None:
    views.show_problems(cur.problems, text=cur.text)
    if st.button("Reset to the topology's values"):
        state.set_scenario(state.Scenario(base if base in names else state.DEFAULT))
        _bump()
        st.rerun()
    _yaml_editor(cur, version)
    st.stop()

if cur.model.spec.description:
    st.caption(cur.model.spec.description)
graph_tab, edit_tab, yaml_tab = st.tabs(["Architecture and parameters", "Graph", "YAML"])
with graph_tab:
    res = views.solved(cur)
    if res is not None:
        views.show_instability(res, cur.model)
        views.system_metrics(res)
    views.chart(charts.architecture(cur.model, res), f"{cur.name}-architecture", "architecture")
    st.subheader("Parameters")
    st.caption("Edit a value and press Enter; invalid values are not applied and say why.")
    _parameters(cur, version)
    if cur.scenario.changes and st.button("Reset to the topology's values"):
        state.set_scenario(state.Scenario(cur.scenario.base))
        _bump()
        st.rerun()
with edit_tab:
    graph_view.show(cur)
with yaml_tab:
    _yaml_editor(cur, version)
    interop.downloads(cur.model, cur.name)
