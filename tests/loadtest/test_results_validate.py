"""``validate --results``: a known answer (an M/M/1 queue's draws against its model, and
against a system twice as slow), per-window levels, and the command line's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from loadtest.report import ValidationReport
from loadtest.results import validate_results
from qmodel.cli.main import app
from qmodel.errors import ModelError

from .conftest import write_model

DATA = Path(__file__).with_name("data")
WEB = Path(__file__).resolve().parents[2] / "topologies" / "web_service.yaml"
MM1 = """
nodes:
  server: {kind: queue, servers: 1, service: 10ms}
arrivals:
  req: {to: server, rate: 30/s}
"""


def mm1_csv(path: Path, rate: float, service_s: float, n: int = 20_000, seed: int = 11,
            unit: str = "s") -> Path:
    """A plain CSV of an M/M/1 queue's requests: Poisson sends, sojourn by Lindley's
    recursion with exponential service times."""
    rng = np.random.default_rng(seed)
    sends = 1.7e9 + np.cumsum(rng.exponential(1 / rate, n))
    service = rng.exponential(service_s, n)
    done = np.empty(n)
    last = 0.0
    for i in range(n):
        last = max(sends[i], last) + service[i]
        done[i] = last
    latency = done - sends
    scale = 1000.0 if unit == "ms" else 1.0
    rows = [f"send_time,latency_{unit},status"]
    rows += [f"{t:.6f},{x * scale:.6f},200" for t, x in zip(sends, latency)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_an_mm1_run_matches_its_model_and_a_slower_system_does_not(tmp_path):
    model = write_model(tmp_path, "mm1", MM1)
    right = mm1_csv(tmp_path / "right.csv", 30.0, 0.010)
    wrong = mm1_csv(tmp_path / "wrong.csv", 30.0, 0.020, unit="ms")  # twice the service
    report = validate_results(model, [right, wrong], out=tmp_path / "v.html")
    good, bad = report.levels
    gated = [r for r in good.rows if r.gate]
    assert {r.metric for r in gated} == {"mean_response_s", "p95_response_s"}
    assert all(r.within for r in gated), [(r.metric, r.rel_error) for r in gated]
    mean = good.row("end-to-end (client)", "mean_response_s")
    assert good.achieved["all"] == pytest.approx(30, rel=0.03)
    # M/M/1 at the measured rate: 1/(mu - lambda)
    assert mean.predicted == pytest.approx(1 / (100 - good.achieved["all"]), rel=1e-6)
    assert good.passed is True and bad.passed is False
    assert bad.row("end-to-end (client)", "mean_response_s").rel_error > 1.0  # 50 vs 14 ms
    assert not report.passed
    doc = json.loads((tmp_path / "v.json").read_text())
    assert [lv["passed"] for lv in doc["levels"]] == [True, False]
    assert any("coordinated omission" in n for n in doc["notes"])
    again = ValidationReport.read_json(tmp_path / "v.json")  # printed or plotted again
    assert again.to_dict() == report.to_dict()
    assert "caveat: a plain CSV does not say" in (tmp_path / "v.html").read_text()


def test_time_windows_are_levels(tmp_path):
    model = write_model(tmp_path, "mm1", MM1)
    path = mm1_csv(tmp_path / "run.csv", 30.0, 0.010)
    report = validate_results(model, [path], level_by="window:200s")
    assert len(report.levels) == 3  # ~667 s: the last 67 s stub is left out
    assert all(lv.passed for lv in report.levels)
    assert [lv.label for lv in report.levels][0] == "run.csv [0-200 s]"
    with pytest.raises(ModelError, match="--level-by: must be 'file' or 'window:DURATION'"):
        validate_results(model, [path], level_by="window:-3s")


def test_a_model_without_open_arrivals_or_a_level_too_small(tmp_path):
    closed = write_model(tmp_path, "closed", """
nodes: {app: {kind: queue, servers: 2, service: 10ms}}
users: {u: {to: app, population: 5, think_time: 1s}}
""")
    path = mm1_csv(tmp_path / "run.csv", 30.0, 0.010, n=20)
    with pytest.raises(Exception, match="open arrivals"):
        validate_results(closed, [path])
    small = validate_results(write_model(tmp_path, "mm1", MM1), [path])
    assert small.levels[0].passed is None and not small.levels[0].valid
    assert "only 20 requests" in small.levels[0].checks["file"]["problems"][0]


def invoke(*args: str):
    result = CliRunner().invoke(app, ["validate", *args])
    text = result.output + (getattr(result, "stderr", "") or "")
    return result.exit_code, " ".join(text.split())  # the console wraps long lines


def test_cli_exit_codes_by_verdict_and_on_bad_files(tmp_path):
    out = str(tmp_path / "v.html")
    code, text = invoke(str(WEB), "--results", str(DATA / "k6_summary_export.json"),
                        str(DATA / "wrk2_latency.txt"), "--out", out)
    assert code == 0, text
    assert "Overall: PASSED" in text and "caveat:" in text
    assert len(json.loads(Path(out).with_suffix(".json").read_text())["levels"]) == 2
    code, text = invoke(str(WEB), "--results", str(DATA / "wrk_latency.txt"), "--out", out)
    assert code == 1 and "predicts instability" in text  # 725/s: past web_service's capacity
    bad = tmp_path / "run.csv"
    bad.write_text("send_time,latency\n1,0.1\n2,-0.5\n")
    code, text = invoke(str(WEB), "--results", str(bad), "--out", out)
    assert code == 2 and "run.csv line 3: latency: must not be negative" in text
    assert "Traceback" not in text
    for args in (["--level-by", "hourly"], ["--class-of", "x=nope"], ["--hlog-unit", "ps"]):
        source = DATA / "k6_summary_export.json"
        if args[0] == "--hlog-unit":
            source = tmp_path / "run.hlog"
            source.write_text('"StartTimestamp","Interval_Length","Interval_Max",'
                              '"Interval_Compressed_Histogram"\n')
        code, text = invoke(str(WEB), "--results", str(source), *args, "--out", out)
        assert code == 2 and "Traceback" not in text, (args, text)
    code, text = invoke(str(WEB), "--results", str(tmp_path / "absent.csv"), "--out", out)
    assert code == 2 and "absent.csv: no such file" in text
