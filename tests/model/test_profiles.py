"""Rate profiles in the model file: each kind's rate over time, defaults, errors with
their field paths, the load generator's shapes, and steady-state solvers refusing."""

from __future__ import annotations

import os

import numpy as np
import pytest

import qmodel
from loadtest.shapes import SHAPES, rate_factor
from qmodel.errors import ModelError, UnsupportedError
from qmodel.model import profiles

BASE = {"nodes": {"app": {"kind": "queue", "service": "10ms"}}}


def model(rate, base_dir=None, **extra) -> qmodel.Model:
    return qmodel.Model.from_dict(BASE | {"arrivals": {"web": {"to": "app", "rate": rate,
                                                                **extra}}}, base_dir)


def problems(rate, **extra) -> str:
    with pytest.raises(ModelError) as exc:
        model(rate, **extra)
    return str(exc.value)


@pytest.mark.parametrize("spec, times, expected, length", [
    ({"profile": "step", "from": "50/s", "to": "100/s", "at": "1min"},
     [0, 59.9, 60, 500], [50, 50, 100, 100], 120),
    ({"profile": "ramp", "from": 10, "to": 30, "start": 10, "end": 20},
     [0, 10, 15, 20, 99], [10, 10, 20, 30, 30], 40),
    ({"profile": "spike", "base": "6/min", "peak": "30/min", "at": 100, "duration": 50},
     [99, 100, 149, 150], [0.1, 0.5, 0.5, 0.1], 300),
    ({"profile": "sine", "mean": 10, "amplitude": 5, "period": "4s"},
     [0, 1, 2, 3], [10, 15, 10, 5], 8),
    ({"profile": "piecewise", "points": [[0, 5], ["2s", 0], [3, 8]]},
     [0, 1.9, 2, 2.5, 3, 9], [5, 5, 0, 0, 8, 8], 3),
    ({"profile": "piecewise", "points": [[0, 0], [10, 100]], "interpolate": "linear",
      "length": "1min"}, [0, 5, 10, 60], [0, 50, 100, 100], 60),
])
def test_rate_over_time(spec, times, expected, length):
    profile = model(spec).network.profiles["web"]
    assert profile.rate_at(times) == pytest.approx(expected, abs=1e-9)
    assert profile.length == length


@pytest.mark.parametrize("spec, changes", [
    ({"profile": "ramp", "from": 10, "to": 30, "start": 10, "end": 20}, (10, 20)),
    ({"profile": "spike", "base": 1, "peak": 3, "at": 100, "duration": 50}, (100, 150)),
    ({"profile": "piecewise", "points": [[0, 5], [10, 9], [20, 5]], "interpolate": "linear"},
     (0, 20)),
    ({"profile": "piecewise", "points": [[0, 5], [10, 5], [20, 6]]}, (20, 20)),
])
def test_when_the_rate_changes(spec, changes):
    assert model(spec).network.profiles["web"].changes == changes


def test_time_unit_applies_to_bare_numbers():
    m = qmodel.Model.from_dict(BASE | {"time_unit": "ms", "arrivals": {"web": {
        "to": "app", "rate": {"profile": "step", "from": 0.05, "to": 0.1, "at": 2000}}}})
    assert m.network.profiles["web"].rate_at([1.0, 3.0]).tolist() == [50.0, 100.0]


def test_mean_rate_is_the_class_rate():
    m = model({"profile": "spike", "base": 100, "peak": 400, "at": 10, "duration": 5})
    # 30 s: 25 s at 100/s and 5 s at 400/s
    assert m.network.classes[0].rate == pytest.approx((25 * 100 + 5 * 400) / 30)
    sine = profiles.parse({"profile": "sine", "mean": 10, "amplitude": 5, "period": 4})
    assert sine.mean_rate() == pytest.approx(10, rel=1e-6)
    assert sine.peak == 15


