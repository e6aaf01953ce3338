"""The dashboard and the CLI draw the same numbers: the same knee on the same sweep table,
the same heat-map grid and the same tornado order (from qmodel.experiments.shapes)."""

from __future__ import annotations

import numpy as np
import pytest

import qmodel
from qmodel.experiments import sensitivity, sweep
from qmodel.experiments.plots import sweep_figure, tornado_figure
from qmodel.model.paths import catalogue
from qmodel_ui import charts
from qmodel_ui.sweeps import axis, metric_scale

from .conftest import ROOT

KNEE_COLOUR = "#6a1b9a"


@pytest.fixture(scope="module")
def web() -> qmodel.Model:
    return qmodel.load(ROOT / "topologies" / "web_service.yaml")


def _frame(model, table, x, metric, y=None):
    """The table as the What-if page plots it: display units, columns _x, _m (and _y)."""
    column, scale, _ = metric_scale(metric, model.time_unit)
    params = catalogue(model)
    _, x_scale = axis(params[x], model.time_unit)
    frame = table.assign(_x=table[x] * x_scale, _m=table[column] * scale)
    if y is not None:
        frame["_y"] = frame[y] * axis(params[y], model.time_unit)[1]
    return frame, x_scale, scale


def _cli_knee(table) -> float:
    return next(trace.x[0] for trace in sweep_figure(table).data if trace.name == "knee")


def _dashboard_knee(frame) -> float:
    fig = charts.curve(frame, "_x", "_m", x_label="x", y_label="y")
    return next(shape.x0 for shape in fig.layout.shapes if shape.line.color == KNEE_COLOUR)


@pytest.mark.parametrize("x, values", [("arrivals.web.rate", "50/s..310/s:14"),
                                       ("nodes.app.servers", "6..16"),
                                       ("nodes.app.service", "5ms..30ms:12")])
def test_cli_and_dashboard_mark_the_same_knee(web, x, values):
    table = sweep(web, {x: values}, metric="p95_response_time", executor="serial")
    frame, x_scale, _ = _frame(web, table, x, "p95_response_time")
    assert _dashboard_knee(frame) == pytest.approx(_cli_knee(table) * x_scale)


def test_cli_and_dashboard_draw_the_same_heat_map(web):
    x, y = "arrivals.web.rate", "nodes.app.servers"
    table = sweep(web, {x: "100/s..300/s:5", y: "6..8"}, executor="serial")
    frame, _, scale = _frame(web, table, x, "p95_response_time", y)
    cli = sweep_figure(table, "p95_response_time_s").data[0]
    board = charts.heatmap(frame, "_x", "_y", "_m", x_label=x, y_label=y, z_label="p95").data[0]
    np.testing.assert_allclose(np.asarray(board.z, dtype=float),
                               np.asarray(cli.z, dtype=float) / 1000 * scale)
    assert list(board.x) == list(cli.x) and list(board.y) == list(cli.y)


def test_cli_and_dashboard_order_the_tornado_alike(web):
    table = sensitivity(web, "p95_response_time")
    cli = tornado_figure(table).data[0]
    board = charts.tornado(table, 1.0, "p95").data[0]
    assert list(board.y) == list(cli.y)
    assert list(charts.tornado(table, 1.0, "p95", top=3).data[0].y) == list(cli.y)[-3:]


def test_feedback_routes_are_drawn_as_arcs_with_their_probability():
    """A route back to the node itself or to an earlier column was an arrow of length zero
    or one hidden under the forward edge; now a dashed arc above, labelled, in range."""
    m = qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": "10ms", "next": {"app": 0.3, "db": 0.5}},
                  "db": {"kind": "queue", "service": "5ms", "next": {"app": 0.2}}},
        "arrivals": {"web": {"to": "app", "rate": "20/s"}}})
    fig = charts.architecture(m, None)
    labels = [a.text for a in fig.layout.annotations if a.text]
    assert sorted(labels) == ["p=0.5", "↺ p=0.2", "↺ p=0.3"]
    assert len(fig.layout.shapes) == 2 and all(s.type == "path" for s in fig.layout.shapes)
    low, high = fig.layout.yaxis.range
    tops = [a.y for a in fig.layout.annotations if a.text.startswith("↺")]
    assert all(low < y < high for y in tops)
    plain = charts.architecture(qmodel.load("topologies/web_service.yaml"), None)
    assert not plain.layout.shapes  # no feedback, no arcs
