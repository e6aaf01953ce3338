"""The Model page's YAML editor: a code editor (Ace, from the ``streamlit-code-editor``
component, served from its own wheel: nothing is fetched from the internet) with line
numbers and YAML highlighting, each problem marked at its line; or a plain text box.

Where a problem is, is worked out here without Streamlit's widgets (:func:`problem_line`,
:func:`annotations`), so that it is tested directly: AppTest cannot type into a custom
component."""

from __future__ import annotations

import re

import streamlit as st
from code_editor import code_editor

import qmodel

from .views import line_of

PLAIN = "yaml_plain"  # the toggle that swaps the code editor for a plain text box
_AT_LINE = re.compile(r"\bat line (\d+)(?:, column (\d+))?")
# the error line's shade and YAML's colours (the component's wrapper greys every token)
_CSS = """
.qm-error-line { position: absolute; background: rgba(255, 75, 75, 0.22); }
.ace_editor .ace_comment { color: #6a737d; font-style: italic; }
.ace_editor .ace_meta.ace_tag { color: #0550ae; }
.ace_editor .ace_string { color: #0a3069; }
.ace_editor .ace_constant { color: #953800; }
.ace_editor .ace_keyword, .ace_editor .ace_list.ace_markup { color: #8250df; }
"""


def problem_line(text: str, problem: qmodel.Problem) -> tuple[int, int] | None:
    """Line and column (both from 1) of ``text`` that ``problem`` is about: a field's key
    for a field path, the parser's position for a YAML syntax error; None when neither.

    >>> text = "nodes:\\n  app:\\n    servers: 0\\n"
    >>> problem_line(text, qmodel.Problem("nodes.app.servers", "must be positive"))
    (3, 1)
    >>> problem_line(text, qmodel.Problem("", "text: not valid YAML at line 2, column 7: x"))
    (2, 7)
    """
    if problem.path:
        line = line_of(text, problem.path)
        return None if line is None else (line, 1)
    found = _AT_LINE.search(problem.message)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 1)


def annotations(text: str, problems: list[qmodel.Problem]) -> list[dict]:
    """Ace annotations (rows from 0) for the problems that have a line in ``text``.

    >>> annotations("a: 1\\n", [qmodel.Problem("a", "must be a list")])
    [{'row': 0, 'column': 0, 'type': 'error', 'text': 'a: must be a list'}]
    """
    out = []
    for problem in problems:
        where = problem_line(text, problem)
        if where is None:
            continue
        message = f"{problem.path}: {problem.message}" if problem.path else problem.message
        out.append({"row": where[0] - 1, "column": where[1] - 1, "type": "error",
                    "text": message})
    return out


def sent(text: str, key: str) -> str:
    """What the editor under ``key`` last sent (``text`` until the user changes it); read
    before the editor is drawn so that the problems of the new text can be marked in it."""
    if st.session_state.get(PLAIN):
        return st.session_state.get(f"{key}-plain", text)
    value = st.session_state.get(key)
    return value["text"] if isinstance(value, dict) and value.get("id") else text


def _carry(text: str, key: str) -> None:
    """On the toggle: the text being edited moves to the editor that replaces it."""
    if st.session_state.get(PLAIN):  # the code editor's text, into the plain box
        value = st.session_state.get(key)
        st.session_state[f"{key}-plain"] = (
            value["text"] if isinstance(value, dict) and value.get("id") else text)
    elif f"{key}-plain" in st.session_state:  # as if the code editor had sent it
        st.session_state[key] = {"id": "plain", "type": "plain",
                                 "text": st.session_state[f"{key}-plain"]}


def edit(text: str, key: str, marks: list[dict]) -> None:
    """The editor showing ``text`` (the model's, or as last sent: :func:`sent`) with
    ``marks`` (:func:`annotations` of that text) in the gutter, their lines shaded; leaving
    the editor or Ctrl+Enter sends the text (read it with :func:`sent`)."""
    st.toggle("Plain text box (no highlighting; for screen readers)", key=PLAIN,
              on_change=_carry, args=(text, key))
    if st.session_state.get(PLAIN):
        st.text_area("Model YAML (paste a whole model here)", text, height=420,
                     key=f"{key}-plain")
        return
    st.caption("Model YAML (paste a whole model here): Ctrl+Enter, or a click outside the "
               "editor, checks it.")
    rows = sorted({m["row"] for m in marks})
    code_editor(
        text, lang="yaml", height=[20, 32], key=key, response_mode="blur",
        # Ace's own YAML worker would replace our marks with its own (none for valid YAML)
        options={"showLineNumbers": True, "tabSize": 2, "useSoftTabs": True,
                 "fontFamily": "monospace", "useWorker": False},
        # the component's own themes @import a web font; Ace's textmate theme does not.
        # No debounce: a rerun that lands inside a debounce period puts the old text back.
        props={"theme": "textmate", "debounceChangePeriod": 0, "annotations": marks,
               "enableLiveAutocompletion": False, "enableSnippets": False,
               "markers": [{"startRow": r, "endRow": r, "startCol": 0, "endCol": 1,
                            "className": "qm-error-line", "type": "fullLine"} for r in rows]},
        component_props={"css": _CSS})