def test_rates_from_a_csv_file(tmp_path):
    (tmp_path / "rates.csv").write_text("time,rate\n0,10/s\n30s,20/s\n1min,10/s\n")
    profile = model({"profile": "file", "file": "rates.csv"}, tmp_path).network.profiles["web"]
    assert profile.rate_at([0, 29, 30, 59, 60]).tolist() == [10, 10, 20, 20, 10]
    assert profile.length == 60 and profile.changes == (30.0, 60.0)
    (tmp_path / "bad.csv").write_text("0,10\n5,fast\n")
    with pytest.raises(ModelError, match=r"arrivals.web.rate.file: .*bad.csv'? row 2: must be "
                                         r"a rate"):
        model({"profile": "file", "file": "bad.csv"}, tmp_path)
    # as for an empirical distribution's samples: inside the model's folder, a regular file
    with pytest.raises(ModelError, match=r"rate.file: must name a file inside the model's"):
        model({"profile": "file", "file": "../rates.csv"}, tmp_path / "sub")
    with pytest.raises(ModelError, match=r"rate.file: cannot read .*not a regular file"):
        model({"profile": "file", "file": "fifo"}, _with_a_fifo(tmp_path))  # never blocks


def _with_a_fifo(folder):
    os.mkfifo(folder / "fifo")
    return folder


@pytest.mark.parametrize("rate, extra, message", [
    ({"profile": "spik"}, {}, "arrivals.web.rate.profile: must be one of step, ramp"),
    ({"profile": "step", "from": 1, "to": "fast", "at": 3}, {},
     "arrivals.web.rate.to: must be a rate such as 200/s"),
    ({"profile": "step", "from": 1, "to": 2}, {}, "arrivals.web.rate.at: is required"),
    ({"profile": "step", "from": 1, "to": 2, "at": 1, "peak": 3}, {},
     "arrivals.web.rate.peak: unknown key for a step profile; allowed: at, from, length, to"),
    ({"profile": "ramp", "from": 1, "to": 2, "start": 5, "end": 5}, {},
     "arrivals.web.rate.end: must be after start"),
    ({"profile": "piecewise", "points": [[0, 1], [5, 2], [4, 1]]}, {},
     "arrivals.web.rate.points.2: times must not decrease"),
    ({"profile": "piecewise", "points": [[0, 1], [2]]}, {},
     "arrivals.web.rate.points.1: must be a pair [time, rate]"),
    ({"profile": "piecewise", "points": [[0, 0], [1, 0]]}, {},
     "arrivals.web.rate.profile: the rate is zero throughout"),
    ({"profile": "sine", "mean": 1, "amplitude": 2, "period": 3}, {},
     "arrivals.web.rate.amplitude: must not exceed the mean"),
    ({"profile": "spike", "base": 1, "peak": 2, "at": 1, "duration": "-1s"}, {},
     "arrivals.web.rate.duration: must be a positive duration"),
    ({"profile": "piecewise", "points": [[0, 1]]}, {},
     "arrivals.web.rate.length: is required"),
    ({"profile": "step", "from": 1, "to": 2, "at": 1}, {"interarrival": {"cv": 2}},
     "arrivals.web.interarrival: a rate profile gives Poisson arrivals"),
])
def test_bad_profiles_name_the_field(rate, extra, message):
    assert message in problems(rate, **extra)


def test_constant_rates_are_unchanged():
    m = model("50/s")
    assert m.network.classes[0].rate == 50.0 and m.network.profiles == {}
    assert "arrivals.web.rate: must be a positive rate" in problems(-1)


@pytest.mark.parametrize("shape", SHAPES)
def test_load_shapes_match_the_load_generator(shape):
    duration, rate = 200.0, 40.0
    t = np.linspace(0, duration, 401)[:-1] + 0.1  # off the switching instants
    expected = [rate * rate_factor(shape, x, duration) for x in t]
    assert profiles.load_shape(shape, rate, duration).rate_at(t) == pytest.approx(expected)


def test_steady_state_solvers_refuse_a_profile():
    m = model({"profile": "step", "from": 1, "to": 2, "at": 1})
    for method in ("auto", "open"):
        with pytest.raises(UnsupportedError, match=r"arrivals.web.rate is a rate profile.*"
                                                   r"qmodel simulate --bins 1s"):
            qmodel.solve(m, method=method)


def test_tools_for_constant_rates_refuse_a_profile():
    from qmodel.experiments.loads import at_load
    from qmodel.io.jmva import write_jmva
    from qmodel.io.jsimg_write import write_jsimg

    m = model({"profile": "step", "from": 1, "to": 2, "at": 1})
    with pytest.raises(ModelError, match="arrivals.web.rate: is a rate profile"):
        at_load(m, "2x")
    for write in (write_jmva, write_jsimg):
        with pytest.raises(qmodel.QModelError, match=r"arrivals.web.*rate profile"):
            write(m)
