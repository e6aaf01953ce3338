"""The Validate page without a browser. *Results files*: an uploaded plain CSV of a known
M/M/1 stream gives :func:`loadtest.results.validate_results`'s verdicts and rows on the
same file, a broken file is one error naming the uploaded file and line, and the sample
(simulated from the current model) passes. *My service*: a non-loopback URL is refused
with nothing started, a malformed request map shows its field path, and one short real
run against gunicorn (an M/M/4: ``loadtest.targets.work``) shows its report."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import qmodel
from loadtest.results import validate_results
from loadtest.targets.gunicorn import GunicornTarget
from qmodel_ui.state import CUSTOM, Scenario

from .test_pages import healthy, open_page, settle

MM1 = """name: mm1
nodes:
  server: {kind: queue, servers: 1, service: 10ms}
arrivals:
  req: {to: server, rate: 30/s}
"""


def mm1_csv(rate: float, service_s: float, n: int = 6000, seed: int = 11) -> bytes:
    """An M/M/1 queue's requests: Poisson sends, sojourns by Lindley's recursion."""
    rng = np.random.default_rng(seed)
    sends = 1.7e9 + np.cumsum(rng.exponential(1 / rate, n))
    service = rng.exponential(service_s, n)
    done, last = np.empty(n), 0.0
    for i in range(n):
        last = max(sends[i], last) + service[i]
        done[i] = last
    rows = ["send_time,latency,status"]
    rows += [f"{t:.6f},{x:.6f},200" for t, x in zip(sends, done - sends)]
    return ("\n".join(rows) + "\n").encode()


def with_mm1(app: AppTest) -> AppTest:
    app.session_state["custom_yaml"] = MM1
    app.session_state["scenario"] = Scenario(CUSTOM)
    return open_page(app, "validate")


def test_an_uploaded_mm1_csv_gives_validate_results_verdicts_and_rows(app: AppTest,
                                                                      tmp_path: Path) -> None:
    right, slow = mm1_csv(30.0, 0.010), mm1_csv(30.0, 0.020, seed=12)
    at = with_mm1(app)
    at.file_uploader(key="va_res_files").set_value([("right.csv", right, "text/csv"),
                                                    ("slow run.csv", slow, "text/csv")])
    at = settle(at.run())
    at = settle(at.button(key="va_res_run").click().run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    (tmp_path / "right.csv").write_bytes(right)
    (tmp_path / "slow run.csv").write_bytes(slow)
    direct = validate_results(qmodel.Model.from_yaml(MM1),
                              [tmp_path / "right.csv", tmp_path / "slow run.csv"])
    assert [lv.passed for lv in direct.levels] == [True, False]
    headings = [m.value for m in at.markdown if m.value.startswith("**right.csv**")
                or m.value.startswith("**slow run.csv**")]
    assert len(headings) == 2
    assert "within tolerance" in headings[0] and "OUT of tolerance" in headings[1]
    assert any("not passed" in w.value for w in at.warning)
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 2
    for table, level in zip(tables, direct.levels):
        assert list(table["metric"].str.replace(" (ms)", "_s", regex=False)) == \
            [r.metric for r in level.rows]
        scale = [1000 if r.metric.endswith("_s") and not r.metric.endswith("_per_s") else 1
                 for r in level.rows]
        assert table["measured"].to_numpy() == pytest.approx(
            [r.measured * k for r, k in zip(level.rows, scale)])
        assert table["predicted"].to_numpy() == pytest.approx(
            [r.predicted * k for r, k in zip(level.rows, scale)])
        assert list(table["within"]) == [r.within for r in level.rows]
        assert "predicted_at_measured" not in table.columns
        assert "the model was given the measured rate" in table.loc[0, "note"]
    # the source file and its caveats, with the uploaded names, never a temporary path
    assert any(c.value == "from slow run.csv (plain CSV)" for c in at.caption)
    assert any("coordinated omission" in w.value for w in at.warning)
    assert any("no class column" in i.value for i in at.info)
    shown = " ".join(e.value for e in [*at.caption, *at.markdown, *at.info, *at.warning])
    assert "results-1" not in shown and "/tmp" not in shown


def test_a_broken_file_names_the_uploaded_file_and_line(app: AppTest) -> None:
    at = with_mm1(app)
    broken = b"send_time,latency,status\n1.0,0.01,200\n1.1,abc,200\n"
    at.file_uploader(key="va_res_files").set_value([("my run.csv", broken, "text/csv")])
    at = settle(at.run())
    at = settle(at.button(key="va_res_run").click().run())
    healthy(at)
    assert [e.value for e in at.error] == [
        "**Comparison failed:** my run.csv line 3: latency: not a number, got 'abc'"]
    at = at.radio(key="va_res_per").set_value("one per time window").run()
    at = at.text_input(key="va_res_window").input("soon").run()
    healthy(at)
    assert [e.value for e in at.error] == [
        "**Window:** a positive duration such as `30s` or `2min`, got `soon`."]


def test_the_sample_is_simulated_from_the_current_model_and_passes(app: AppTest) -> None:
    at = open_page(app, "validate")  # topologies/web_service.yaml
    at = settle(at.button(key="va_res_sample").click().run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    assert any("passed" in s.value and "web-service" in s.value for s in at.success)
    assert any(m.value.startswith("**web-service-sample-results.csv**") and
               "within tolerance" in m.value for m in at.markdown)
    assert at.dataframe[0].value.loc[1, "metric"] == "mean_response (ms)"


MM4 = """name: work-mm4
time_unit: ms
arrivals:
  web: {to: app, rate: 100/s}
