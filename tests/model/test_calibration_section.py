"""The model file's ``calibration:`` section: checked against the address book at load."""

from __future__ import annotations

import pytest

from qmodel import Model
from qmodel.errors import ModelError
from qmodel.model.calibration import intervals

BASE = {"time_unit": "ms",
        "nodes": {"app": {"kind": "queue", "servers": 2, "service": 20, "next": {"db": 0.5}},
                  "db": {"kind": "queue", "service": "5ms"}},
        "arrivals": {"web": {"to": "app", "rate": "50/s"}}}


def model(parameters: dict, **extra) -> Model:
    return Model.from_dict({**BASE, "calibration": {"parameters": parameters, **extra}})


def test_values_read_in_units_of_their_kind():
    m = model({"nodes.app.service.mean": {"estimate": 20, "low": 19, "high": "0.021s"},
               "arrivals.web.rate": {"estimate": "50/s", "low": "3/min", "high": 0.06},
               "nodes.app.next.db": {"estimate": 0.5, "low": 0.45, "high": 0.55, "n": 400},
               "nodes.app.servers": {"estimate": 2}},
              source="hand", assumptions=["a guess"])
    got = intervals(m)
    assert got["nodes.app.service.mean"].low == pytest.approx(0.019)
    assert got["nodes.app.service.mean"].high == pytest.approx(0.021)
    assert got["arrivals.web.rate"].low == pytest.approx(0.05)
    assert got["arrivals.web.rate"].high == pytest.approx(60.0)  # bare rate: per ms
    assert got["nodes.app.next.db"].kind == "probability"
    assert got["nodes.app.servers"].low == got["nodes.app.servers"].high == 2
    assert m.spec.calibration.assumptions == ["a guess"]


def test_a_model_without_the_section_has_no_intervals():
    assert intervals(Model.from_dict(BASE)) == {}


@pytest.mark.parametrize("parameters, path, message", [
    ({"nodes.app.srvice.mean": {"estimate": 20}}, "calibration.parameters.nodes.app.srvice.mean",
     "did you mean nodes.app.service.mean"),
    ({"nodes.app.service.mean": {"estimate": 20, "low": 21, "high": 30}},
     "calibration.parameters.nodes.app.service.mean", "does not hold the estimate"),
    ({"arrivals.web.rate": {"estimate": "fast"}}, "calibration.parameters.arrivals.web.rate",
     "must be a rate"),
    ({"nodes.app.next.db": {"estimate": "0.5"}}, "calibration.parameters.nodes.app.next.db",
     "must be a number"),
    ({"nodes.app.service.mean": {"estimate": "1e308d"}},
     "calibration.parameters.nodes.app.service.mean", "between 1e-12 and 1e+12 s"),
])
def test_bad_entries_are_field_errors(parameters, path, message):
    with pytest.raises(ModelError) as info:
        model(parameters)
    problem = info.value.problems[0]
    assert problem.path == path and message in problem.message


def test_unknown_keys_in_an_entry_are_rejected_at_their_path():
    with pytest.raises(ModelError) as info:
        model({"nodes.app.service.mean": {"estimate": 20, "error": 1}})
    assert "calibration.parameters.nodes.app.service.mean.error" in str(info.value)
