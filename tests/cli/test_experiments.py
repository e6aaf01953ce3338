"""The sweep, sensitivity, plan and headroom commands, through typer's CliRunner."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from qmodel.cli.experiments import app

runner = CliRunner()
MODEL = "topologies/web_service.yaml"


def run(*args: str):
    return runner.invoke(app, list(args))


def test_sweep_writes_csv_json_and_html(tmp_path):
    args = ["sweep", MODEL, "--vary", "nodes.app.servers=6..8",
            "--vary", "arrivals.web.rate=100/s..300/s:3", "--metric", "p95_response_time",
            "--executor", "serial"]
    for suffix in (".csv", ".json", ".html"):
        out = tmp_path / f"sweep{suffix}"
        result = run(*args, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert out.exists()
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert len(table) == 9 and (~table["stable"]).sum() == 2     # 6 and 7 servers at 300/s
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc["attrs"]["slo"] == "p95 < 200ms" and len(doc["rows"]) == 9
    html = (tmp_path / "sweep.html").read_text()
    assert "plotly" in html.lower() and "heatmap" in html.lower()


def test_sweep_one_parameter_plot_has_knee_and_slo_line(tmp_path):
    out = tmp_path / "load.html"
    result = run("sweep", MODEL, "--vary", "arrivals.web.rate=50/s..310/s:14", "--out",
                 str(out), "--executor", "serial")
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "knee" in html and "SLO p95 \\u003c 200ms" in html


def test_sweep_prints_a_table_without_out():
    result = run("sweep", MODEL, "--vary", "nodes.db.shards=[2, 4]", "--executor", "serial")
    assert result.exit_code == 0, result.output
    assert "web-service: 2 points (analytic; times in ms)" in result.output
    assert "p95 response (ms)" in result.output and "throughput (/s)" in result.output
    assert "_s " not in result.output      # headers say the unit their values are in


def test_sweep_simulated_with_seed(tmp_path):
    out = tmp_path / "sim.csv"
    result = run("sweep", MODEL, "--vary", "nodes.app.servers=[7, 8]", "--method", "simulate",
                 "--replications", "2", "--seed", "3", "--executor", "serial", "--out", str(out),
                 "--set", "arrivals.web.rate=150/s")
    assert result.exit_code == 0, result.output
    assert "mean_response_time_s_ci95_low" in pd.read_csv(out).columns


def test_batch_sweep_has_the_makespan_its_interval_and_bound(tmp_path):
    args = ["sweep", "topologies/brkss_warehouse.yaml", "--vary", "nodes.nodes.shards=[6, 12]",
            "--set", "batches.batch.size=1200", "--replications", "2", "--seed", "1",
            "--executor", "serial"]
    for suffix in (".csv", ".html"):
        result = run(*args, "--out", str(tmp_path / f"batch{suffix}"))
        assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "batch.csv")
    assert {"makespan_s", "makespan_s_ci95_low", "makespan_s_ci95_high"} <= set(table.columns)
    # 1200 x 2 ms of node work over 6 and 12 nodes, plus the least route through the rest
    assert table["makespan_bound_s"].round(3).tolist() == [0.4, 0.2]
    assert (table["makespan_s"] > 0.9 * table["makespan_bound_s"]).all()
    assert "lower bound" in (tmp_path / "batch.html").read_text()
    printed = run(*args)
    assert "makespan (ms)" in printed.output and "(simulate; times in ms)" in printed.output


@pytest.mark.parametrize(("args", "message"), [
    (["--vary", "nodes.app.srevers=1..4"],
     "nodes.app.srevers: not a numeric parameter of this model; did you mean nodes.app.servers?"),
    (["--vary", "nodes.app.servers"], "--vary: expected PATH=VALUE"),
    (["--vary", "arrivals.web.rate=50/s..500/s"], "arrivals.web.rate:"),
    (["--vary", "nodes.app.servers=1..4", "--slo", "p95 << 1s"],
     "--slo: cannot read 'p95 << 1s'; an SLO is METRIC OP VALUE"),
    (["--vary", "nodes.app.servers=1..4", "--executor", "cloud"], "--executor: must be one of"),
    (["--vary", "arrivals.web.rate=50..300:6"],
     "--vary arrivals.web.rate: give a unit, e.g. 50/s (a bare 50 would mean 50/ms"),
    (["--vary", "nodes.app.service=[2ms, 4]"], "--vary nodes.app.service: give a unit, e.g. "
     "4ms or 4s"),
])
def test_bad_input_exits_2_with_path_and_message(args, message):
    result = run("sweep", MODEL, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_invalid_model_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  app: {kind: queue, servers: 0, service: 2ms}\n"
                   "arrivals:\n  web: {to: app, rate: 5/s}\n")
    result = run("headroom", str(bad), "--slo", "mean < 1s")
    assert result.exit_code == 2
    assert "nodes.app.servers: must be a positive integer, got 0" in result.output


def test_sensitivity_table_and_tornado(tmp_path):
    out = tmp_path / "tornado.html"
    result = run("sensitivity", MODEL, "--metric", "p95_response_time", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "nodes.app.service" in result.output and "elasticity" in result.output
    assert out.exists()


def test_plan_command_and_json():
    args = ["plan", MODEL, "--slo", "p95 < 200ms", "--load", "800/s", "--cost", "nodes.app=1",
            "--cost", "nodes.db=4"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "cost 45" in result.output and "nodes.app.servers" in result.output
    doc = json.loads(run(*args, "--json").output)
    assert doc["configuration"] == {"nodes.app.servers": 25, "nodes.db.shards": 5}


def test_impossible_plan_exits_1_naming_the_component():
    result = run("plan", MODEL, "--load", "800/s", "--cost", "nodes.app=1")
    assert result.exit_code == 1
    assert "nodes.db is at 0.96" in result.output and "Traceback" not in result.output


def test_bad_cost_exits_2():
    result = run("plan", MODEL, "--cost", "nodes.app=cheap")
    assert result.exit_code == 2 and "--cost nodes.app: not a number" in result.output


@pytest.mark.parametrize("ceiling", ["nan", "inf", "0", "1.5"])
def test_a_utilization_ceiling_outside_0_1_exits_2(ceiling):
    """(nan ended in exit 1, "no configuration keeps utilization within nan"; inf planned.)"""
    result = run("plan", MODEL, "--max-utilization", ceiling)
    assert result.exit_code == 2, result.output
    assert "--max-utilization: must be a fraction in (0, 1]" in result.output


def test_headroom_command():
    result = run("headroom", MODEL, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["bottleneck"] == "app" and doc["slo"] == "p95 < 200ms"
    assert 300 < doc["rate"] < 305


def test_mounts_at_the_top_level_of_another_app():
    parent = typer.Typer()

    @parent.command()
    def solve() -> None:
        """Stand-in for the main CLI's other commands."""

    parent.add_typer(app)
    result = runner.invoke(parent, ["headroom", MODEL, "--slo", "mean < 50ms"])
    assert result.exit_code == 0, result.output
    assert "headroom:" in result.output


