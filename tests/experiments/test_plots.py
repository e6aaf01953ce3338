"""Figures: the knee, the SLO line, heat maps and the tornado chart."""

from __future__ import annotations

from qmodel.experiments import sensitivity, sweep
from qmodel.experiments.plots import sweep_figure, tornado_figure

from .models import mm1


def test_line_plot_marks_unstable_points_the_knee_and_the_slo():
    table = sweep(mm1(), {"arrivals.jobs.rate": "10/s..110/s:11"}, slo="p95 < 150ms",
                  executor="serial")
    names = [trace.name for trace in sweep_figure(table).data]
    assert "knee" in names and any(n.startswith("unstable") for n in names)
    shapes = sweep_figure(table).layout.shapes
    assert any(s.y0 == 150.0 for s in shapes)          # the SLO line, in ms


def test_heat_map_for_two_parameters():
    table = sweep(mm1(), {"arrivals.jobs.rate": "10/s..190/s:5", "nodes.cpu.servers": "1..3"},
                  slo="mean < 30ms", executor="serial")
    fig = sweep_figure(table)
    assert fig.data[0].type == "heatmap" and fig.data[0].z.shape == (3, 5)
    assert fig.data[1].type == "contour"               # the SLO boundary


def test_tornado_puts_the_biggest_swing_on_top():
    table = sensitivity(mm1(rate="80/s"), "mean_response_time")
    fig = tornado_figure(table)
    assert fig.data[0].orientation == "h"
    biggest = table.loc[table["swing"].abs().idxmax(), "parameter"]
    assert list(fig.data[0].y)[-1] == biggest
