"""Where the Model page's editor marks a problem (a field's key, or a YAML syntax error's
position, found in the text), and the page's handling of what the editor sends: AppTest
cannot type into the code editor, so its value is seeded as the component sends it."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import qmodel
from qmodel_ui.editor import annotations, problem_line
from qmodel_ui.state import CUSTOM

from .conftest import ROOT
from .test_pages import healthy, metric, ms, open_page

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


def test_the_model_page_checks_and_applies_what_the_editor_sends(app: AppTest) -> None:
    at = open_page(app, "model")
    at.session_state["yaml-0"] = {"id": "1", "type": "submit",
                                  "text": WEB.replace("servers: 8", "servers: 0")}
    at.run()
    healthy(at)
    assert any("line 22, `nodes.app.servers`: must be a positive integer" in e.value
               for e in at.error), [e.value for e in at.error]
    assert all(b.key != "apply-yaml" for b in at.button)
    at.session_state["yaml-0"] = {"id": "2", "type": "blur",
                                  "text": WEB.replace("servers: 8", "servers: 10")}
    at.run()
    assert at.success[0].value == "Valid model."
    at = at.button(key="apply-yaml").click().run()
    healthy(at)
    assert at.session_state["scenario"].base == CUSTOM
    expected = qmodel.solve(qmodel.Model.from_yaml(WEB.replace("servers: 8", "servers: 10")))
    assert metric(at, "mean response") == ms(expected.system.mean_response_time)


def test_the_plain_text_box_is_checked_and_the_text_moves_with_the_toggle(app: AppTest) -> None:
    at = open_page(app, "model")
    at.session_state["yaml-0"] = {"id": "1", "type": "blur",
                                  "text": WEB.replace("servers: 8", "servers: 0")}
    at = at.run().toggle(key="yaml_plain").set_value(True).run()
    assert "servers: 0" in at.text_area(key="yaml-0-plain").value
    at = at.text_area(key="yaml-0-plain").input(WEB.replace("servers: 8", "servers: [8")).run()
    assert any("not valid YAML at line 23" in e.value for e in at.error)  # checked here too
    at = at.text_area(key="yaml-0-plain").input(WEB.replace("servers: 8", "servers: 9")).run()
    at = at.toggle(key="yaml_plain").set_value(False).run()
    healthy(at)
    assert at.success[0].value == "Valid model."  # servers: 9, carried back
    assert at.session_state["yaml-0"]["text"] == WEB.replace("servers: 8", "servers: 9")
