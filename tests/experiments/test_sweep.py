"""Sweeps: equal to point-by-point ``qmodel.solve``, unstable points marked, tidy output."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import qmodel
from qmodel import ModelError
from qmodel.experiments import evaluate, sweep
from qmodel.model.paths import apply

from .models import batch, mm1

METRICS = ("mean_response_time_s", "p95_response_time_s", "p99_response_time_s",
           "throughput_per_s", "max_utilization", "saturation_rate_per_s", "mean_wait_s")


def solved_row(model, values):
    """The metrics of one point, straight from qmodel.solve."""
    r = qmodel.solve(apply(model, values))
    loads = [n.utilization if n.utilization is not None else n.offered_load
             for n in r.nodes.values()]
    waits = sum(float(n.visits) * float(n.mean_wait) for n in r.nodes.values()) \
        if r.stable else math.nan
    return {"stable": r.stable, "bottleneck": r.system.bottleneck,
            "mean_response_time_s": _f(r.system.mean_response_time),
            "p95_response_time_s": _f(r.system.p95_response_time),
            "p99_response_time_s": _f(r.system.p99_response_time),
            "throughput_per_s": _f(r.system.throughput), "mean_wait_s": waits,
            "max_utilization": max(float(u) for u in loads if u is not None),
            "saturation_rate_per_s": _f(r.system.saturation_rate)}


def _f(x):
    return math.nan if x is None else float(x)


def assert_same(table, model, paths, rel=1e-9):
    for row in table.to_dict("records"):
        expected = solved_row(model, {p: row[p] for p in paths})
        assert row["stable"] == expected["stable"]
        assert row["bottleneck"] == expected["bottleneck"]
        for key in METRICS:
            assert row[key] == pytest.approx(expected[key], rel=rel, nan_ok=True), key


def test_fast_path_equals_solve_on_a_sharded_network(web):
    table = sweep(web, {"nodes.app.servers": "5..8", "arrivals.web.rate": "100/s..340/s:4"},
                  executor="serial")
    assert table.attrs["method"] == "analytic" and len(table) == 16
    assert table["stable"].any() and not table["stable"].all()
    assert_same(table, web, ["nodes.app.servers", "arrivals.web.rate"])


def test_fast_path_equals_solve_with_classes_delay_and_feedback(shop):
    table = sweep(shop, {"arrivals.browse.rate": [60.0, 150.0, 240.0],
                         "nodes.api.service.mean": "10ms..20ms:3", "nodes.db.servers": [1, 2]},
                  executor="serial")
    assert_same(table, shop, ["arrivals.browse.rate", "nodes.api.service.mean",
                              "nodes.db.servers"])


def test_single_station_quantiles_in_closed_form_equal_solve():
    m = mm1(servers=4, service="80ms")
    table = sweep(m, {"arrivals.jobs.rate": "5/s..49/s:12"}, quantiles=(0.5, 0.95, 0.99),
                  executor="serial")
    assert_same(table, m, ["arrivals.jobs.rate"])
    for row in table.to_dict("records"):
        r = qmodel.solve(apply(m, {"arrivals.jobs.rate": row["arrivals.jobs.rate"]}))
        assert row["p50_response_time_s"] == pytest.approx(r.system.percentile(0.5), rel=1e-9)


def test_other_parameters_solve_each_point(web):
    table = sweep(web, {"nodes.db.shards": [2, 4], "nodes.app.service.cv": [0.5, 2.0]},
                  executor="serial")
    assert table["method"].str.startswith("approximation").all()
    assert_same(table, web, ["nodes.db.shards", "nodes.app.service.cv"])


def test_unstable_points_are_marked_not_nan_soup(web):
    table = sweep(web, {"arrivals.web.rate": [200.0, 400.0]}, executor="serial")
    bad = table.iloc[1]
    assert not bad["stable"] and bad["method"] == "unstable"
    assert bad["bottleneck"] == "app" and bad["max_utilization"] == pytest.approx(1.25)
    assert math.isnan(bad["mean_response_time_s"]) and not bad["meets_slo"]
    assert table.iloc[0]["stable"] and table.iloc[0]["meets_slo"]


def test_tidy_table_layout(web):
    table = sweep(web, {"nodes.app.servers": [6, 8], "arrivals.web.rate": ["100/s", "200/s"]},
                  executor="serial")
    assert list(table.columns[:2]) == ["nodes.app.servers", "arrivals.web.rate"]
    assert list(table["nodes.app.servers"]) == [6, 6, 8, 8]          # first path slowest
    assert {"stable", "bottleneck", "meets_slo", *METRICS} <= set(table.columns)
    assert table.attrs["slo"] == "p95 < 200ms" and table.attrs["partial"] is False


def test_evaluate_moves_parameters_together_and_nan_keeps_the_model_value(web):
    points = pd.DataFrame({"arrivals.web.rate": [100.0, np.nan], "nodes.app.servers": [4, 6]})
    table = evaluate(web, points, executor="serial")
    expected = solved_row(web, {"nodes.app.servers": 6})
    assert table.iloc[1]["mean_response_time_s"] == pytest.approx(
        expected["mean_response_time_s"], rel=1e-12)


def test_local_pool_gives_the_same_table(shop):
    spec = {"nodes.db.shards": [2, 3, 4], "arrivals.buy.rate": [10.0, 40.0]}
    serial = sweep(shop, spec, executor="serial")
    pooled = sweep(shop, spec, executor="local", workers=2)
    pd.testing.assert_frame_equal(serial, pooled)


def test_ctrl_c_returns_partial_results(web):
    seen = []

    def progress(fraction):
        seen.append(fraction)
        if len(seen) == 2:
            raise KeyboardInterrupt

    table = sweep(web, {"nodes.db.shards": "1..6"}, executor="serial", progress=progress)
    assert table.attrs["partial"] is True
    assert 0 < len(table) < 6 and list(table["nodes.db.shards"]) == [1, 2][:len(table)]


def test_bad_values_and_paths_are_model_errors(web):
    with pytest.raises(ModelError, match=r"nodes\.app\.servers: must be positive, got 0"):
        sweep(web, {"nodes.app.servers": [0, 1]})
    with pytest.raises(ModelError, match="did you mean nodes.app.servers"):
        sweep(web, {"nodes.app.server": [1, 2]})
    with pytest.raises(ModelError, match="unknown metric"):
        sweep(web, {"nodes.app.servers": [8]}, metric="latency")
    with pytest.raises(ModelError, match=r"nodes\.app\.servers, arrivals\.web\.rate: a grid of "
                                         r"200,000 points; at most 100,000"):
        sweep(web, {"nodes.app.servers": "1..2", "arrivals.web.rate": "1/s..2/s:100000"})


def test_long_walks_use_the_two_moment_fit_as_solve_does(web):
    many = web.with_changes({"nodes.db.shards": 40})          # 2 x 42 phases > 64
    table = sweep(many, {"arrivals.web.rate": [100.0, 250.0]}, executor="serial")
    assert_same(table, many, ["arrivals.web.rate"])


def test_batch_sweeps_add_the_makespan_and_its_bound():
    """200 jobs of exactly 10 ms on c servers finish after ceil(200 / c) x 10 ms; the bound
    is the work per server, 2 s / c. Steady-state models get no such columns."""
    model = batch(service={"dist": "deterministic", "value": "10ms"})
    table = sweep(model, {"nodes.cpu.servers": [1, 3, 4]}, replications=2, seed=1,
                  executor="serial")
    assert table.attrs["method"] == "simulate" and table.attrs["metric"] == "makespan_s"
    assert table["makespan_s"].tolist() == pytest.approx([2.0, 0.67, 0.5])
    assert table["makespan_s_ci95_high"].tolist() == pytest.approx([2.0, 0.67, 0.5])
    assert table["makespan_bound_s"].tolist() == pytest.approx([2.0, 2 / 3, 0.5])
    bounds = sweep(model, {"nodes.cpu.servers": [1, 4]}, method="analytic", executor="serial")
    assert bounds["makespan_bound_s"].tolist() == pytest.approx([2.0, 0.5])
    assert bounds["makespan_s"].isna().all()
    assert "makespan_s" not in sweep(mm1(), {"nodes.cpu.servers": [1, 2]}, executor="serial")


DELAY = {"nodes": {"q": {"kind": "delay", "service": "1ms"}},
         "arrivals": {"a": {"to": "q", "rate": "100/s"}}}
"""A delay whose service the tests stretch to 10^6 s: its requests never end."""


def test_a_simulated_point_stopped_by_a_limit_is_flagged(monkeypatch):
    """A point whose simulation stopped at its event budget carries the note in its
    ``stopped`` column and is counted in ``attrs``; a complete point has ``""``."""
    monkeypatch.setattr("qmodel.sim.budget.EVENT_MARGIN", 1)
    monkeypatch.setattr("qmodel.sim.budget.MIN_EVENTS", 1_000)
    model = qmodel.Model.from_dict(DELAY)
    table = sweep(model, {"nodes.q.service": "[1ms, 1000000s]"}, method="simulate",
                  replications=2, seed=1, customers=500, executor="serial", progress=False)
    assert list(table["stopped"] == "") == [True, False]
    assert table["stopped"].iloc[1].startswith("stopped after 1,500 events (the event budget")
    assert table.attrs["stopped"] == 1


def test_the_cli_warns_of_stopped_points(monkeypatch, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from qmodel.cli.main import app

    monkeypatch.setattr("qmodel.sim.budget.EVENT_MARGIN", 1)
    monkeypatch.setattr("qmodel.sim.budget.MIN_EVENTS", 1_000)
    path = tmp_path / "delay.yaml"
    path.write_text(yaml.safe_dump(DELAY))
    result = CliRunner().invoke(app, [
        "sweep", str(path), "--vary", "nodes.q.service=[1ms, 1000000s]", "--method",
        "simulate", "--replications", "2", "--executor", "serial", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "1 of 2 points stopped at a limit of the run: their values are partial" in \
        " ".join(result.stderr.split())
