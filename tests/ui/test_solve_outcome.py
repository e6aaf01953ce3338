"""The Solve page says what a solution means: each class end to end, the SLO met or
missed, rates in a unit a person reads (2/h), and a saturated station in words."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

import qmodel
from qmodel_ui.state import CUSTOM, Scenario

from .conftest import ROOT
from .test_pages import healthy, open_page

WEB = ROOT / "topologies" / "web_service.yaml"


def test_per_class_results_are_on_screen(app: AppTest) -> None:
    app.query_params["model"] = "replicated_store"
    at = open_page(app, "solve")
    healthy(at)
    classes = next(d.value for d in at.dataframe if d.value.index.name == "class")
    expected = qmodel.solve(qmodel.load(ROOT / "topologies" / "replicated_store.yaml"))
    for name in ("reads", "writes"):
        ms = expected.classes[name].mean_response_time * 1000
        assert classes.loc[name, "mean response (ms)"] == f"{ms:.4g}"
    assert classes.loc["writes", "mean response (ms)"] == "6.25"   # reads 1.745: the case


def test_the_slo_verdict_is_on_the_page_met_and_missed() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at = open_page(at, "solve")
    healthy(at)
    p95 = qmodel.solve(qmodel.load(WEB)).system.p95_response_time * 1000
    verdict = " ".join(s.value for s in at.success)
    assert f"**SLO met:** p95 < 200ms — p95 = {p95:.4g}ms" in verdict

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["set"] = "arrivals.web.rate=400/s"
    at = open_page(at, "solve")
    healthy(at)
    message = " ".join(e.value for e in at.error)
    assert "**SLO missed:** p95 < 200ms — p95 = none (no steady state" in message
    stations = next(d.value for d in at.dataframe if d.value.index.name == "station")
    assert stations.loc["app", "R (ms)"] == "unstable"
    assert stations.loc["app", "ρ"] == "1.25 ≥ 1"              # 400/s x 25 ms / 8 servers
    assert stations.loc["app", "method"].startswith("saturated: offered load 1.")
    system = at.dataframe[0].value
    assert system.loc["mean response", "value"] == "unstable"


@pytest.mark.parametrize(("rate", "shown"), [("2/h", "2"), ("30/min", "30")])
def test_rates_are_shown_per_hour_or_minute_when_small(app: AppTest, rate: str,
                                                       shown: str) -> None:
    app.session_state["custom_yaml"] = (
        "time_unit: min\nnodes:\n  clerk: {kind: delay, service: 10min}\n"
        f"arrivals:\n  claims: {{to: clerk, rate: {rate}}}\n")
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = open_page(app, "solve")
    healthy(at)
    per = rate.split("/")[1]
    cards = {m.label: m.value for m in at.metric}
    assert cards[f"throughput (/{per})"] == shown
    assert cards["mean response (min)"] == "10"
