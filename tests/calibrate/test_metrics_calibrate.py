"""from_metrics and ``qmodel calibrate metrics``: demands from metrics written into a model
that ``qmodel solve`` reads, the calibration section, the report, and errors without
tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import qmodel
from qmodel.calibrate import from_metrics
from qmodel.calibrate.metrics import Series, write_model
from qmodel.calibrate.metrics.report import report_html
from qmodel.cli.main import app
from qmodel.model.calibration import intervals

from .synthetic import DEMANDS, MODEL, metrics

DATA = Path(__file__).parent / "data"
SHOP = DATA / "shop.yaml"
runner = CliRunner()


def _truth(comp: str, cls: str) -> float:
    return DEMANDS[["browse", "buy"].index(cls), ["app", "db"].index(comp)]


@pytest.mark.parametrize("source, options", [
    ("metrics.csv", {}),
    ("scrapes.prom", {"throughput": "http_requests_total{route}",
                      "utilization": "process_cpu_seconds_total{service}"}),
    ("range_bundle.json", {}),
])
def test_every_reader_calibrates_the_shop(source, options):
    cal = from_metrics(DATA / source, SHOP, **options)
    covered = 0
    for comp in ("app", "db"):
        for cls in ("browse", "buy"):
            e = cal.estimate(f"nodes.{comp}.class_service.{cls}.mean")
            assert e.value == pytest.approx(_truth(comp, cls), rel=0.1)
            covered += e.low <= _truth(comp, cls) <= e.high
    assert covered >= 3          # 95% intervals: one miss in four happens (scrapes.prom: db/buy)
    model = cal.model
    assert set(intervals(model)) == {e.path for e in cal.estimates}
    service = model.to_dict()["nodes"]["app"]["class_service"]["buy"]
    assert service["cv"] == 0.8                                  # the shape is the model's
    assert qmodel.solve(model).stable


def test_one_shared_mean_when_classes_agree():
    rng = np.random.default_rng(1)
    demands = np.array([[0.020, 0.004], [0.0201, 0.004]])
    x, busy = metrics(rng, intervals=60, demands=demands, noise=0.002)
    s = Series(np.arange(60) * 60.0, np.full(60, 60.0), {"browse": x[:, 0], "buy": x[:, 1]},
               busy={"app": busy[:, 0], "db": busy[:, 1]}, source="synthetic")
    cal = from_metrics(s, SHOP, rates=False)
    e = cal.estimate("nodes.app.service.mean")
    assert e.low <= 0.02005 <= e.high and "class_service" not in cal.model.to_dict()["nodes"]["app"]
    assert cal.model.to_dict()["nodes"]["app"]["service"]["cv"] == 0.8
    assert cal.model.to_dict()["arrivals"] == MODEL["arrivals"]          # rates kept


def test_visits_divide_the_demand(tmp_path):
    # the db is visited twice per job: service time per visit = demand / 2
    doc = {"arrivals": {"web": {"to": "app", "rate": "10/s"}},
           "nodes": {"app": {"kind": "queue", "service": "5ms", "next": "db"},
                     "db": {"kind": "queue", "service": "5ms", "next": {"db2": 1.0}},
                     "db2": {"kind": "queue", "service": "1ms", "next": {"db": 0.5}}}}
    model = qmodel.Model.from_dict(doc)
    assert model.network.visits("web")[model.network.index["db"]] == pytest.approx(2.0)
    x = np.linspace(10, 40, 15)
    s = Series(np.arange(15) * 10.0, np.full(15, 10.0), {"web": x},
               utilization={"db": x * 0.012}, source="synthetic")
    cal = from_metrics(s, model)
    assert cal.estimate("nodes.db.service.mean").value == pytest.approx(0.006)


def test_unidentifiable_demands_are_reported_and_the_model_keeps_its_values():
    rng = np.random.default_rng(2)
    x, busy = metrics(rng, intervals=60, proportional=True)
    s = Series(np.arange(60) * 60.0, np.full(60, 60.0), {"browse": x[:, 0], "buy": x[:, 1]},
               busy={"app": busy[:, 0], "db": busy[:, 1]}, source="synthetic")
    cal = from_metrics(s, SHOP)
    bad = [e for e in cal.estimates if e.fit and e.fit.get("identifiable") is False]
    assert len(bad) == 4 and all(np.isnan(e.value) and e.high == np.inf for e in bad)
    assert all(e.method.startswith("unidentifiable: browse and buy stay in one proportion")
               for e in bad)
    assert cal.model.to_dict()["nodes"] == MODEL["nodes"]               # nothing guessed
    assert any("one proportion" in w for w in cal.warnings)
    assert json.loads(cal.to_json())["estimates"][0]["value"] is None
    assert not any("class_service" in p for p in intervals(cal.model))


def test_response_times_calibrate_an_unmeasured_resource():
    model = qmodel.Model.from_dict({"arrivals": {"web": {"to": "db", "rate": "10/s"}},
                                    "nodes": {"db": {"kind": "queue", "service": "2ms"}}})
    x = np.linspace(10, 70, 20)
    r = 0.01 / (1 - 0.01 * x) * (1 + np.random.default_rng(3).normal(0, 0.02, 20))
    s = Series(np.arange(20) * 60.0, np.full(20, 60.0), {"web": x}, response={"web": r},
               source="synthetic")
    cal = from_metrics(s, model)
    e = cal.estimate("nodes.db.service.mean")
    assert e.low <= 0.01 <= e.high < 0.011 and "Kraft" in e.method
    assert "nodes.db.service.mean" in intervals(cal.model)


def test_names_the_data_does_not_share_with_the_model_are_warned():
    rng = np.random.default_rng(4)
    x, busy = metrics(rng, intervals=40)
    s = Series(np.arange(40) * 60.0, np.full(40, 60.0), {"browse": x[:, 0], "admin": x[:, 1]},
               busy={"app": busy[:, 0], "cache": busy[:, 1]}, source="synthetic")
    cal = from_metrics(s, SHOP)
    text = " ".join(cal.warnings)
    assert "not in the model: admin" in text and "'cache' in the data is not a node" in text
    assert "no throughput in the data: buy" in text
    assert cal.estimate("nodes.app.service.mean").low <= 0.03 <= \
        cal.estimate("nodes.app.service.mean").high


def test_written_model_has_provenance_and_solves(tmp_path):
    cal = from_metrics(DATA / "metrics.csv", SHOP)
    out = write_model(cal, tmp_path / "calibrated.yaml", "qmodel calibrate metrics x")
    text = out.read_text()
    assert text.startswith("# calibrated by qmodel on ") and "# command: qmodel calibrate" in text
    assert yaml.safe_load(text)["calibration"]["parameters"]
    assert qmodel.solve(qmodel.load(out)).stable
    page = report_html(cal)
    assert "plotly" in page and "busy servers, measured and fitted" in page
    assert "nodes.app.class_service.buy.mean" in page


def test_cli_writes_model_and_reports(tmp_path):
    out, html, js = tmp_path / "c.yaml", tmp_path / "c.html", tmp_path / "c.json"
    result = runner.invoke(app, ["calibrate", "metrics", str(DATA / "metrics.csv"), "--model",
                                 str(SHOP), "-o", str(out), "--report", str(html)])
    assert result.exit_code == 0, result.output
    assert "nodes.app.class_service.buy.mean" in result.output
    assert qmodel.load(out).spec.calibration is not None and "plotly" in html.read_text()
    result = runner.invoke(app, ["calibrate", "metrics", str(DATA / "scrapes.prom"), "--model",
                                 str(SHOP), "-o", str(out), "--report", str(js),
                                 "--throughput", "http_requests_total{route}",
                                 "--utilization", "process_cpu_seconds_total{service}",
                                 "--interval", "bootstrap", "--keep-rates"])
    assert result.exit_code == 0, result.output
    assert json.loads(js.read_text())["schema"] == "qmodel.calibration/1"
    assert qmodel.load(out).to_dict()["arrivals"] == MODEL["arrivals"]


@pytest.mark.parametrize("args, message", [
    (["broken.csv"], "broken.csv, line 5, count.buy: not a number"),
    (["broken.prom", "--utilization", "x{service}"], "broken.prom, line 13"),
    (["broken_range.json"], "data.result[1].values[1]"),
    (["metrics.csv", "--format", "xml"], "--format: must be one of"),
    (["metrics.csv", "--interval", "jackknife"], "--interval: must be ols or bootstrap"),
    (["scrapes.prom", "--throughput", "a{b=c}"], "--throughput: cannot read"),
    (["nothing.csv"], "no such file"),
])
def test_cli_errors_exit_2_without_traceback(tmp_path, args, message):
    files = [str(DATA / a) if a.endswith((".csv", ".prom", ".json")) else a for a in args]
    result = runner.invoke(app, ["calibrate", "metrics", *files, "--model", str(SHOP), "-o",
                                 str(tmp_path / "out.yaml")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.yaml").exists()
