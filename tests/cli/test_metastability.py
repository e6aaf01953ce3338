"""``qmodel metastability``: the hysteresis loop and its remedies, through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import qmodel
from qmodel.cli.experiments import app
from qmodel.experiments.metastability import metastability

runner = CliRunner()
MODEL = "examples/models/metastable_retries.yaml"


def run(*args: str):
    return runner.invoke(app, ["metastability", *args])


def test_prints_both_branches_the_interval_the_warning_and_the_remedies(tmp_path):
    plot = tmp_path / "loop.html"
    result = run(MODEL, "--from", "100/s", "--to", "400/s", "--points", "7", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    expected = metastability(qmodel.load(MODEL), low=100.0, high=400.0, points=7)
    low, high = expected.interval
    assert f"metastable from {low:.4g}/s to {high:.4g}/s offered" in text
    assert "250 │ healthy (of 2) │ 250 │" in text and "│ saturated (of 2) │ 0 │ 1000 │ 1.000" in text
    assert "warning: web at 250/s is inside the metastable region" in text
    assert "│ arrivals.web.retries.max=0 │ — │ — │ yes │ healthy │" in text
    assert "│ nodes.api.servers=9 │ 112.5/s │" in text
    assert "jitter=full" not in text          # the model's client already has full jitter
    html = plot.read_text(encoding="utf-8")
    assert "goodput, down" in html and "metastable" in html
    assert f"wrote {plot}" in text


def test_json_has_the_sweep_the_interval_and_the_remedies():
    result = run(MODEL, "--points", "6", "--json", "--set", "arrivals.web.retries.backoff=null")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["class"] == "web" and doc["node"] == "api" and doc["inside"]
    assert doc["metastable"][0] == pytest.approx(100.0, rel=1e-6)        # 400/s over 4 tries
    assert len(doc["sweep"]) == 12 and {r["direction"] for r in doc["sweep"]} == {"up", "down"}
    jitter = doc["remedies"][-1]
    assert jitter["change"] == "arrivals.web.retries.backoff.jitter=full"
    assert "transient" in jitter["note"] and not jitter["removes"]
    assert [r["change"] for r in doc["remedies"] if r["removes"]] == [
        "arrivals.web.retries.max=0", "arrivals.web.retries.budget.ratio=0.1",
        "arrivals.web.on_timeout=cancel"]


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "300"], "--from: give a unit, e.g. 300/s"),
    (["--to", "banana"], "--to:"),
    (["--from", "300/s", "--to", "200/s"], "--to: must be above --from (300/s)"),
    (["--points", "1"], "--points: must be an integer from 2 to 1000"),
    (["--plot", "loop.png"], "--plot: writes HTML"),
    (["--class", "api"], "arrivals.api: no open class 'api' (open classes: web)"),
    (["--set", "nodes.api.capacity=20"], "nodes.api.capacity: rejections by a capacity"),
    (["--set", "arrivals.web.hedge={after: 10ms}"], "arrivals.web.hedge: hedging is not in"),
])
def test_bad_input_exits_2_naming_the_field(args, message):
    result = run(MODEL, *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_a_model_without_retries_is_refused():
    result = run("topologies/web_service.yaml")
    assert result.exit_code == 2
    assert "arrivals: no open class retries" in result.stderr
