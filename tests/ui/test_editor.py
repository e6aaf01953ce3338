"""Where the Model page's editor marks a problem: a field's key, or a YAML syntax error's
position, found in the text (no browser: AppTest cannot type into the code editor)."""

from __future__ import annotations

import pytest

import qmodel
from qmodel_ui.editor import annotations, problem_line

from .conftest import ROOT

WEB = (ROOT / "topologies" / "web_service.yaml").read_text()


def _problems(text: str) -> list[qmodel.Problem]:
    with pytest.raises(qmodel.ModelError) as caught:
        qmodel.Model.from_yaml(text)
    return caught.value.problems


def test_a_field_error_is_marked_at_its_key() -> None:
    text = WEB.replace("servers: 8", "servers: 0")
    [problem] = _problems(text)
    assert problem.path == "nodes.app.servers"
    line = problem_line(text, problem)
    assert line == (22, 1) and text.splitlines()[21].strip() == "servers: 0"


def test_a_yaml_syntax_error_is_marked_where_the_parser_stopped() -> None:
    text = WEB.replace("servers: 8", "servers: [8")
    [problem] = _problems(text)
    assert "not valid YAML at line 23" in problem.message
    assert problem_line(text, problem) == (23, 12)
    [mark] = annotations(text, [problem])
    assert mark["row"] == 22 and mark["type"] == "error" and "[ opened at line 22" in mark["text"]


def test_a_problem_without_a_place_is_not_marked() -> None:
    problems = [qmodel.Problem("nodes.nowhere.servers", "no such node"),
                qmodel.Problem("", "the model has no arrivals")]
    assert [problem_line(WEB, p) for p in problems] == [(13, 1), None]  # the deepest key
    assert len(annotations(WEB, problems)) == 1
    assert annotations("a: [1\n", [qmodel.Problem("a", "x")]) == []  # not YAML: no key
