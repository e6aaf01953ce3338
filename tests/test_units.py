"""Units a person types."""

from __future__ import annotations

import pytest

from qmodel.units import format_duration, parse_duration, parse_rate


@pytest.mark.parametrize("text, seconds", [
    ("20ms", 0.02), ("1.5s", 1.5), ("2 min", 120.0), ("1h", 3600.0), ("250us", 250e-6),
    ("3e2ms", 0.3), (".5s", 0.5),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text, per_second", [
    ("200/s", 200.0), ("12/min", 0.2), ("50rps", 50.0), ("3600/h", 1.0), ("1/ms", 1000.0),
])
def test_rates(text, per_second):
    assert parse_rate(text) == pytest.approx(per_second)


def test_bare_numbers_use_the_default_unit():
    assert parse_duration(20, "ms") == pytest.approx(0.02)
    assert parse_rate("2", "ms") == pytest.approx(2000.0)


@pytest.mark.parametrize("bad", ["fast", "20 parsecs", "", None, True, "nan", float("inf")])
def test_bad_durations_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format():
    assert format_duration(0.0271) == "27.1ms"
