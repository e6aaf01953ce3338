"""The Validate page's *Results files* tab without a browser: an uploaded plain CSV of a
known M/M/1 stream gives :func:`loadtest.results.validate_results`'s verdicts and rows on
the same file, a broken file is one error naming the uploaded file and line, and the
sample (simulated from the current model) passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import qmodel
from loadtest.results import validate_results
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


def test_the_sample_is_simulated_from_the_current_model_and_passes(app: AppTest) -> None:
    at = open_page(app, "validate")  # topologies/web_service.yaml
    at = settle(at.button(key="va_res_sample").click().run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    assert any("passed" in s.value and "web-service" in s.value for s in at.success)
    assert any(m.value.startswith("**web-service-sample-results.csv**") and
               "within tolerance" in m.value for m in at.markdown)
    assert at.dataframe[0].value.loc[1, "metric"] == "mean_response (ms)"
