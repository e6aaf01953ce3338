"""Two saved scenarios compared: the metrics are the saved results' (checked against
M/M/1's formulas), the differences are B − A, and the model diff names each field."""

from __future__ import annotations

import json
import math

import pytest

import qmodel
from qmodel.project import ProjectError, compare_projects, load_project, model_diff, project_bytes


def shop(rate: float, results: tuple[str, ...] = ("solve",)):
    text = (f"name: shop\ntime_unit: ms\nnodes:\n  app: {{kind: queue, servers: 1, service: 10ms}}\n"
            f"arrivals:\n  web: {{to: app, rate: {rate}/s}}\n")
    res = qmodel.solve(qmodel.Model.from_yaml(text)).to_dict()
    return load_project(project_bytes(text, {kind: res for kind in results}))


def test_metrics_side_by_side_match_mm1() -> None:
    diff = compare_projects(shop(50), shop(80))
    assert diff.result == "solve" and diff.time_unit == "ms"
    table = diff.metrics.set_index(["scope", "metric"])
    # M/M/1, S = 10 ms: R = S / (1 - rho), p95 = ln(20) / (mu - lambda), U = lambda S.
    expected = {("system", "mean_response_time"): (20.0, 50.0),
                ("app", "p95_response"): (1000 * math.log(20) / 50, 1000 * math.log(20) / 20),
                ("app", "utilization"): (0.5, 0.8), ("system", "throughput"): (50.0, 80.0)}
    for key, (a, b) in expected.items():
        row = table.loc[key]
        assert (row.A, row.B) == (pytest.approx(a, rel=1e-9), pytest.approx(b, rel=1e-9)), key
        assert row.difference == pytest.approx(b - a, rel=1e-9)
        assert row.relative == pytest.approx((b - a) / a, rel=1e-9)
    assert list(diff.metrics.metric[:4]) == ["throughput", "mean_response_time",
                                             "p95_response_time", "mean_response"]
    assert table.loc[("system", "mean_response_time"), "unit"] == "ms"
    assert table.loc[("app", "throughput"), "unit"] == "/s"
    assert diff.model.to_dict("records") == [
        {"field": "arrivals.web.rate", "A": "50/s", "B": "80/s", "change": "changed"}]


def test_a_station_in_one_scenario_only_has_no_number_for_the_other() -> None:
    extra = "  db: {kind: queue, servers: 1, service: 2ms}\n"
    a = shop(50)
    b = load_project(project_bytes(a.model_text.replace("10ms}", "10ms, next: db}")
                                   .replace("arrivals:", extra + "arrivals:")))
    with pytest.raises(ProjectError, match=r"both projects need a solve or simulate result "
                                           r"to compare \(A has solve, B has none\)"):
        compare_projects(a, b)
    b = load_project(project_bytes(b.model_text, {"solve": qmodel.solve(
        qmodel.Model.from_yaml(b.model_text))}))
    diff = compare_projects(a, b)
    assert list(diff.metrics.scope.unique()) == ["system", "app", "db"]
    db = diff.metrics[diff.metrics.scope == "db"]
    assert db.A.isna().all() and db.B.notna().all()
    assert diff.model.to_dict("records") == [
        {"field": "nodes.app.next", "A": "-", "B": "db", "change": "added"},
        {"field": "nodes.db.kind", "A": "-", "B": "queue", "change": "added"},
        {"field": "nodes.db.servers", "A": "-", "B": "1", "change": "added"},
        {"field": "nodes.db.service", "A": "-", "B": "2ms", "change": "added"}]
    document = diff.to_dict()
    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert next(r for r in document["metrics"] if r["scope"] == "db")["A"] is None


def test_the_simulation_is_compared_when_a_solve_is_missing() -> None:
    a, b = shop(50, results=("simulate",)), shop(80, results=("solve", "simulate"))
    assert compare_projects(a, b).result == "simulate"
    with pytest.raises(ProjectError, match=r"both projects need a solve result .*A has simulate"):
        compare_projects(a, b, result="solve")
    with pytest.raises(ProjectError, match="result must be auto, solve or simulate"):
        compare_projects(a, b, result="sweep")


def test_model_diff_walks_lists_and_reports_removed_fields() -> None:
    a = {"name": "x", "slo": [{"metric": "p95", "max": "50ms"}], "tags": ["a", "b"]}
    b = {"name": "x", "slo": [{"metric": "p95", "max": "80ms"}], "tags": ["a"]}
    assert model_diff(a, b).to_dict("records") == [
        {"field": "slo[0].max", "A": "50ms", "B": "80ms", "change": "changed"},
        {"field": "tags[1]", "A": "b", "B": "-", "change": "removed"}]
    assert model_diff(a, a).empty
