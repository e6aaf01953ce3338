"""Every dashboard page on its defaults, and one behaviour per page, without a browser.

Each behaviour test changes an input and checks the page's number against qmodel called
here directly.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

import qmodel
from qmodel.experiments.metastability import metastability
from qmodel.model.paths import catalogue
from qmodel_ui.state import CUSTOM, Scenario

from .conftest import PAGES, ROOT

WEB = ROOT / "topologies" / "web_service.yaml"


def settle(at: AppTest, timeout_s: float = 120) -> AppTest:
    """Rerun until no background job shows progress (timed fragments do not fire here)."""
    deadline = time.monotonic() + timeout_s
    while at.get("progress") and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.get("progress"), "a background job did not finish"
    return at


def healthy(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error if "Internal error" in e.value or "bug" in e.value]


def open_page(at: AppTest, name: str) -> AppTest:
    at.run()
    return settle(at.switch_page(PAGES[name]).run())


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.4g}"


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_loads_on_defaults(app: AppTest, name: str) -> None:
    at = open_page(app, name)
    healthy(at)
    assert at.title, f"{name} shows no title"
    assert not at.error, [e.value for e in at.error]


def test_model_parameter_edit_changes_the_solution(app: AppTest) -> None:
    at = open_page(app, "model")
    row = list(catalogue(qmodel.load(WEB))).index("nodes.app.servers")
    at.session_state["params-0"] = {"edited_rows": {row: {"value": "10"}}, "added_rows": [],
                                    "deleted_rows": []}
    at.run()
    healthy(at)
    expected = qmodel.solve(qmodel.load(WEB).with_changes({"nodes.app.servers": 10}))
    assert metric(at, "mean response") == ms(expected.system.mean_response_time)
    assert at.query_params["set"] in ("nodes.app.servers=10", ["nodes.app.servers=10"])


def test_model_invalid_value_is_explained_and_not_applied(app: AppTest) -> None:
    at = open_page(app, "model")
    row = list(catalogue(qmodel.load(WEB))).index("nodes.app.servers")
    at.session_state["params-0"] = {"edited_rows": {row: {"value": "0"}}, "added_rows": [],
                                    "deleted_rows": []}
    at.run()
    healthy(at)
    assert any("nodes.app.servers" in e.value and "positive integer" in e.value
               for e in at.error)
    assert metric(at, "mean response") == ms(qmodel.solve(qmodel.load(WEB))
                                              .system.mean_response_time)


def test_model_a_bare_rate_is_refused_and_bare_file_values_show_their_unit(
        app: AppTest) -> None:
    bare = "time_unit: ms\nnodes:\n  app: {kind: queue, service: 4}\n" \
           "arrivals:\n  web: {to: app, rate: 0.1}\n"
    app.session_state["custom_yaml"] = bare
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = open_page(app, "model")
    table = at.get("data_editor")[0].value
    assert dict(zip(table["parameter"], table["value"]))["nodes.app.service"] == "4ms"
    assert dict(zip(table["parameter"], table["value"]))["arrivals.web.rate"] == "0.1/ms"
    row = list(table["parameter"]).index("arrivals.web.rate")
    at.session_state["params-0"] = {"edited_rows": {row: {"value": "300"}},
                                    "added_rows": [], "deleted_rows": []}
    at.run()
    healthy(at)
    message = " ".join(e.value for e in at.error)
    assert "arrivals.web.rate" in message and "a bare 300 would mean 300/ms = 300,000/s" in message
    assert not at.session_state["scenario"].changes                     # not applied


def test_whatif_refuses_a_range_of_bare_rates(app: AppTest) -> None:
    app.query_params["wi_range_arrivals.web.rate"] = "50..300:6"   # refused before sweeping
    at = open_page(app, "whatif")
    healthy(at)
    assert at.text_input(key="wi_range_arrivals.web.rate").value == "50..300:6"
    message = " ".join(e.value for e in at.error).replace("\\", "")  # markdown escapes
    assert "give a unit, e.g. 50/s" in message and "50,000/s" in message


def test_solve_follows_the_url_and_says_where_it_saturates() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["set"] = "arrivals.web.rate=250/s"
    at = open_page(at, "solve")
    healthy(at)
    expected = qmodel.solve(qmodel.load(WEB).with_changes({"arrivals.web.rate": "250/s"}))
    assert metric(at, "mean response") == ms(expected.system.mean_response_time)
    assert metric(at, "throughput") == f"{expected.system.throughput:.4g}"
    p95 = expected.system.p95_response_time * 1000
    assert f"**SLO met:** p95 < 200ms — p95 = {p95:.4g}ms" in " ".join(s.value for s in at.success)

    at.query_params["set"] = "arrivals.web.rate=400/s"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["set"] = "arrivals.web.rate=400/s"
    at = open_page(at, "solve")
    healthy(at)
    message = " ".join(e.value for e in at.error)
    assert "`app` saturates" in message and "320/s" in message
    assert "this model offers 400/s (1.25× that)" in message
    # the SLO verdict (met at 250/s, missed here) and a saturated station in words
    assert "**SLO missed:** p95 < 200ms — p95 = none (no steady state" in message
    stations = next(d.value for d in at.dataframe if d.value.index.name == "station")
    assert stations.loc["app", "R (ms)"] == "unstable"
    assert stations.loc["app", "ρ"] == "1.25 ≥ 1"              # 400/s x 25 ms / 8 servers
    assert stations.loc["app", "method"].startswith("saturated: offered load 1.25")
    assert at.dataframe[0].value.loc["mean response", "value"] == "unstable"


def test_solve_simulates_beside_the_analytic_result(app: AppTest) -> None:
    at = open_page(app, "solve")
    at.number_input(key="replications").set_value(2)
    at.number_input(key="customers").set_value(5000)
    at = settle(at.button(key="simulate").click().run())
    healthy(at)
    table = at.dataframe[-2].value  # analytic beside simulated, by node and metric
    system = table.loc["system"]
    assert abs(system.loc["throughput", "simulated"] - 200) < 20
    assert system.loc["throughput", "analytic"] == pytest.approx(200)
    # the simulated cards: the whole interval under each, a delta inside it in grey
    intervals = [c.value for c in at.caption if c.value.startswith("± ")]
    assert len(intervals) >= 4, intervals
    assert all(re.fullmatch(r"± \S+ \(95%: \S+ – \S+\)", text) for text in intervals)
    simulated = [m for m in at.metric if m.proto.delta]
    assert simulated
    gray = MetricProto.MetricColor.GRAY
    for card in simulated:
        assert ("within" in card.proto.delta) == (card.proto.color == gray), card.proto
    # the response-time distribution: the CDF figure and the chosen percentiles, in ms
    assert [c for c in at.get("plotly_chart") if "response-cdf" in c.proto.id]
    cdf = at.dataframe[-1].value.set_index("percentile")
    assert list(cdf.index) == ["p50", "p95", "p99", "p99.9"]
    analytic = qmodel.solve(qmodel.load(WEB)).classes["web"].percentile(0.95)
    assert cdf.loc["p95", "analytic"] == pytest.approx(analytic * 1000)
    assert cdf.loc["p95", "simulated"] == pytest.approx(analytic * 1000, rel=0.1)
    at.multiselect(key="percentiles").unselect(0.999).select(0.9999).run()
    assert at.dataframe[-1].value["percentile"].tolist() == ["p50", "p95", "p99", "p99.99"]
    at.radio(key="distribution-view").set_value("Histogram").run()
    healthy(at)
    charts = [c.proto.id for c in at.get("plotly_chart")]
    assert any("response-histogram" in c for c in charts)
    assert not any("response-cdf" in c for c in charts)
    # job records: one replication, every visit, slowest job first
    at.number_input(key="records-jobs").set_value(300)
    at = settle(at.button(key="record-jobs").click().run())
    healthy(at)
    jobs = at.dataframe[-2].value  # then the visits of the job picked
    # 300 jobs measured after the warm-up; those of the warm-up and in flight are there too
    assert len(jobs) >= 300 and list(jobs.columns[:3]) == ["replication", "job", "class"]
    assert jobs["response (ms)"].is_monotonic_decreasing
    slowest = at.selectbox(key="records-job").value
    assert slowest == jobs["job"].iloc[0]
    visits = at.dataframe[-1].value
    assert len(visits) == jobs["visits"].iloc[0]
    assert visits["end (ms)"].max() - visits["arrival (ms)"].min() == \
        pytest.approx(jobs["response (ms)"].iloc[0])


def test_a_long_simulation_can_be_cancelled(app: AppTest) -> None:
    at = open_page(app, "solve")
    at.number_input(key="replications").set_value(50)
    at.number_input(key="customers").set_value(1_000_000)
    at = at.button(key="simulate").click().run()
    assert at.get("progress"), "the simulation shows its progress"
    time.sleep(2)
    at = settle(at.button(key="job:simulate-cancel").click().run(), timeout_s=30)
    healthy(at)
    stopped = [w.value for w in at.warning]
    assert any("Stopped early" in w or "Cancelled" in w for w in stopped), stopped


def test_whatif_slider_reads_the_solver(app: AppTest) -> None:
    at = open_page(app, "whatif")
    at.selectbox(key="wi_metric").set_value("mean_response_time")
    at.text_input(key="wi_range_arrivals.web.rate").set_value("100/s..300/s:5")
    at = settle(at.run())
    slider = next(s for s in at.select_slider if s.label.startswith("Explore"))
    at = slider.set_value(250.0).run()
    healthy(at)
    expected = qmodel.solve(qmodel.load(WEB).with_changes({"arrivals.web.rate": "250/s"}))
    assert metric(at, "mean response (ms) at 250") == ms(expected.system.mean_response_time)
    table = at.dataframe[-1].value         # one unit per page: the table's times in ms too
    assert len(table) == 5 and list(table["arrivals.web.rate (/s)"]) == [100, 150, 200, 250, 300]
    assert table["mean_response_time (ms)"].iloc[3] == pytest.approx(
        expected.system.mean_response_time * 1000)
    curve = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert curve["layout"]["xaxis"]["title"]["text"] == "arrivals.web.rate (/s)"


def test_sensitivity_metric_change(app: AppTest) -> None:
    at = open_page(app, "sensitivity")
    at = settle(at.selectbox(key="se_metric").set_value("mean_response_time").run())
    healthy(at)
    expected = qmodel.solve(qmodel.load(WEB)).system.mean_response_time
    assert metric(at, "mean response (ms) now") == ms(expected)
    from qmodel.experiments import sensitivity

    top = sensitivity(qmodel.load(WEB), "mean_response_time", 0.1)["parameter"].iloc[0]
    assert metric(at, "most influential") == top
    table = at.dataframe[-1].value.set_index("parameter")   # values as typed, times in ms
    assert table.loc["nodes.app.service", "value"] == "25ms"
    assert table.loc["arrivals.web.rate", "high"] == "220/s"
    assert "mean response (ms) at high" in table.columns


SINGLE = """
name: single
time_unit: ms
arrivals: {web: {to: app, rate: 100/s}}
nodes: {app: {kind: queue, servers: 2, service: 15ms}}
slo: "p95 < 80ms"
"""


BATCH = """
name: one-batch
time_unit: ms
batches: {load: {to: app, size: 1000}}
nodes: {app: {kind: queue, servers: 2, service: {dist: deterministic, value: 10ms}}}
"""


def test_solve_a_batch_shows_its_makespan_bound_and_simulates(app: AppTest) -> None:
    app.session_state["custom_yaml"] = BATCH
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = open_page(app, "solve")
    healthy(at)
    system = at.dataframe[0].value
    assert system.loc["makespan lower bound", "value"] == "5000"     # 1000 x 10 ms / 2
    assert system.loc["mean response", "value"] == "—"
    assert any("needs simulation: batch arrivals" in c.value for c in at.caption)
    at.number_input(key="replications").set_value(2)
    at = settle(at.button(key="simulate").click().run())
    healthy(at)
    assert any("warm-up: none" in c.value for c in at.caption)


def test_simulated_batch_shows_makespan_completed_and_turnaround_beside_the_bound(
        app: AppTest) -> None:
    """25,000 jobs of 1 ms on 5 servers: more than a replication's default job count, so
    the run must go on until the batch is done; it ends at 5 s, the bound, exactly."""
    app.session_state["custom_yaml"] = BATCH.replace("size: 1000", "size: 25000").replace(
        "servers: 2", "servers: 5").replace("value: 10ms", "value: 1ms")
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = open_page(app, "solve")
    assert "customers" not in [n.key for n in at.number_input]
    at.number_input(key="replications").set_value(2)
    at = settle(at.button(key="simulate").click().run())
    healthy(at)
    batch = next(d.value for d in at.dataframe if "makespan" in d.value.index)
    assert batch.loc["makespan", "simulated"] == "5000 ± 0"
    assert batch.loc["makespan", "lower bound"] == "5000"
    assert batch.loc["jobs completed", "simulated"] == "25000 ± 0"
    assert batch.loc["mean turnaround", "simulated"] == "2500 ± 0"   # (1 + 5000) / 2 ms
    assert batch.loc["mean turnaround", "unit"] == "ms"


def test_plan_for_more_load(app: AppTest) -> None:
    app.session_state["custom_yaml"] = SINGLE
    app.session_state["scenario"] = Scenario(CUSTOM)
    at = open_page(app, "plan")
    at = settle(at.text_input(key="pl_load").set_value("300/s").run())
    healthy(at)
    table = at.dataframe[-1].value
    planned = {row["capacity"]: row["planned"] for row in table.to_dict("records")}
    assert planned == {"nodes.app.servers": 6}
    model = qmodel.Model.from_yaml(SINGLE).with_changes(planned | {"arrivals.web.rate": "300/s"})
    assert metric(at, "p95 response") == ms(qmodel.solve(model).system.p95_response_time)
    assert metric(at, "load") == "300"
    at = settle(at.button(key="pl_headroom").click().run())
    healthy(at)
    assert any("Headroom of the plan" in s.value for s in at.success)


def test_metastability_opens_the_retrying_example_and_draws_its_loop(app: AppTest) -> None:
    at = settle(app.run().switch_page("qmodel_ui/pages/metastability.py").run())
    healthy(at)                                      # the default model has no retries
    assert any("No client of this model retries" in i.value for i in at.info)
    at.session_state["ms_points"] = 10                # a short sweep
    at = settle(at.button(key="ms_example").click().run())
    healthy(at)
    model = qmodel.load(ROOT / "examples" / "models" / "metastable_retries.yaml")
    low, high = metastability(model, points=10).interval
    assert metric(at, "metastable region") == f"{low:.4g} – {high:.4g}"
    assert metric(at, "stable states at its rate") == "2"
    assert any("inside the metastable region" in w.value for w in at.warning)
    fixes = at.dataframe[-1].value.set_index("change (a --set)")
    assert fixes.loc["arrivals.web.retries.budget.ratio=0.1", "removes it"] == "yes"
    assert fixes.loc["nodes.api.servers=9", "removes it"] == "no"
    assert fixes.loc["as is", "metastable from (/s)"] == f"{low:.4g}"
    assert fixes.loc["arrivals.web.retries.max=0", "to (/s)"] == "—"
    at.session_state["scenario"] = Scenario(CUSTOM, (("nodes.api.servers", "10000"),))
    at = settle(at.run())                   # 10,000 servers: the tail stays finite
    healthy(at)
    assert not at.error and metric(at, "stable states at its rate") == "1"


def report(predicted_s: float, measured_s: float) -> bytes:
    """A one-level validation report as ``loadtest`` writes it."""
    row = {"scope": "end-to-end", "metric": "mean_response_s", "measured": measured_s,
           "predicted": predicted_s, "predicted_at_measured": predicted_s,
           "rel_error": measured_s / predicted_s - 1, "rel_error_at_measured": 0.0,
           "within": True, "gate": True}
    level = {"load": 0.5, "target": {"web": 100.0}, "achieved": {"web": 99.0}, "valid": True,
             "passed": True, "checks": {"web": {"valid": True, "problems": []}},
             "windows": [], "predicted_stable": True, "instability": [], "methods": ["exact"],
             "rows": [row], "client": {}, "measured": {}}
    return json.dumps({"schema": "qmodel.validation/1", "model": "web-service", "mode": "open",
                       "tolerance": 0.1, "duration_s": 20, "warmup_s": 3, "repeats": 1,
                       "backend": "embedded", "passed": True, "calibration": {}, "notes": [],
                       "levels": [level]}).encode()


def test_validate_opens_a_report_and_explains_a_missing_redis(app: AppTest, monkeypatch):
    at = open_page(app, "validate")
    predicted = qmodel.solve(qmodel.load(WEB).with_changes({"arrivals.web.rate": "100/s"}))
    mean = float(predicted.system.mean_response_time)
    at = at.file_uploader(key="va_upload").set_value(
        ("validation.json", report(mean, 1.05 * mean), "application/json")).run()
    healthy(at)
    table = at.dataframe[-1].value
    assert table.loc[0, "predicted"] == pytest.approx(mean * 1000)
    assert any("passed" in s.value for s in at.success)

    monkeypatch.setenv("PATH", "/nonexistent")
    at = at.selectbox(key="va_backend").set_value("redis").run()
    healthy(at)
    assert any("redis-server is not installed" in e.value for e in at.error)


def test_compare_variant(app: AppTest) -> None:
    at = open_page(app, "compare")
    at = at.text_area(key="cmp_set").input("nodes.app.servers=10").run()
    healthy(at)
    expected = qmodel.solve(qmodel.load(WEB).with_changes({"nodes.app.servers": 10}))
    assert metric(at, "mean response") == ms(expected.system.mean_response_time)
    assert at.dataframe[0].value.loc["mean response", "change"].startswith("-")


def test_compare_refuses_a_bare_rate_in_b(app: AppTest) -> None:
    at = open_page(app, "compare")
    at = at.text_area(key="cmp_set").input("arrivals.web.rate=300").run()
    healthy(at)
    message = " ".join(e.value for e in at.error)
    assert "B is not a valid model" in message and "300/ms = 300,000/s" in message
