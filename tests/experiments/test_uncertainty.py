"""Uncertainty propagation: sampling the calibration section's intervals, solving every
sample, and the CLI's ``solve --uncertainty`` and ``sweep --uncertainty``."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

import qmodel
from qmodel.cli.main import app
from qmodel.errors import ModelError
from qmodel.experiments import sweep
from qmodel.experiments.uncertainty import Z, calibrated, draw, sweep_bands, uncertainty
from qmodel.model.calibration import intervals

runner = CliRunner()


def mm1(rate: str = "50/s", low: str = "9ms", high: str = "11ms", **extra) -> qmodel.Model:
    return qmodel.Model.from_dict({
        "name": "mm1", "arrivals": {"web": {"to": "app", "rate": rate}},
        "nodes": {"app": {"kind": "queue", "service": "10ms"}},
        "calibration": {"parameters": {"nodes.app.service.mean":
                                       {"estimate": "10ms", "low": low, "high": high},
                                       **extra}}})


def response(s: float, lam: float) -> float:
    return s / (1 - lam * s)


def test_mm1_interval_is_the_analytic_transform_of_the_service_interval():
    u = uncertainty(mm1(), samples=200, seed=0)
    assert u.method == "analytic fast path" and u.unstable == 0
    r = u.metric("mean_response_time_s")
    assert r["point"] == pytest.approx(response(0.010, 50))
    # R = S / (1 - lambda S) is increasing in S: its 2.5/97.5 percentiles are R at S's
    assert r["low"] == pytest.approx(response(0.009, 50), rel=0.01)
    assert r["high"] == pytest.approx(response(0.011, 50), rel=0.01)
    p95 = u.metric("p95_response_time_s")        # -ln(0.05) / (mu - lambda), increasing too
    assert p95["high"] == pytest.approx(-np.log(0.05) / (1 / 0.011 - 50), rel=0.01)
    util = u.metric("nodes.app.utilization")
    assert (util["low"], util["high"]) == pytest.approx((0.45, 0.55), rel=0.01)
    comp = u.metric("nodes.app.mean_response_s")
    assert comp["high"] == pytest.approx(response(0.011, 50), rel=0.01)


def test_near_saturation_unstable_samples_are_counted_not_averaged():
    # at 80/s the queue saturates when S >= 12.5 ms, inside the interval [9, 12.6] ms
    u = uncertainty(mm1("80/s", "9ms", "12.6ms"), samples=400, seed=1)
    expected = 1 - stats.norm.cdf(Z * np.log(1.25) / np.log(1.26))          # about 2.9%
    assert u.unstable == pytest.approx(expected, abs=0.01)
    r = u.metric("mean_response_time_s")
    assert r["high"] == np.inf and r["low"] == pytest.approx(response(0.009, 80), rel=0.02)
    assert u.metric("max_utilization")["high"] > 1            # loads: every sample counts
    doc = json.loads(u.to_json())
    assert doc["metrics"]["mean_response_time_s"]["unbounded"] is True
    assert doc["unstable_fraction"] == pytest.approx(u.unstable)
    stable = u.samples["stable"].to_numpy(dtype=bool)
    assert np.isnan(u.samples.loc[~stable, "mean_response_time_s"]).all()
    assert any("unstable" in n for n in u.notes)


def test_every_parameter_is_sampled_independently_within_its_interval():
    found = intervals(mm1(**{"arrivals.web.rate": {"estimate": "50/s", "low": "40/s",
                                                   "high": "55/s"}}))
    s = draw(found, 2000, seed=3)
    assert np.percentile(s["arrivals.web.rate"], [2.5, 50, 97.5]) == pytest.approx(
        [40, 50, 55], rel=0.01)
    assert abs(np.corrcoef(s.T.to_numpy())[0, 1]) < 0.1
    servers = qmodel.Model.from_dict({
        "arrivals": {"web": {"to": "app", "rate": "50/s"}},
        "nodes": {"app": {"kind": "queue", "servers": 4, "service": "10ms"}},
        "calibration": {"parameters": {"nodes.app.servers": {"estimate": 4, "low": 2,
                                                              "high": 6}}}})
    values = draw(intervals(servers), 100, seed=1)["nodes.app.servers"]
    assert set(values) <= {1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0}
    assert np.median(values) == 4


def test_a_side_reaching_zero_stays_positive():
    m = mm1(low="0ms", high="11ms")
    s = draw(intervals(m), 400, seed=0)["nodes.app.service.mean"]
    assert (s > 0).all() and np.percentile(s, 97.5) == pytest.approx(0.011, rel=0.02)


def test_nothing_to_sample_is_an_error():
    plain = qmodel.Model.from_dict({"arrivals": {"web": {"to": "app", "rate": "5/s"}},
                                    "nodes": {"app": {"kind": "queue", "service": "10ms"}}})
    with pytest.raises(ModelError, match="calibration: the model has no calibration"):
        uncertainty(plain)
    with pytest.raises(ModelError, match="zero width"):
        calibrated(mm1(low="10ms", high="10ms"))
    with pytest.raises(ModelError, match="samples: must be a positive"):
        uncertainty(mm1(), samples=0)


def test_per_sample_solving_when_there_is_no_fast_path():
    m = qmodel.Model.from_dict({
        "arrivals": {"web": {"to": "app", "rate": "50/s"}},
        "nodes": {"app": {"kind": "queue", "service": {"mean": "10ms", "cv": 0.5}}},
        "calibration": {"parameters": {"nodes.app.service.mean":
                                       {"estimate": "10ms", "low": "9ms", "high": "11ms"}}}})
    u = uncertainty(m, samples=40, seed=0)
    assert u.method == "qmodel.solve per sample"
    r = u.metric("mean_response_time_s")   # M/G/1: S + lambda E[S^2] / (2 (1 - rho)), increasing
    mg1 = [s + 50 * 1.25 * s * s / (2 * (1 - 50 * s)) for s in (0.009, 0.010, 0.011)]
    assert r["point"] == pytest.approx(mg1[1], rel=1e-6)
    assert (r["low"], r["high"]) == pytest.approx((mg1[0], mg1[2]), rel=0.03)
    assert "p95_response_time_s" not in u.summary.index and u.notes


def test_two_hundred_samples_of_a_network_are_fast():
    m = qmodel.load("topologies/web_service.yaml")
    doc = m.to_dict()
    doc["calibration"] = {"parameters": {
        "nodes.app.service.mean": {"estimate": "25ms", "low": "22ms", "high": "28ms"},
        "arrivals.web.rate": {"estimate": "200/s", "low": "190/s", "high": "215/s"}}}
    doc["nodes"]["app"]["service"] = "25ms"          # exponential: the fast path applies
    model = qmodel.Model.from_dict(doc, m.base_dir)
    start = time.perf_counter()
    u = uncertainty(model, samples=200, seed=0)
    assert time.perf_counter() - start < 5.0 and u.method == "analytic fast path"
    assert {"nodes.app.utilization", "nodes.db.mean_response_s"} <= set(u.summary.index)
    row = u.metric("nodes.app.utilization")
    assert row["low"] < row["point"] < row["high"]


def test_sweep_bands_follow_the_analytic_transform():
    m = mm1()
    table = sweep(m, {"arrivals.web.rate": [20.0, 50.0, 95.0]}, metric="mean",
                  executor="serial", progress=False)
    banded = sweep_bands(m, table, samples=200, seed=0)
    for lam, low, high in zip(banded["arrivals.web.rate"], banded["mean_response_time_s_low"],
                              banded["mean_response_time_s_high"]):
        assert low == pytest.approx(response(0.009, lam), rel=0.02)
        if lam * 0.011 < 1:
            assert high == pytest.approx(response(0.011, lam), rel=0.02)
    assert banded["unstable_fraction"].tolist()[:2] == [0.0, 0.0]
    # at 95/s, S >= 10.53 ms saturates: P = 1 - Phi(1.96 ln(1.0526) / ln(1.1)), about 15%
    assert banded["unstable_fraction"].iloc[2] == pytest.approx(0.146, abs=0.02)
    assert banded["mean_response_time_s_high"].iloc[2] == np.inf
    assert banded.attrs["uncertainty"]["samples"] == 200


def test_cli_solve_uncertainty(tmp_path):
    path = tmp_path / "mm1.yaml"
    path.write_text(mm1().to_yaml())
    result = runner.invoke(app, ["solve", str(path), "--uncertainty", "--samples", "100"])
    assert result.exit_code == 0, result.output
    assert "95% low" in result.output and "app" in result.output
    assert "unstable samples: 0.0%" in result.output
    result = runner.invoke(app, ["solve", str(path), "--uncertainty", "--json", "--seed", "3"])
    doc = json.loads(result.output)
    assert doc["samples"] == 200 and doc["seed"] == 3
    assert doc["metrics"]["mean_response_time_s"]["high"] == pytest.approx(
        response(0.011, 50), rel=0.02)


@pytest.mark.parametrize("args, message", [
    (["solve", "topologies/web_service.yaml", "--uncertainty"], "nothing to sample"),
    (["solve", "MM1", "--uncertainty", "--samples", "0"], "--samples: must be a positive"),
    (["sweep", "topologies/web_service.yaml", "--vary", "arrivals.web.rate=[100/s]",
      "--uncertainty"], "nothing to sample"),
    (["sweep", "MM1", "--vary", "arrivals.web.rate=[10/s]", "--uncertainty", "--samples",
      "-1"], "--samples: must be a positive"),
])
def test_cli_uncertainty_errors_exit_2(tmp_path, args, message):
    path = tmp_path / "mm1.yaml"
    path.write_text(mm1().to_yaml())
    result = runner.invoke(app, [str(path) if a == "MM1" else a for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_cli_sweep_uncertainty_columns_and_bands(tmp_path):
    path = tmp_path / "mm1.yaml"
    path.write_text(mm1().to_yaml())
    args = ["sweep", str(path), "--vary", "arrivals.web.rate=20/s..80/s:4", "--metric", "mean",
            "--uncertainty", "--samples", "50", "--executor", "serial"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "mean_response_time_s_low" in result.output.replace("\n", "") or "…" in result.output
    for suffix in (".csv", ".html"):
        result = runner.invoke(app, [*args, "--out", str(tmp_path / f"s{suffix}")])
        assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "s.csv")
    assert {"mean_response_time_s_low", "mean_response_time_s_high",
            "unstable_fraction"} <= set(table.columns)
    assert (table["mean_response_time_s_low"] <= table["mean_response_time_s"]).all()
    assert "95% band, calibrated intervals" in (tmp_path / "s.html").read_text()


def test_cli_solve_uncertainty_of_a_model_unstable_at_its_estimates_exits_3(tmp_path):
    path = tmp_path / "mm1.yaml"
    path.write_text(mm1("120/s").to_yaml())
    result = runner.invoke(app, ["solve", str(path), "--uncertainty", "--samples", "20"])
    assert result.exit_code == 3, result.output
    assert "unstable samples: 100.0%" in result.output and "Traceback" not in result.output
