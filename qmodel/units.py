"""Units a person types: durations (``20ms``, ``1.5s``) and rates (``200/s``, ``12/min``).

Inside qmodel every time is in seconds and every rate is per second; units exist only
at the edges (model files, CLI flags, printed output).
"""

from __future__ import annotations

import math
import re

from .errors import shown

TIME_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_DURATION = re.compile(rf"^\s*({_NUMBER})\s*([a-zµ]*)\s*$")
_RATE = re.compile(rf"^\s*({_NUMBER})\s*(?:/\s*([a-zµ]+)|(rps|qps|tps))\s*$")


INFINITE = math.inf
"""Infinitely many servers (a delay station, unbounded fork slots): the one encoding
everywhere inside qmodel. Model files write ``inf``; result JSON writes ``null``."""

_INFINITE_WORDS = ("inf", "infinite", "infinity")


def is_infinite(value: object) -> bool:
    """True for ``inf`` as a person types it (``inf``, ``infinite``, ``infinity``) or
    as a float.

    >>> is_infinite("Infinite"), is_infinite(float("inf")), is_infinite(8)
    (True, True, False)
    """
    if isinstance(value, str):
        return value.strip().lower() in _INFINITE_WORDS
    return isinstance(value, float) and value == math.inf


def _seconds_per(unit: str) -> float:
    try:
        return TIME_UNITS[unit]
    except KeyError:
        known = ", ".join(u for u in TIME_UNITS if u != "µs")
        raise ValueError(f"unknown time unit {shown(unit)}; use one of {known}") from None


SMALLEST, LARGEST = 1e-12, 1e12
"""The range of a duration in seconds and of a rate per second (besides zero): one
picosecond to about 31,700 years. Beyond it numbers that are finite as typed stop being
finite, or exact, in the arithmetic of a solver (``1e308d`` is infinite in seconds; the
rate of ``1e-320s`` is)."""


def _finite(value: float, text: object) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {shown(text)}")
    return value


def _in_range(value: float, text: object, what: str) -> float:
    if value != 0 and not SMALLEST <= abs(value) <= LARGEST:
        raise ValueError(f"{what} must be 0 or between {SMALLEST:g} and {LARGEST:g} {_UNIT[what]}"
                         f", got {shown(text)}")
    return value


_UNIT = {"a duration": "s", "a rate": "per second"}


def _float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer with hundreds of digits
        return math.inf


def parse_duration(value: object, default_unit: str = "s") -> float:
    """Return a duration in seconds from ``20ms``, ``1.5 s``, ``2min`` or a bare number.

    A bare number is in ``default_unit``.

    >>> parse_duration("20ms"), parse_duration("1.5s"), parse_duration(3, "ms")
    (0.02, 1.5, 0.003)
    """
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 20ms or 1.5s, got {shown(value)}")
    if isinstance(value, (int, float)):
        seconds = _finite(_float(value), value) * _seconds_per(default_unit)
        return _in_range(seconds, value, "a duration")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            number, unit = match.groups()
            seconds = _finite(float(number), value) * _seconds_per(unit or default_unit)
            return _in_range(seconds, value, "a duration")
    raise ValueError(f"must be a duration such as 20ms or 1.5s, got {shown(value)}")


