"""The Calibrate page without a browser: the sample's estimates are
:func:`qmodel.calibrate.from_traces`'s on the same file, a broken trace file is an error
that names the file and record, and the calibrated model opens on the Model page. Metrics:
an uploaded CSV's estimates are :func:`qmodel.calibrate.from_metrics`'s, what the data
cannot identify is a warning, a broken file names its line, and the synthetic sample
recovers the model's own service times."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

import qmodel
import qmodel.calibrate
from qmodel.calibrate import from_metrics, from_traces
from qmodel.calibrate.modelfile import model_text
from qmodel.calibrate.traces.sample import write_sample
from qmodel_ui.state import CUSTOM, Scenario

from .conftest import ROOT
from .test_pages import healthy, open_page, settle

DATA = ROOT / "tests" / "calibrate" / "data"


def test_the_sample_calibrates_as_from_traces_and_opens_on_the_model_page(app: AppTest,
                                                                          tmp_path) -> None:
    at = open_page(app, "calibrate")
    at = settle(at.button(key="cal_sample").click().run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    # the page's sample: topologies/web_service.yaml, 1,500 jobs, seed 1
    path = write_sample(qmodel.load(ROOT / "topologies" / "web_service.yaml"),
                        tmp_path / "web_service-sample.jsonl", jobs=1500, seed=1)
    direct = from_traces(path, "otlp")
    expected = direct.frame().set_index("path")
    table = at.dataframe[0].value
    assert list(table.index) == list(expected.index)
    scale = expected["unit"].map({"s": 1e3}).fillna(1.0)
    assert table["estimate"].to_numpy() == pytest.approx((expected["value"] * scale).to_numpy())
    assert table["95% low"].to_numpy() == pytest.approx(
        (expected["low"].astype(float) * scale).to_numpy(), nan_ok=True)
    assert list(table["n"]) == list(expected["n"])
    assert list(table["distribution"].fillna("-")) == list(expected["distribution"].fillna("-"))
    assert table.loc["nodes.gateway.service.mean", "unit"] == "ms"
    assert table.loc["arrivals.GET.rate", "unit"] == "/s"
    assert any("web_service-sample.jsonl" in c.value for c in at.caption)
    assert any(c.value.startswith("name: calibrated") or "nodes:" in c.value for c in at.code)

    at = at.button(key="traces-open").click().run()
    healthy(at)
    assert at.title[0].value == "Model"
    assert at.session_state["scenario"].base == CUSTOM
    current = qmodel.Model.from_yaml(at.session_state["custom_yaml"]).to_dict()
    direct = qmodel.Model.from_yaml(model_text(direct)).to_dict()
    assert "web_service-sample.jsonl (otlp)" in current["description"]  # not a temporary path
    assert "/tmp" not in at.session_state["custom_yaml"]
    for doc in (current, direct):
        del doc["description"], doc["calibration"]["source"]
    assert current == direct


def test_a_broken_trace_file_names_the_record_and_a_good_one_calibrates(app: AppTest
                                                                         ) -> None:
    at = open_page(app, "calibrate")
    broken = (DATA / "jaeger_missing_field.json").read_bytes()
    at.file_uploader(key="cal_files").set_value([("shop.json", broken, "application/json")])
    at = settle(at.run())
    at = settle(at.button(key="cal_run").click().run())
    healthy(at)
    errors = [e.value for e in at.error]
    assert errors == ["**Calibration failed:** shop.json: trace 1: span 2: startTime: missing"]

    good = DATA / "zipkin_shop.json"
    at.file_uploader(key="cal_files").set_value([("shop.json", good.read_bytes(),
                                                  "application/json")])
    at.text_input(key="cal_servers").input("orders=3")
    at = settle(at.run())
    at = settle(at.button(key="cal_run").click().run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    expected = from_traces(good, servers={"orders": 3}).frame()
    table = at.dataframe[0].value
    assert list(table.index) == list(expected["path"])
    model = qmodel.Model.from_yaml(at.code[0].value)  # the calibrated model file
    assert model.spec.nodes["orders"].servers == 3
    assert table.loc["nodes.orders.service.mean", "estimate"] == pytest.approx(
        expected.set_index("path").loc["nodes.orders.service.mean", "value"] * 1e3)


def test_servers_that_are_not_counts_are_explained(app: AppTest) -> None:
    at = open_page(app, "calibrate")
    at = at.text_input(key="cal_servers").input("api=eight").run()
    healthy(at)
    assert any("`api=eight` is not *component=count*" in e.value for e in at.error)


def shop(app: AppTest) -> AppTest:
    """The Calibrate page with tests/calibrate/data/shop.yaml as the current model."""
    app.session_state["custom_yaml"] = (DATA / "shop.yaml").read_text()
    app.session_state["scenario"] = Scenario(CUSTOM)
    return open_page(app, "calibrate")


def upload_metrics(at: AppTest, name: str, content: bytes) -> AppTest:
    at.file_uploader(key="cal_metric_files").set_value([(name, content, "text/csv")])
    at = settle(at.run())
    at = settle(at.button(key="cal_metrics_run").click().run())
    healthy(at)
    return at


def test_a_metrics_csv_calibrates_as_from_metrics(app: AppTest) -> None:
    at = shop(app)
    at.checkbox(key="cal_metric_background").check()
    at = upload_metrics(at, "metrics.csv", (DATA / "metrics.csv").read_bytes())
    assert not at.error, [e.value for e in at.error]
    direct = from_metrics(DATA / "metrics.csv", DATA / "shop.yaml", background=True)
    expected = direct.frame().set_index("path")
    table = at.dataframe[0].value
    assert list(table.index) == list(expected.index)
    scale = expected["unit"].map({"s": 1e3}).fillna(1.0)
    assert table["estimate"].to_numpy() == pytest.approx((expected["value"] * scale).to_numpy())
    assert table["95% high"].to_numpy() == pytest.approx(
        (expected["high"].astype(float) * scale).to_numpy())
    assert any("metrics.csv (csv)" in c.value for c in at.caption)  # not a temporary name
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [[t.get("name") for t in f["data"]] for f in figures]
    fit = next(n for n in names if "measured" in n)  # after the architecture graph
    assert "fitted Σ X·D" in fit and fit.count("measured") == len(direct.fits) == 2
    model = qmodel.Model.from_yaml(at.code[0].value)
    assert model.to_dict()["nodes"] == direct.model.to_dict()["nodes"]

    at = at.button(key="metrics-open").click().run()
    healthy(at)
    assert at.title[0].value == "Model"
    assert "calibration" in qmodel.Model.from_yaml(at.session_state["custom_yaml"]).to_dict()


def test_unidentifiable_metrics_show_the_warning(app: AppTest, tmp_path) -> None:
    rows = ["time,duration,count.browse,count.buy,utilization.app,busy.db"]
    for t in range(12):  # buy is always half of browse: only their sum is identified
        n = 600 + 150 * (t % 5)
        rows.append(f"{t * 60},60,{n},{n // 2},{n / 60 * 0.03 / 4 + 0.01 * (t % 3):.4f},"
                    f"{n * 0.006:.3f}")
    path = tmp_path / "proportional.csv"
    path.write_text("\n".join(rows) + "\n")
    direct = from_metrics(path, DATA / "shop.yaml")
    assert direct.warnings
    at = upload_metrics(shop(app), "proportional.csv", path.read_bytes())
    assert not at.error, [e.value for e in at.error]
    shown = [w.value for w in at.warning]
    for w in direct.warnings:
        assert f"**Warning:** {w}" in shown


def test_a_broken_metrics_file_names_the_line(app: AppTest) -> None:
    at = upload_metrics(shop(app), "broken.csv", (DATA / "broken.csv").read_bytes())
    assert [e.value for e in at.error] == [
        "**Calibration failed:** broken.csv, line 5, count.buy: not a number: 'abc'"]


def test_the_synthetic_metrics_sample_recovers_the_models_service_times(app: AppTest
                                                                         ) -> None:
    at = open_page(app, "calibrate")  # topologies/web_service.yaml
    at = settle(at.button(key="cal_metrics_sample").click().run())
    healthy(at)
    assert not at.error, [e.value for e in at.error]
    assert any("Synthetic data" in i.value for i in at.info)
    table = at.dataframe[0].value
    for path, ms in (("nodes.gateway.service.mean", 2.0), ("nodes.app.service.mean", 25.0),
                     ("nodes.db.service.mean", 6.0)):
        row = table.loc[path]
        assert row["95% low"] * 0.97 <= ms <= row["95% high"] * 1.03, (path, row)