nodes:
  app: {kind: queue, servers: 4, service: {dist: exponential, mean: 20ms}}
"""
REQUESTS = """requests:
  overhead: {method: GET, path: /noop}
  web:
    method: POST
    path: '/work?id={id}'
  metrics:
    app:
      throughput: {metric: work_requests_total, labels: {endpoint: work}}
      utilization: {metric: work_busy_seconds_total, per: 4}
"""
ENV = {"WORK_MEAN": "20ms", "WORK_DIST": "exponential", "WORK_STRATIFY": "100",
       "WORK_SEED": "1", "WORK_METRICS": "1"}


def service(app: AppTest) -> AppTest:
    app.session_state["custom_yaml"] = MM4
    app.session_state["scenario"] = Scenario(CUSTOM)
    return open_page(app, "validate")


def request_map(at: AppTest):
    return next(t for t in at.text_area if t.label == "Request map (YAML)")


def test_a_non_loopback_url_is_refused_before_anything_starts(app: AppTest) -> None:
    at = service(app)
    assert not at.error, [e.value for e in at.error]
    assert "web:" in request_map(at).value  # a valid example for the model's classes
    at = at.text_input(key="va_svc_url").input("http://10.1.2.3:9000").run()
    healthy(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "10.1.2.3 is not a loopback address" in errors[0]
    assert "Refused, nothing was sent" in errors[0]
    assert at.button(key="va_svc_start").disabled
    assert "job:validate-service" not in at.session_state
    assert not at.get("progress")
    at = at.text_input(key="va_svc_url").input("http://127.0.0.1:9").run()
    at = at.text_input(key="va_svc_metrics").input("http://example.org/metrics").run()
    assert any("Metrics URL" in e.value and "example.org" in e.value for e in at.error)
    assert "job:validate-service" not in at.session_state


def test_a_malformed_request_map_shows_its_field_path(app: AppTest) -> None:
    at = service(app)
    at = at.text_input(key="va_svc_url").input("http://127.0.0.1:9").run()
    at = request_map(at).input("requests:\n  web:\n    method: POST\n    path: work\n").run()
    healthy(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "The request map is not valid" in errors[0]
    assert "line 4, `requests.web.path`: must start with '/'" in errors[0], errors[0]
    assert at.button(key="va_svc_start").disabled
    at = request_map(at).input("requests:\n  wbe: {path: /}\n").run()
    assert any("`requests.wbe`: unknown job class 'wbe'" in e.value for e in at.error)
    assert "job:validate-service" not in at.session_state


@pytest.mark.loadtest  # real load: it runs with the load tests, on a machine to itself
def test_a_short_run_against_gunicorn_shows_its_report(app: AppTest) -> None:
    at = service(app)
    with GunicornTarget(workers=4, env=ENV) as target:
        at = at.text_input(key="va_svc_url").input(target.url).run()
        at = at.text_input(key="va_svc_metrics").input(f"{target.url}/metrics").run()
        at = request_map(at).input(REQUESTS).run()
        at = at.slider(key="va_svc_duration").set_value(5).run()
        at = at.slider(key="va_svc_warmup").set_value(1).run()
        at = at.slider(key="va_svc_calibration").set_value(5).run()
        at = at.number_input(key="va_svc_retries").set_value(0).run()  # bounded time
        assert not at.error, [e.value for e in at.error]
        at = at.button(key="va_svc_start").click().run()
        job = at.session_state["job:validate-service"]
        deadline = time.monotonic() + 90
        while not job._conn.poll(0.5) and time.monotonic() < deadline:
            pass  # no reruns meanwhile: the load generator needs the CPUs
        at = settle(at.run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    assert job.status == "done", job.value
    report = job.value["report"]
    assert report["calibration"]["kind"] == "target" and len(report["levels"]) == 1
    # the level reached the page as soon as it was compared (the live chart's data)
    assert [lv["rows"] for lv in job.updates] == [lv["rows"] for lv in report["levels"]]
    assert any(c.value.startswith("**Calibration** at load 0.15") for c in at.caption)
    assert any(m.value.startswith("**load 0.5**") for m in at.markdown)
    table = at.dataframe[0].value
    assert "end-to-end (client)" in set(table["scope"]) and "app" in set(table["scope"])
    row = report["levels"][0]["rows"][1]
    assert row["metric"] == "mean_response_s"
    assert table.loc[1, "measured"] == pytest.approx(row["measured"] * 1000)
    assert any(c.value.startswith("error rate: web") for c in at.caption)
    assert any(b.label == "Report (HTML)" for b in at.get("download_button"))
    assert "(request map from the page)" in report["notes"][0]
    assert "qmodel-ui-service" not in job.value["html"]


def test_an_uploaded_html_report_runs_no_script_in_the_page(app: AppTest) -> None:
    """An uploaded report is untrusted: its HTML goes through st.html (sanitized, scripts
    dropped), never components.html, which runs scripts in an iframe of the page's origin."""
    at = with_mm1(app)
    report = b"<table><tr><td>p95</td></tr></table><script>alert('owned')</script>"
    at.file_uploader(key="va_upload").set_value([("validation.html", report, "text/html")])
    settle(at.run())
    healthy(at)
    shown = [el for el in at.main if el.type == "html"]
    assert [el.proto.body for el in shown] == [report.decode()]  # sanitized by the browser
    assert not [el for el in at.main if el.type in ("iframe", "components")]
