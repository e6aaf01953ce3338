"""The Solve page says what a solution means: each class end to end and rates in a unit a
person reads (2/h). (The SLO verdict and a saturated station in words: test_pages.py,
test_solve_follows_the_url_and_says_where_it_saturates.)"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import qmodel
from qmodel_ui.state import CUSTOM, Scenario

from .conftest import ROOT
from .test_pages import healthy, open_page


def test_per_class_results_are_on_screen(app: AppTest) -> None:
    app.query_params["model"] = "replicated_store"
    at = open_page(app, "solve")
    healthy(at)
    classes = next(d.value for d in at.dataframe if d.value.index.name == "class")
    expected = qmodel.solve(qmodel.load(ROOT / "topologies" / "replicated_store.yaml"))
    for name in ("reads", "writes"):
        ms = expected.classes[name].mean_response_time * 1000
        assert classes.loc[name, "mean response (ms)"] == f"{ms:.4g}"
    assert classes.loc["writes", "mean response (ms)"] == "6.083"  # reads 1.745: the case


def test_rates_are_shown_per_hour_when_small(app: AppTest) -> None:
    app.session_state["custom_yaml"] = (
        "time_unit: min\nnodes:\n  clerk: {kind: delay, service: 10min}\n"
        "arrivals:\n  claims: {to: clerk, rate: 2/h}\n")
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = open_page(app, "solve")
    healthy(at)
    cards = {m.label: m.value for m in at.metric}
    assert cards["throughput (/h)"] == "2"                   # not 0.0005556 (/s)
    assert cards["mean response (min)"] == "10"


def test_a_run_stopped_by_its_event_budget_says_so():
    from qmodel_ui.outcome import stopped_early

    m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
                                "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    sim = qmodel.simulate(m, replications=2, customers=50_000, seed=1, max_events=5_000,
                          method="simpy", progress=False).to_dict()
    assert sim["partial"] and stopped_early(sim).startswith("Stopped at a limit of the run")
    assert stopped_early({"notes": ["interrupted: partial results"]}).startswith("Stopped early")
