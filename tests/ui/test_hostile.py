"""Hostile model text in the dashboard's editor (files from ``tests/model/hostile/``): the
Model page explains it with field paths, with no internal error, and shows echoed text
as typed (no markdown link, image or emoji)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qmodel_ui.state import CUSTOM, Scenario

from .test_pages import healthy, open_page

HOSTILE = Path(__file__).resolve().parents[1] / "model" / "hostile"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name, shown", [
    ("text_rich_markup_and_emoji", r"'\[blink\]20ms \:x\: \:smiley\:'"),
    pytest.param("yaml_billion_laughs_in_service",
                 "more than 200,000 values once its aliases are expanded", marks=pytest.mark.slow),
])
def test_the_model_page_explains_a_hostile_model(app: AppTest, name: str, shown: str) -> None:
    app.session_state["custom_yaml"] = (HOSTILE / f"{name}.yaml").read_text()
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = open_page(app, "model")
    healthy(at)
    assert any(shown in e.value for e in at.error), [e.value for e in at.error]
