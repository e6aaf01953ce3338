"""The scenario the dashboard shows, kept in the session and mirrored in the URL.

A scenario is a base model — a topology from ``topologies/`` or YAML the user pasted or
uploaded — plus overrides at dotted paths, in the ``path=value`` syntax of
``qmodel solve --set``. A library scenario lives in the URL
(``?model=web_service&set=nodes.app.servers=8``), so a link reproduces it; pasted YAML lives
only in the session.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import streamlit as st

import qmodel
from qmodel.model.parse import read_yaml
from qmodel.model.paths import unit_problems

from . import LIBRARY

DEFAULT = "web_service"
CUSTOM = "custom"
_SCENARIO = "scenario"
_CUSTOM_TEXT = "custom_yaml"


@dataclass(frozen=True)
class Scenario:
    """A base model and ``(path, value)`` overrides, values as YAML text."""

    base: str = DEFAULT
    changes: tuple[tuple[str, str], ...] = ()

    def with_change(self, path: str, value: str) -> Scenario:
        kept = tuple((p, v) for p, v in self.changes if p != path)
        return replace(self, changes=kept + ((path, value),))


@dataclass(frozen=True)
class Current:
    """The scenario's model, or the problems that stop it from being one."""

    scenario: Scenario
    model: qmodel.Model | None
    text: str
    problems: list[qmodel.Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model.name if self.model is not None else self.scenario.base


def library() -> list[str]:
    """Names of the topologies in the library (file stems)."""
    return sorted(p.stem for p in LIBRARY.glob("*.yaml"))


@st.cache_data(show_spinner=False)
def library_text(name: str) -> str:
    return (LIBRARY / f"{name}.yaml").read_text(encoding="utf-8")


@st.cache_resource(show_spinner=False, max_entries=64)
def parse(text: str) -> qmodel.Model:
    """A validated model from YAML text (raises :class:`qmodel.ModelError`); files a model
    names (measured samples) are looked up in the library folder."""
    return qmodel.Model.from_yaml(text, LIBRARY)


def scenario() -> Scenario:
    """The session's scenario; on a session's first run, the one the URL gives."""
    if _SCENARIO not in st.session_state:
        st.session_state[_SCENARIO] = _from_url()
    scn = st.session_state[_SCENARIO]
    _to_url(scn)
    return scn


def set_scenario(scn: Scenario, custom_text: str | None = None) -> None:
    if custom_text is not None:
        st.session_state[_CUSTOM_TEXT] = custom_text
    st.session_state[_SCENARIO] = scn
    _to_url(scn)


def use_text(text: str) -> None:
    """Make the model ``text`` (valid YAML) the current model, as an upload on the Model
    page does: a custom scenario with no overrides, the library pick cleared, and the Model
    page's editors showing it (they are keyed by ``editor_version``)."""
    set_scenario(Scenario(CUSTOM), custom_text=text)
    st.session_state["topology"] = None
    st.session_state["editor_version"] = st.session_state.get("editor_version", 0) + 1


def base_text(scn: Scenario) -> str:
    if scn.base == CUSTOM:
        return st.session_state.get(_CUSTOM_TEXT, library_text(DEFAULT))
    return library_text(scn.base)


def current() -> Current:
    """The current model, with overrides applied; problems carry their field paths."""
    scn = scenario()
    text = base_text(scn)
    try:
        model = parse(text)
    except qmodel.ModelError as exc:
        return Current(scn, None, text, exc.problems)
    return _overridden(scn, model, text, dict(scn.changes)) if scn.changes else \
        Current(scn, model, text)


def topology(name: str) -> Current:
    """A library topology as it is in the file."""
    text = library_text(name)
    try:
        return Current(Scenario(name), parse(text), text)
    except qmodel.ModelError as exc:
        return Current(Scenario(name), None, text, exc.problems)


def changed(cur: Current, changes: dict[str, str]) -> Current:
    """``cur`` with more overrides (not stored): for previews and side-by-side comparison."""
    scn = cur.scenario
    for path, value in changes.items():
        scn = scn.with_change(path, value)
    return _overridden(scn, cur.model, cur.text, changes)


def _overridden(scn: Scenario, model: qmodel.Model, text: str,
                changes: dict[str, str]) -> Current:
    try:
        values = {p: read_yaml(v, p) for p, v in changes.items()}
        problems = unit_problems(model, values)
        changed = model.with_changes(values) if not problems else None
        problems = problems or unit_problems(changed, values)
    except qmodel.ModelError as exc:  # a bad path, or a value that is not valid YAML
        return Current(scn, None, text, exc.problems)
    if problems:  # typed without a unit: refused, saying what it would mean
        return Current(scn, None, text, problems)
    return Current(scn, changed, changed.to_yaml())


def overrides(lines: list[str]) -> dict[str, str]:
    """``path=value`` items (as for ``qmodel solve --set``); blank items are skipped."""
    out = {}
    for item in lines:
        path, sep, value = item.partition("=")
        if sep and path.strip():
            out[path.strip()] = value.strip()
        elif item.strip():
            out[item.strip()] = ""
    return out


def _from_url() -> Scenario:
    name = st.query_params.get("model", DEFAULT)
    if name not in library():
        name = DEFAULT
    return Scenario(name, tuple(overrides(st.query_params.get_all("set")).items()))


def _to_url(scn: Scenario) -> None:
    if st.query_params.get("model") != scn.base:
        st.query_params["model"] = scn.base
    wanted = [f"{p}={v}" for p, v in scn.changes]
    if st.query_params.get_all("set") != wanted:
        if wanted:
            st.query_params["set"] = wanted
        elif "set" in st.query_params:
            del st.query_params["set"]
