"""The numbers behind the figures: the knee, the heat-map grid and the tornado bars."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qmodel.experiments import sensitivity, sweep
from qmodel.experiments.shapes import heat_grid, knee, tornado_bars

from .models import mm1


def test_knee_of_the_mm1_response_time_against_the_arrival_rate():
    """T = 1/(mu - lambda) over a <= lambda <= b: the slope equals the chord's where
    mu - lambda = sqrt((mu - a)(mu - b)), the geometric mean of the ends' gaps."""
    table = sweep(mm1(service="1s"), {"arrivals.jobs.rate": "0.01/s..0.99/s:99"},
                  executor="serial")
    rate, response = table["arrivals.jobs.rate"], table["mean_response_time_s"]
    where = 1.0 - math.sqrt((1.0 - 0.01) * (1.0 - 0.99))          # 0.9005
    assert rate.iloc[knee(rate, response)] == pytest.approx(where, abs=0.01)


def test_the_knee_is_that_of_the_stable_part_in_any_order_and_direction():
    load = np.linspace(0.05, 0.95, 19)
    latency = 1.0 / (1.0 - load)                       # M/M/1 in units of the service time
    k = knee(load, latency)
    assert 0.7 <= load[k] <= 0.9
    with_unstable = np.append(latency, [np.nan, np.inf])
    assert knee(np.append(load, [1.0, 1.1]), with_unstable) == k
    shuffled = np.random.default_rng(1).permutation(len(load))
    assert knee(load[shuffled], latency[shuffled]) == int(np.flatnonzero(shuffled == k)[0])
    assert knee(load, -latency) == k                   # falling: the same bend
    assert knee(load[:2], latency[:2]) is None
    assert knee(load, np.ones_like(load)) is None


def test_heat_grid_keeps_a_column_of_unstable_points():
    table = sweep(mm1(), {"arrivals.jobs.rate": "50/s..250/s:3", "nodes.cpu.servers": "1..2"},
                  executor="serial")
    grid = heat_grid(table, "arrivals.jobs.rate", "nodes.cpu.servers", "mean_response_time_s")
    assert grid.shape == (2, 3) and list(grid.index) == [1, 2]
    assert grid[250.0].isna().all()                    # unstable at 250/s with 1 or 2 servers
    assert grid.loc[1, 50.0] == pytest.approx(0.02)    # M/M/1: 10 ms / (1 - 0.5)


def test_tornado_bars_widest_swing_first_and_top():
    table = sensitivity(mm1(rate="80/s"), "mean_response_time")
    bars = tornado_bars(table)
    swing = bars["swing"].abs()
    assert swing.is_monotonic_decreasing and len(bars) == len(table)
    assert bars.attrs["base"] == table.attrs["base"]
    assert list(tornado_bars(table, top=2)["parameter"]) == list(bars["parameter"][:2])
    one_sided = pd.concat([table, table.iloc[[0]].assign(parameter="x", swing=np.nan)])
    assert tornado_bars(one_sided)["parameter"].iloc[-1] == "x"
