"""Values to vary a parameter over: ranges with units, lists and log ranges.

Text forms (CLI and Python strings) — bare numbers are in the model's ``time_unit``, as in
the model file:

* ``1..16`` — every whole number from 1 to 16 (integer parameters);
* ``50/s..500/s:20`` — 20 evenly spaced values, ends included;
* ``10/s..10000/s:log20`` — 20 values evenly spaced on a log scale;
* ``[1, 2, 4]`` or ``[50/s, 80/s]`` — a list; ``200/s`` — one value.

Python numbers (ints, floats, ``range``, numpy arrays) are taken as they are: seconds,
per second, counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np

from ..errors import ModelError, Problem
from ..model.paths import Parameter
from ..units import INFINITE, is_infinite, parse_duration, parse_rate, unit_needed

GRAMMAR = ("a range LOW..HIGH (whole numbers), LOW..HIGH:N (N evenly spaced values), "
           "LOW..HIGH:logN (N values on a log scale), a list [A, B, C], or one value; "
           "e.g. 1..16, 50/s..500/s:20, 10ms..1s:log10, [1, 2, 4]")
MAX_POINTS = 100_000
"""The most values of one parameter, and the most points of a sweep's grid (100,000
analytic points of a five-component model take about 18 s)."""
_RANGE = re.compile(r"^\s*(?P<low>[^.\s][^:]*?)\s*\.\.\s*(?P<high>[^:]+?)\s*"
                    r"(?::\s*(?P<log>log)?\s*(?P<n>\d+))?\s*$")


def values_for(param: Parameter, spec: object, time_unit: str = "s") -> list[float]:
    """The values (SI units) that ``spec`` asks for ``param``; errors name the path.

    >>> from qmodel.model.paths import Parameter
    >>> rate = Parameter("arrivals.web.rate", "rate", 100.0)
    >>> values_for(rate, "50/s..200/s:4")
    [50.0, 100.0, 150.0, 200.0]
    >>> values_for(rate, "10/s..1000/s:log3")
    [10.0, 100.0, 1000.0]
    >>> values_for(Parameter("nodes.app.servers", "servers", 2), "1..4")
    [1, 2, 3, 4]
    """
    try:
        values = _values(param, spec, time_unit)
    except ValueError as exc:
        raise ModelError([Problem(param.path, str(exc))]) from None
    if not values:
        raise ModelError([Problem(param.path, f"no values given; use {GRAMMAR}")])
    return values


def require_units(param: Parameter, spec: object, time_unit: str, where: str = "") -> None:
    """Refuse a typed range (``--vary``, the dashboard) whose rate or duration values are
    bare numbers, saying what they would mean in ``time_unit``; ``where`` prefixes the path.

    >>> from qmodel.model.paths import Parameter
    >>> rate = Parameter("arrivals.web.rate", "rate", 100.0)
    >>> require_units(rate, "50/s..300/s:6", "ms")
    >>> require_units(rate, "50..300:6", "ms")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qmodel.errors.ModelError: arrivals.web.rate: give a unit, e.g. 50/s (a bare 50 would mean ...
    """
    if param.kind not in ("rate", "duration") or not isinstance(spec, str):
        return
    text = spec.strip()
    if text.startswith("[") and text.endswith("]"):
        pieces = [item.strip() for item in text[1:-1].split(",")]
    else:
        match = _RANGE.match(text)
        pieces = [match["low"], match["high"]] if match else [text]
    reasons = [why for piece in pieces if (why := unit_needed(param.kind, piece, time_unit))]
    if reasons:
        raise ModelError([Problem(f"{where}{param.path}", reasons[0])])


def _values(param: Parameter, spec: object, time_unit: str) -> list[float]:
    if isinstance(spec, str):
        return _text(param, spec.strip(), time_unit)
    if isinstance(spec, (int, float, np.number)) and not isinstance(spec, bool):
        return [_number(param, float(spec))]
    if isinstance(spec, Iterable):
        return [_text(param, v, time_unit)[0] if isinstance(v, str) else _number(param, float(v))
                for v in spec]
    raise ValueError(f"cannot read values from {spec!r}; use {GRAMMAR}")


def _text(param: Parameter, text: str, time_unit: str) -> list[float]:
    if text.startswith("[") and text.endswith("]"):
        items = [item.strip() for item in text[1:-1].split(",") if item.strip()]
        return [_one(param, item, time_unit) for item in items]
    match = _RANGE.match(text)
    if not match:
        return [_one(param, text, time_unit)]
    low = _one(param, match["low"], time_unit)
    high = _one(param, match["high"], time_unit)
    if high < low:
        raise ValueError(f"range {text!r} runs downwards; write LOW..HIGH")
    if match["n"] is None:
        if not param.integer:
            raise ValueError(f"{text!r}: say how many values, e.g. {text}:20 or {text}:log20 "
                             f"({GRAMMAR})")
        _few(high - low + 1, text)
        return list(range(int(low), int(high) + 1))
    n = int(match["n"])
    if n < 1:
        raise ValueError(f"{text!r}: the number of values must be at least 1")
    _few(n, text)
    if match["log"]:
        if low <= 0:
            raise ValueError(f"{text!r}: a log range needs a positive low end")
        grid = np.geomspace(low, high, n)
    else:
        grid = np.linspace(low, high, n)
    grid[0], grid[-1] = low, high
    if param.integer:
        return sorted({int(round(v)) for v in grid})
    return [float(v) for v in grid]


def _few(count: float, text: str) -> None:
    """A ``ValueError`` when ``count`` values are more than :data:`MAX_POINTS`."""
    if count > MAX_POINTS:
        raise ValueError(f"{text!r} asks for {count:,.0f} values; at most {MAX_POINTS:,}")


def _one(param: Parameter, text: str, time_unit: str) -> float:
    if param.kind == "servers" and is_infinite(text):
        return INFINITE
    if param.kind == "rate":
        return parse_rate(text, time_unit)
    if param.kind == "duration":
        return parse_duration(text, time_unit)
    percent = text.endswith("%")
    try:
        value = float(text[:-1] if percent else text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}; use {GRAMMAR}") from None
    return _number(param, value / 100 if percent else value)


def _number(param: Parameter, value: float) -> float:
    if param.integer and math.isfinite(value):
        if not value.is_integer():
            raise ValueError(f"must be a whole number, got {value!r}")
        return int(value)
    return value
