"""The Projects page: the project it offers for download opens in a fresh session as the
same model with the same saved results; two uploaded projects are compared; a bad upload
is refused with the reason."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import qmodel
from qmodel.project import load_project, project_bytes
from qmodel_ui import work
from qmodel_ui.jobs import Job
from qmodel_ui.state import CUSTOM, Scenario

from .conftest import APP

PAGE = "qmodel_ui/pages/projects.py"
SHOP = """# typed by hand
name: shop
time_unit: ms
nodes:
  app: {kind: queue, servers: 1, service: 10ms}
arrivals:
  web: {to: app, rate: RATE/s}
"""


def shop(rate: int) -> str:
    return SHOP.replace("RATE", str(rate))


def projects_page(at: AppTest) -> AppTest:
    at.run()
    at = at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_a_saved_project_reopens_as_the_same_model_with_its_results(
        app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    offered: dict[str, bytes] = {}
    store = MemoryMediaFileStorage.load_and_get_id

    def keep(self, data, mimetype, kind, filename=None):
        offered[filename] = data
        return store(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    app.session_state["custom_yaml"] = shop(50)
    app.session_state["scenario"] = Scenario(CUSTOM)
    # a What-if sweep of this model that has finished, and one of another model
    sweep = pd.DataFrame({"arrivals.web.rate": [40.0, 60.0], "mean_response_time_s": [
        0.01 / (1 - 0.4), 0.01 / (1 - 0.6)]})
    app.session_state["job:whatif"] = Job(("k",), work.sweep, (shop(50), (), "m", ""), "done",
                                           sweep)
    app.session_state["job:simulate"] = Job(("k",), work.simulate, (shop(60),), "done",
                                            {"result": {}})
    at = projects_page(app)
    assert any("**shop**: the model and solve, sweep" in m.value for m in at.markdown)
    saved = load_project(offered["shop.qmodel.zip"])
    assert saved.model_text == shop(50) and saved.simulate is None
    pd.testing.assert_frame_equal(saved.sweep, sweep)

    fresh = projects_page(AppTest.from_file(str(APP), default_timeout=60))
    fresh.file_uploader(key="project_open").set_value(
        [("shop.qmodel.zip", offered["shop.qmodel.zip"], "application/zip")])
    fresh = fresh.run()
    assert not fresh.exception and not fresh.error
    assert fresh.session_state["custom_yaml"] == shop(50)
    assert fresh.session_state["scenario"].base == CUSTOM
    assert any("Opened **shop**" in s.value for s in fresh.success)
    shown = table(fresh, "value").set_index(["scope", "metric"])["value"]
    assert shown[("system", "mean_response_time")] == pytest.approx(20.0)  # M/M/1: S/(1-ρ)
    assert shown[("app", "utilization")] == pytest.approx(0.5)
    assert any(m.value == "**Model:** shop" for m in fresh.sidebar.markdown)
    pd.testing.assert_frame_equal(table(fresh, "mean_response_time_s"), sweep)


def test_two_projects_are_compared_and_a_bad_one_is_refused(app: AppTest) -> None:
    def saved(rate: int) -> bytes:
        text = shop(rate)
        return project_bytes(text, {"solve": qmodel.solve(qmodel.Model.from_yaml(text))})

    at = projects_page(app)
    at.file_uploader(key="project_open").set_value([("x.qmodel.zip", b"junk", "application/zip")])
    at.file_uploader(key="project_a").set_value([("a.qmodel.zip", saved(50), "application/zip")])
    at.file_uploader(key="project_b").set_value([("b.qmodel.zip", saved(80), "application/zip")])
    at = at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "**Cannot open x\\.qmodel\\.zip:** not a project file \\(a \\.qmodel\\.zip zip "
        "archive\\)"]
    assert table(at, "field").to_dict("records") == [
        {"field": "arrivals.web.rate", "A": "50/s", "B": "80/s", "change": "changed"}]
    metrics = table(at, "B − A").set_index(["scope", "metric"])
    row = metrics.loc[("system", "mean_response_time")]
    assert (row.A, row.B, row.change) == ("20", "50", "+150.0%")
    assert metrics.loc[("app", "utilization"), "change"] == f"{0.8 / 0.5 - 1:+.1%}"
    assert not math.isnan(float(metrics.loc[("app", "throughput"), "B"]))