def parse_rate(value: object, default_unit: str = "s") -> float:
    """Return a rate in events per second from ``200/s``, ``12/min``, ``50rps`` or a number.

    A bare number is per ``default_unit``.

    >>> parse_rate("200/s"), parse_rate("12/min"), parse_rate(0.5, "ms")
    (200.0, 0.2, 500.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"must be a rate such as 200/s or 12/min, got {shown(value)}")
    if isinstance(value, (int, float)):
        per_second = _finite(_float(value), value) / _seconds_per(default_unit)
        return _in_range(per_second, value, "a rate")
    if isinstance(value, str):
        match = _RATE.match(value)
        if match:
            number, unit, per_second = match.groups()
            seconds = 1.0 if per_second else _seconds_per(unit)
            return _in_range(_finite(float(number), value) / seconds, value, "a rate")
        if re.fullmatch(rf"\s*{_NUMBER}\s*", value):
            return parse_rate(float(value), default_unit)
    raise ValueError(f"must be a rate such as 200/s or 12/min, got {shown(value)}")


def format_duration(seconds: float, unit: str = "ms", digits: int = 4) -> str:
    """Format seconds in ``unit`` with ``digits`` significant digits.

    >>> format_duration(0.0271, "ms")
    '27.1ms'
    """
    return f"{seconds / _seconds_per(unit):.{digits}g}{unit}"


def format_rate(per_second: float, unit: str = "s", digits: int = 4) -> str:
    """Format a per-second rate per ``unit``.

    >>> format_rate(200.0)
    '200/s'
    """
    return f"{per_second * _seconds_per(unit):.{digits}g}/{unit}"


def _bare(value: object) -> float | None:
    """The number ``value`` is when it is written without a unit, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(rf"\s*{_NUMBER}\s*", value):
        return float(value)
    return None


def _human(x: float) -> str:
    """``300000`` -> ``300,000``; ``0.0005`` -> ``0.0005``."""
    x = float(f"{x:.6g}")
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:,.4g}" if abs(x) >= 1 else f"{x:.4g}"


def unit_needed(kind: str, value: object, time_unit: str) -> str | None:
    """Why a rate or duration a person typed (``--set``, ``--vary``, a dashboard cell)
    must carry its unit, or None when it does or needs none.

    Model files keep their rule (a bare number is in the file's ``time_unit``); what is
    typed at a prompt is refused without a unit, so that ``300`` in a model in ``ms`` is
    never silently 300,000/s. Zero needs no unit.

    >>> unit_needed("rate", "300", "ms")
    'give a unit, e.g. 300/s (a bare 300 would mean 300/ms = 300,000/s in this ms model)'
    >>> unit_needed("duration", 20, "s")
    'give a unit, e.g. 20ms or 20s (a bare 20 would mean 20s in this s model)'
    >>> unit_needed("rate", "300/s", "ms") is None, unit_needed("count", 3, "ms") is None
    (True, True)
    """
    number = _bare(value)
    if number is None or number == 0 or kind not in ("rate", "duration"):
        return None
    shown = _human(number)
    if kind == "rate":
        meaning = f"{shown}/{time_unit}" if time_unit == "s" else \
            f"{shown}/{time_unit} = {_human(number / _seconds_per(time_unit))}/s"
        return f"give a unit, e.g. {shown}/s (a bare {shown} would mean {meaning} in this " \
               f"{time_unit} model)"
    meaning = f"{shown}{time_unit}"
    return f"give a unit, e.g. {shown}ms or {shown}s (a bare {shown} would mean {meaning} " \
           f"in this {time_unit} model)"


RATE_UNITS = ("s", "min", "h", "d")
"""The units a rate is shown per, shortest first."""


def rate_unit(per_second: float) -> str:
    """The shortest unit of :data:`RATE_UNITS` in which ``per_second`` is at least 1 (so a
    rate reads 2/h, not 0.0005556/s); ``s`` for zero or no rate.

    >>> rate_unit(200.0), rate_unit(2 / 3600), rate_unit(0.5), rate_unit(0.0)
    ('s', 'h', 'min', 's')
    """
    if not per_second > 0 or not math.isfinite(per_second):
        return "s"
    return next((u for u in RATE_UNITS if per_second * TIME_UNITS[u] >= 1 - 1e-9), "d")


def human_rate(per_second: float, unit: str | None = None, digits: int = 4) -> str:
    """A rate per :func:`rate_unit` (or per ``unit``), the unit written.

    >>> human_rate(2 / 3600), human_rate(1500.0), human_rate(0.5, "s")
    ('2/h', '1500/s', '0.5/s')
    """
    return format_rate(per_second, unit or rate_unit(per_second), digits)
