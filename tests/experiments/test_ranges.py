"""Value specs: ranges with units, counts, log ranges, lists; errors name the path."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel import ModelError
from qmodel.experiments.ranges import values_for
from qmodel.model.paths import Parameter

RATE = Parameter("arrivals.web.rate", "rate", 100.0)
SERVERS = Parameter("nodes.app.servers", "servers", 2)
TIME = Parameter("nodes.app.service", "duration", 0.01)


def test_linear_range_with_units():
    assert values_for(RATE, "50/s..500/s:10") == pytest.approx(np.linspace(50, 500, 10))


def test_log_range_ends_exactly():
    values = values_for(RATE, "10/s..10000/s:log20")
    assert len(values) == 20 and values[0] == 10.0 and values[-1] == 10000.0
    assert np.allclose(np.diff(np.log(values)), np.log(1000) / 19)


def test_integer_range_and_list():
    assert values_for(SERVERS, "1..16") == list(range(1, 17))
    assert values_for(SERVERS, "[1, 2, 4]") == [1, 2, 4]
    assert values_for(SERVERS, "1..64:log7") == [1, 2, 4, 8, 16, 32, 64]


def test_bare_numbers_are_in_the_model_time_unit():
    assert values_for(TIME, "5..10:2", time_unit="ms") == pytest.approx([0.005, 0.010])
    assert values_for(RATE, "[1, 2]", time_unit="ms") == [1000.0, 2000.0]


def test_python_values_are_si():
    assert values_for(RATE, range(100, 301, 100)) == [100.0, 200.0, 300.0]
    assert values_for(TIME, np.array([0.01, 0.02])) == [0.01, 0.02]


@pytest.mark.parametrize(("param", "spec", "message"), [
    (RATE, "50/s..500/s", "say how many values"),
    (RATE, "500/s..50/s:3", "runs downwards"),
    (SERVERS, "[1, 2.5]", "whole number"),
    (RATE, "fast", "must be a rate"),
    (SERVERS, "1..1000000000", "asks for 1,000,000,000 values; at most 100,000"),
    (SERVERS, "1..inf", "asks for inf values"),  # (a MemoryError, and an OverflowError)
    (RATE, "1/s..1e9/s:log100000000", "asks for 100,000,000 values"),
])
def test_errors_name_the_path_and_the_grammar(param, spec, message):
    with pytest.raises(ModelError, match=message) as info:
        values_for(param, spec)
    assert info.value.problems[0].path == param.path
