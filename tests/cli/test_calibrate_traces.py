"""``qmodel calibrate traces``: a model ``qmodel solve`` solves, reports, and exit 2 with
the record named for bad files and bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import qmodel
from qmodel.cli.main import app

DATA = Path(__file__).parents[1] / "calibrate" / "data"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_writes_a_model_that_solve_solves(tmp_path):
    model, report = tmp_path / "shop.yaml", tmp_path / "calibration.html"
    result = run("calibrate", "traces", DATA / "zipkin_shop.json", "-o", model,
                 "--report", report, "--servers", "orders=4")
    assert result.exit_code == 0, result.output
    assert "nodes.orders.service.mean" in result.output
    assert qmodel.load(model).spec.nodes["orders"].servers == 4
    assert "include_plotlyjs" not in report.read_text() and "Plotly" in report.read_text()
    solved = run("solve", model, "--json")
    assert solved.exit_code == 0, solved.output
    assert json.loads(solved.output)["system"]["mean_response_time"]["value"] > 0.036


def test_json_report_and_forced_format(tmp_path):
    report = tmp_path / "calibration.json"
    result = run("calibrate", "traces", DATA / "jaeger_shop.json", "--format", "jaeger",
                 "-o", tmp_path / "m.yaml", "--report", report, "--by", "operation")
    assert result.exit_code == 0, result.output
    doc = json.loads(report.read_text())
    assert doc["schema"] == "qmodel.calibration/1" and "frontend_GET_cart" in doc["data"][
        "components"]


@pytest.mark.parametrize("name, message", [
    ("zipkin_wrong_type.json", "span 3: timestamp: not an integer, got 'soon'"),
    ("jaeger_truncated.json", "not valid JSON at line 295"),
])
def test_bad_files_exit_2_naming_the_record(tmp_path, name, message):
    result = run("calibrate", "traces", DATA / name, "-o", tmp_path / "m.yaml")
    assert result.exit_code == 2 and "invalid traces" in result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.yaml").exists()


@pytest.mark.parametrize("option, message", [
    (("--servers", "orders"), "--servers: expected NAME=COUNT"),
    (("--servers", "orders=0"), "--servers orders: must be a positive integer, got '0'"),
    (("--servers", "orders=x,db=2"), "--servers orders: must be a positive integer"),
    (("--servers", "nosuch=2"), "--servers: no component 'nosuch'"),
    (("--format", "csv"), "--format: must be one of otlp, jaeger, zipkin"),
    (("--by", "host"), "--by: must be one of service, operation"),
    (("--report", "r.pdf"), "--report: must end in .html or .json"),
])
def test_bad_options_exit_2(tmp_path, option, message):
    result = run("calibrate", "traces", DATA / "zipkin_shop.json", "-o", tmp_path / "m.yaml",
                 *option)
    assert result.exit_code == 2, result.output
    assert "invalid arguments" in result.output and message in result.output


def test_missing_file_exits_2(tmp_path):
    result = run("calibrate", "traces", tmp_path / "none.json", "-o", tmp_path / "m.yaml")
    assert result.exit_code == 2 and "none.json: no such file" in result.output


def test_empirical_service_times(tmp_path):
    model = tmp_path / "m.yaml"
    result = run("calibrate", "traces", DATA / "jaeger_shop.json", "-o", model, "--empirical")
    assert result.exit_code == 0, result.output
    service = qmodel.load(model).to_dict()["nodes"]["cart"]["service"]
    assert service["dist"] == "empirical" and sorted(set(service["samples"])) == \
        pytest.approx([10.0, 12.0], rel=1e-4)
