"""``qmodel simulate --bins``: a table over time, JSON, files; ``qmodel solve`` refuses a
rate profile and says what to run instead."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from typer.testing import CliRunner

from qmodel.cli.main import app

runner = CliRunner()
MODEL = """
nodes:
  app: {kind: queue, service: 10ms}
arrivals:
  web:
    to: app
    rate: {profile: spike, base: 50/s, peak: 150/s, at: 10s, duration: 4s, length: 30s}
"""


def test_simulate_over_time(tmp_path):
    path = tmp_path / "spike.yaml"
    path.write_text(MODEL)
    args = ["simulate", str(path), "--bins", "2s", "--replications", "3", "--seed", "4"]
    result = runner.invoke(app, args + ["--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert "per 2 s bin, 3 replications" in result.output and "peak:" in result.output
    assert "recovery: p95 within 10%" in result.output
    assert len(pd.read_csv(tmp_path / "s.csv")) == 15
    doc = json.loads(runner.invoke(app, args + ["--json"]).stdout)
    assert doc["bin_s"] == 2 and len(doc["series"]) == 15 and doc["peak"]["time_s"] >= 10


def test_bad_requests_exit_2_and_solve_points_to_bins(tmp_path):
    path = tmp_path / "spike.yaml"
    path.write_text(MODEL)
    result = runner.invoke(app, ["simulate", str(path), "--out", str(tmp_path / "s.parquet")])
    assert result.exit_code == 2 and "must end in .html, .csv or .json" in result.output
    result = runner.invoke(app, ["simulate", str(path), "--bins", "2s", "--customers", "9"])
    assert result.exit_code == 2 and "customers: not used with bins" in result.output
    result = runner.invoke(app, ["solve", str(path)])
    assert result.exit_code == 4 and "qmodel simulate" in result.output and "--bins" in result.output


def test_hostile_bins_exit_2_with_the_reason(tmp_path):
    path = tmp_path / "spike.yaml"
    path.write_text(MODEL)
    for bins, reason in (("1ns", "at most 100,000: use wider bins"),
                         ("0s", "must be a positive duration"), ("inf", "must be a duration"),
                         ("nan", "must be a duration"), ("1e308s", "between 1e-12 and 1e+12")):
        result = runner.invoke(app, ["simulate", str(path), "--bins", bins])
        assert result.exit_code == 2 and reason in " ".join(result.output.split()), (
            bins, result.output)


def test_simulate_out_writes_the_response_time_distribution(tmp_path):
    path = tmp_path / "mm1.yaml"
    path.write_text("nodes:\n  app: {kind: queue, service: 10ms}\n"
                    "arrivals:\n  web: {to: app, rate: 50/s}\n")
    args = ["simulate", str(path), "--replications", "2", "--customers", "2000", "--seed", "3"]
    result = runner.invoke(app, args + ["--out", str(tmp_path / "cdf.csv")])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "cdf.csv")
    assert set(frame.source) == {"analytic", "simulated"}
    exact = frame[(frame.source == "analytic") & (frame.p == 0.5)].time_s.iloc[0]
    assert exact == pytest.approx(math.log(2) / 50)  # M/M/1: Exp(mu - lambda)
    assert runner.invoke(app, args + ["--out", str(tmp_path / "cdf.html")]).exit_code == 0
    page = (tmp_path / "cdf.html").read_text()
    assert "web (analytic)" in page and "web (simulated)" in page
    spike = tmp_path / "spike.yaml"  # no analytic solution: the simulated curve alone
    spike.write_text(MODEL)
    result = runner.invoke(app, ["simulate", str(spike), "--replications", "1", "--out",
                                 str(tmp_path / "spike.json")])
    assert result.exit_code == 0 and "no analytic distribution" in result.output
    assert {r["source"] for r in json.loads((tmp_path / "spike.json").read_text())} == \
        {"simulated"}


def test_a_retrying_client_shows_its_attempts_and_failures_per_bin(tmp_path):
    path = tmp_path / "retries.yaml"
    path.write_text(MODEL.replace("duration: 4s, length: 30s}", "duration: 4s, length: 16s}")
                    + "    timeout: 50ms\n    retries: {max: 2, when: [timeout]}\n")
    result = runner.invoke(app, ["simulate", str(path), "--bins", "4s", "--replications",
                                 "2", "--seed", "4"], terminal_width=200)
    assert result.exit_code == 0, result.output
    head = next(line for line in result.output.splitlines() if "attempts/s" in line)
    assert "failed/s" in head and "done/s" in head


def test_a_run_over_time_too_large_to_simulate_is_refused_at_once(tmp_path):
    path = tmp_path / "huge.yaml"  # 2 x 10^9 arrivals/s for an hour: 2e13 events
    path.write_text("nodes:\n  app: {kind: queue, service: 1ns}\narrivals:\n  web:\n"
                    "    to: app\n    rate: {profile: spike, base: 1e9/s, peak: 2e9/s, at: 10s,"
                    " duration: 10s, length: 1h}\n")
    result = runner.invoke(app, ["simulate", str(path), "--bins", "60s"])
    assert result.exit_code == 2
    assert "would take about 2.16e+13 events per replication, over 100,000,000" in \
        " ".join(result.output.split())
