"""Metrics, comparison rows and the report's JSON, on synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import qmodel
from loadtest.compare import Row, rows_for
from loadtest.predict import calibrate, offered_peak, with_rates
from loadtest.refsys.metrics import summarize
from loadtest.report import Level, ValidationReport

MODEL = {"nodes": {"app": {"kind": "queue", "servers": 2, "service": "20ms"}},
         "arrivals": {"web": {"to": "app", "rate": "50/s"}}}


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    t = 100 + np.cumsum(rng.exponential(0.02, 2000))
    svc = rng.exponential(0.02, len(t))
    rows = [("S", f"i{k}", "web", "app", "app", a, a, a + s, s, s)
            for k, (a, s) in enumerate(zip(t, svc))]
    rows += [("E", f"i{k}", "web", "", "", a, a, a + s + 0.001, 0, 0)
             for k, (a, s) in enumerate(zip(t, svc))]
    rows += [("R", "x", "web", "app", "app", 110.0, 110.0, 110.0, 0, 0)]
    return pd.DataFrame(rows, columns=["kind", "id", "cls", "component", "station", "enqueue",
                                       "start", "end", "target", "service"])


def test_summarize_measures_components_and_end_to_end():
    doc = summarize(frame(), 101, 131, {"app": 2})
    app = doc["components"]["app"]
    assert app["rejected"] == 1 and app["mean_wait_s"] == 0
    assert app["throughput_per_s"] == pytest.approx(50, rel=0.1)
    assert app["utilization"] == pytest.approx(0.5, rel=0.15)
    assert doc["end_to_end"]["all"]["mean_response_s"] == pytest.approx(
        app["mean_response_s"] + 0.001)


def test_rows_compare_and_the_report_serializes(tmp_path):
    model = qmodel.Model.from_dict(MODEL)
    result = qmodel.solve(model)
    measured = summarize(frame(), 101, 131, {"app": 2})
    rows = rows_for(measured, result, result, 0.10, ["web"])
    e2e = next(r for r in rows if r.scope == "end-to-end" and r.metric == "mean_response_s")
    assert e2e.gate and e2e.predicted == pytest.approx(float(result.system.mean_response_time))
    assert e2e.rel_error == pytest.approx(e2e.measured / e2e.predicted - 1)
    check = {"valid": True, "problems": []}
    level = Level(0.5, {"web": 50.0}, {"web": 49.0}, {"web": check}, [(101, 131)], measured,
                  {}, rows)
    report = ValidationReport("m", "open", 0.1, 30, 5, 1, "embedded", {}, [level])
    report.write_json(tmp_path / "v.json")
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["schema"] == "qmodel.validation/1"
    assert doc["levels"][0]["rows"][0]["scope"] == "app"
    again = ValidationReport.read_json(tmp_path / "v.json")
    assert again.to_dict() == report.to_dict()
    report.write_html(tmp_path / "v.html")
    assert "predicted vs measured" in (tmp_path / "v.html").read_text()


def test_an_invalid_run_is_not_compared():
    from loadtest.report import _verdict

    level = Level(0.5, {}, {}, {"web": {"valid": False, "problems": ["bursty"]}}, [], {}, {})
    assert level.passed is None
    assert _verdict(level).startswith("INVALID")
    level.predicted_stable, level.instability = False, ["app is saturated"]
    assert _verdict(level).startswith("the model predicts instability")  # said first


def test_calibration_keeps_the_shape_and_units():
    model = qmodel.load("topologies/web_service.yaml")  # time_unit ms
    calibrated = calibrate(model, {"app": 0.030, "db": 0.007})
    app = calibrated.network.station("app").service["web"]
    assert app.mean == pytest.approx(0.030) and app.is_exponential
    assert calibrated.network.station("db-0").service["web"].mean == pytest.approx(0.007)
    faster = with_rates(model, {"web": 100.0})
    assert faster.network.classes[0].rate == pytest.approx(100.0)
    assert offered_peak(model) == (pytest.approx(0.625), "app")


def test_a_fork_is_measured_per_job_and_its_tasks_per_task():
    rows = []
    for job, t0 in (("j1", 100.0), ("j2", 101.0)):
        for i in range(4):  # 4 tasks of 10 ms on 2 slots: two waves
            start = t0 + 0.010 * (i // 2)
            rows.append(("S", f"{job}/{i}", "jobs", "wc", "wc", t0, start, start + 0.010,
                         0.009 + 0.0001 * i, 0.010))
    df = pd.DataFrame(rows, columns=["kind", "id", "cls", "component", "station", "enqueue",
                                     "start", "end", "target", "service"])
    doc = summarize(df, 99, 103, {"wc": 2}, frozenset({"wc"}))["components"]["wc"]
    assert doc["count"] == 2 and doc["throughput_per_s"] == pytest.approx(0.5)
    assert doc["mean_response_s"] == pytest.approx(0.020)  # arrival to the last task
    assert doc["mean_service_s"] == pytest.approx(0.010)  # per task (for calibration)
    assert doc["mean_target_service_s"] == pytest.approx(0.00915)
    assert doc["utilization"] == pytest.approx(8 * 0.010 / (2 * 4))


def test_calibration_takes_the_overhead_not_the_draws_sampling_error():
    from loadtest.validate import calibrated_services

    measured = {"components": {
        "app": {"mean_service_s": 0.0262, "mean_target_service_s": 0.0260},  # draws +4%
        "wait": {"mean_service_s": 0.5, "mean_target_service_s": None}}}
    services = calibrated_services(measured, {"app": 0.025})
    assert services["app"] == pytest.approx(0.0252)  # 25 ms + 0.2 ms overhead
    assert services["wait"] == 0.5


def test_an_invalid_calibration_run_fails_the_report_whatever_the_levels_say(tmp_path):
    passing = Level(0.5, {}, {}, {"web": {"valid": True, "problems": []}}, [], {}, {},
                    [Row("end-to-end", "mean_response_s", 0.0101, 0.010, 0.010, 0.01, 0.01,
                         within=True, gate=True)])
    assert passing.passed is True
    valid = ValidationReport("m", "open", 0.1, 30, 5, 1, "embedded", {"valid": True}, [passing])
    assert valid.passed and valid.overall() == "PASSED"
    suspect = ValidationReport("m", "open", 0.1, 30, 5, 1, "embedded", {"valid": False},
                               [passing])
    assert not suspect.passed
    assert suspect.overall() == ("NOT PASSED (the calibration run was INVALID: its service "
                                 "times are suspect)")
    suspect.write_html(tmp_path / "v.html")
    assert "calibration run was invalid" in (tmp_path / "v.html").read_text()