def test_unknown_output_format_exits_2(tmp_path):
    result = run("sweep", MODEL, "--vary", "nodes.db.shards=[2]", "--out", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "--out: cannot write 'x.png'" in result.output


def test_a_bare_rate_in_a_ms_model_says_what_it_would_mean():
    """The issue's case: 50..300:6 in a model in ms would be 50,000/s to 300,000/s."""
    result = run("sweep", "topologies/replicated_store.yaml", "--vary",
                 "arrivals.writes.rate=50..300:6")
    assert result.exit_code == 2
    assert "a bare 50 would mean 50/ms = 50,000/s in this ms model" in result.output
    result = run("plan", "topologies/replicated_store.yaml", "--load", "900")
    assert result.exit_code == 2
    assert "--load: give a unit, e.g. 900/s (a bare 900 would mean 900/ms = 900,000/s" \
        in result.output and "or a factor such as 2x" in result.output


def test_sweep_table_values_are_in_the_header_units():
    """A rate swept at 50/s reads 50 under ``arrivals.web.rate (/s)``, a response time in
    ms under ``(ms)``, and a saturated point says ``unstable``."""
    result = run("sweep", MODEL, "--vary", "arrivals.web.rate=[50/s, 400/s]", "--executor",
                 "serial")
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines()
            if line.startswith("│")]
    assert rows[0][0] == "50" and rows[1][0] == "400"
    assert rows[1][1] == "False" and rows[1][2] == "unstable"
    import qmodel
    expected = qmodel.solve(qmodel.load(MODEL).with_changes({"arrivals.web.rate": "50/s"}))
    assert rows[0][2] == f"{expected.system.mean_response_time * 1000:.4g}"


def test_plan_for_a_deadline_gives_the_fewest_map_and_reduce_slots():
    result = run("plan", "topologies/mapreduce_job.yaml", "--deadline", "10min", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["configuration"] == {"nodes.map.slots": 13, "nodes.reduce.slots": 10}
    assert plan["bound"] == "upper" and plan["planned_s"] <= 600.0
    bare = run("plan", "topologies/mapreduce_job.yaml", "--deadline", "600")
    assert bare.exit_code == 2 and "--deadline: give a unit" in bare.output
    both = run("plan", "topologies/mapreduce_job.yaml", "--deadline", "10min", "--slo",
               "p95 < 1s")
    assert both.exit_code == 2 and "not both" in both.output


@pytest.mark.parametrize(("deadline", "words"), [
    ("nan", "must be a duration"), ("1e400min", "finite"), ("-5s", "positive"),
    ("0", "positive"), ("10 parsecs", "unknown time unit")])
def test_plan_refuses_a_hostile_deadline_at_its_option(deadline, words):
    result = run("plan", "topologies/mapreduce_job.yaml", "--deadline", deadline)
    assert result.exit_code == 2 and "--deadline: " in result.output, result.output
    assert words in result.output
