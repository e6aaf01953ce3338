"""The Load over time page: a model's own profile, a spike added to a constant-rate class,
and bad fields explained by their path (AppTest, tiny simulations)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from qmodel_ui import overtime
from qmodel_ui.state import CUSTOM, Scenario

from .test_pages import healthy, metric, settle

PAGE = "qmodel_ui/pages/timeseries.py"
SPIKE = """name: spike
nodes:
  app: {kind: queue, service: 10ms}
arrivals:
  web:
    to: app
    rate: {profile: spike, base: 50/s, peak: 150/s, at: 3s, duration: 2s, length: 8s}
"""
CONSTANT = """name: constant
nodes:
  app: {kind: queue, service: 10ms}
arrivals:
  web: {to: app, rate: 40/s}
"""


def opened(app: AppTest, text: str) -> AppTest:
    app.session_state["custom_yaml"] = text
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = settle(app.run().switch_page(PAGE).run())
    healthy(at)
    at.number_input(key="ts_replications").set_value(2)
    return at


def test_a_models_own_profile_is_simulated_with_its_peak_and_recovery(app: AppTest) -> None:
    at = opened(app, SPIKE)
    assert at.selectbox(key="ts_kind_web_True").value == "as in the model"
    at = settle(at.button(key="ts_simulate").click().run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[-1].value
    assert len(table) == 8 and {"in_system", "ctmc_in_system"} <= set(table.columns)
    assert metric(at, "peak jobs in system") == f"{table.in_system.max():.4g}"
    ts = at.session_state["job:over_time"].value  # what the worker returned
    assert (ts.replications, ts.seed, ts.bin_s) == (2, 1, 1.0)
    assert [c[1] for c in overtime.cards(ts)] == [m.value for m in at.metric]
    assert len(at.get("plotly_chart")) == 1
    assert any(b.label == "Table (CSV)" for b in at.get("download_button"))


BAD = [
    ("ts_spike_peak_40", "[x](http://h) :x:", r"`arrivals.web.rate.peak`: must be a rate"),
    ("ts_spike_length_40", "-5s", "`arrivals.web.rate.length`"),
    ("ts_bins", "fast", "`bins`: "),
    ("ts_bins", "1ms", "`bins`: 30,000 bins"),
]


def test_a_spike_is_added_to_a_class_without_a_profile(app: AppTest) -> None:
    """Bad fields first, each explained by its path and then put back; then a run."""
    at = opened(app, CONSTANT)
    assert at.selectbox(key="ts_kind_web_False").value == "spike"
    for key, value, shown in BAD:  # one session: each bad value, then put back
        good = at.text_input(key=key).value
        at = at.text_input(key=key).set_value(value).run()
        healthy(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and shown in errors[0], errors
        assert "[x](http" not in errors[0]  # the typed text is shown as typed, not a link
        assert not at.button  # nothing to run
        at = at.text_input(key=key).set_value(good).run()
        assert not at.error and at.button
    for name, value in (("at", "2s"), ("duration", "2s"), ("length", "6s")):
        at.text_input(key=f"ts_spike_{name}_40").set_value(value)
    at = settle(at.button(key="ts_simulate").click().run())
    healthy(at)
    table = at.dataframe[-1].value
    assert table["rate_per_s"].tolist() == [40, 40, 80, 80, 40, 40]  # peak: twice the rate
