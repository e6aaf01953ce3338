"""Distribution specs of a model file: a duration or a mapping with ``dist`` and its
parameters, read into a :class:`~qmodel.distributions.Distribution`.

Every error is a :class:`~qmodel.errors.FieldError` naming the key at fault, relative to
the spec; the model parser puts the field's own path in front of it.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from ..distributions import (
    Deterministic,
    Distribution,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Pareto,
    Uniform,
    fit,
)
from ..errors import FieldError, shown
from ..units import parse_duration, parse_rate
from .files import MAX_DATA_BYTES, read_bounded

DIST_NAMES = (
    "exponential",
    "deterministic",
    "erlang",
    "hyperexponential",
    "lognormal",
    "gamma",
    "uniform",
    "pareto",
    "empirical",
)

_ALLOWED_KEYS = {
    None: {"mean", "cv"},
    "exponential": {"mean", "rate"},
    "deterministic": {"value", "mean"},
    "erlang": {"k", "mean"},
    "hyperexponential": {"probs", "means", "mean", "cv"},
    "lognormal": {"mean", "cv"},
    "gamma": {"mean", "cv"},
    "uniform": {"low", "high"},
    "pareto": {"alpha", "mean", "scale"},
    "empirical": {"samples", "file", "column"},
}

MEAN_KEYS = {"mean", "rate", "value", "means", "low", "high", "scale", "samples", "file"}

KEYS = ("dist", *sorted(set().union(*_ALLOWED_KEYS.values())))
"""Every key a distribution mapping may have."""

NUMBER_KEYS = {"k": "count", "alpha": "number", "value": "duration", "low": "duration",
               "high": "duration", "scale": "duration", "rate": "rate"}
"""The keys besides ``mean`` and ``cv`` that hold one number, and what it measures."""


def field_duration(key: str, raw: Any, time_unit: str, positive: bool, kind: str = "") -> float:
    """``raw`` in seconds, for field ``key`` of a mapping read in ``time_unit``; a
    :class:`FieldError` at ``key`` when it is not a duration, is negative, or is 0 and must
    be ``positive`` (``kind`` names what it is in the message: "a positive duration").

    >>> field_duration("at", "2min", "s", positive=False)
    120.0
    >>> field_duration("at", "-1s", "s", positive=True, kind="duration")
    Traceback (most recent call last):
    ...
    qmodel.errors.FieldError: at: must be a positive duration, got '-1s'
    """
    try:
        seconds = parse_duration(raw, time_unit)
    except ValueError as exc:
        raise FieldError(key, str(exc)) from None
    if seconds < 0 or (positive and seconds == 0):
        sign = "positive" if positive else "non-negative"
        raise FieldError(key, f"must be {f'a {sign} {kind}' if kind else sign}, got {shown(raw)}")
    return seconds


class _Spec:
    """Reads the fields of one distribution mapping, naming the field in every error."""

    def __init__(self, spec: dict, time_unit: str):
        self.spec = spec
        self.time_unit = time_unit

    def has(self, key: str) -> bool:
        return key in self.spec

    def duration(self, key: str, positive: bool = True) -> float:
        return field_duration(key, self.spec[key], self.time_unit, positive)

    def number(self, key: str, low: float = 0.0, strict: bool = False) -> float:
        value = self.spec[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FieldError(key, f"must be a number, got {shown(value)}")
        if value < low or (strict and value == low):
            raise FieldError(key, f"must be {'>' if strict else '>='} {low:g}, got {shown(value)}")
        return float(value)

    def integer(self, key: str, low: int = 1) -> int:
        value = self.spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise FieldError(key, f"must be an integer >= {low}, got {shown(value)}")
        return value

    def durations(self, key: str, positive: bool = False) -> list[float]:
        """The list at ``key`` in seconds; each one > 0 when ``positive``, else >= 0."""
        values = self.spec[key]
        if not isinstance(values, list) or not values:
            raise FieldError(key, f"must be a non-empty list, got {shown(values)}")
        out = []
        for i, v in enumerate(values):
            try:
                out.append(parse_duration(v, self.time_unit))
            except ValueError as exc:
                raise FieldError(f"{key}.{i}", str(exc)) from None
            if out[-1] < 0 or (positive and out[-1] == 0):
                raise FieldError(f"{key}.{i}", f"must be {'positive' if positive else 'non-negative'}"
                                               f", got {shown(v)}")
        return out


def parse(
    spec: object,
    time_unit: str = "s",
    base_dir: Path | None = None,
    mean: float | None = None,
) -> Distribution:
    """Turn a model-file distribution spec into a :class:`Distribution`.

    ``spec`` is a duration (``20ms`` or a bare number in ``time_unit``: exponential with
    that mean) or a mapping with ``dist`` and its parameters, or just ``mean`` and ``cv``.
    When ``mean`` is given (an inter-arrival time implied by a rate), the spec gives only
    the shape and must not set a mean itself. Errors are :class:`FieldError`.

    >>> parse("20ms").mean, parse({"dist": "erlang", "k": 2, "mean": "10ms"}).scv
    (0.02, 0.5)
    >>> parse({"cv": 2}, mean=0.5).mean
    0.5
    """
    if mean is not None and spec is None:
        return Exponential(mean)
    if not isinstance(spec, dict):
        if mean is not None:
            raise FieldError("", "must be a mapping giving the shape, e.g. {dist: erlang, k: 2}; "
                                 "the mean comes from the rate")
        try:
            value = parse_duration(spec, time_unit)
        except ValueError as exc:
            raise FieldError("", str(exc) + " or a mapping with 'dist'") from None
        if value <= 0:
            raise FieldError("", f"must be a positive duration, got {shown(spec)}")
        return Exponential(value)
    kind = spec.get("dist")
    if kind is not None and (not isinstance(kind, str) or kind not in _ALLOWED_KEYS):
        raise FieldError("dist", f"must be one of {', '.join(DIST_NAMES)}, got {shown(kind)}")
    unknown = sorted(set(spec) - _ALLOWED_KEYS[kind] - {"dist"}, key=str)
    if unknown:
        allowed = ", ".join(sorted(_ALLOWED_KEYS[kind]))
        raise FieldError(str(unknown[0]), f"unknown key for {kind or 'a mean/cv'} distribution; "
                                     f"allowed: {allowed}")
    if mean is not None:
        given = sorted(set(spec) & MEAN_KEYS)
        if given:
            raise FieldError(given[0], "not allowed here: the mean comes from the rate")
        spec = {**spec, "mean": mean}
        time_unit = "s"
    reader = _Spec(spec, time_unit)
    _every_problem(reader, positive=("scale",) if kind == "deterministic" else ("mean", "scale"))
    return _BUILDERS[kind](reader, base_dir)


_READERS = {"mean": "duration", "value": "duration", "low": "duration", "high": "duration",
            "scale": "duration", "cv": "number", "alpha": "number", "k": "integer",
            "means": "durations", "samples": "durations"}


def _every_problem(reader: _Spec, positive: tuple[str, ...]) -> None:
    """Read every number of the spec on its own; when two or more are wrong, raise one
    :class:`FieldError` carrying all of them (a single one is left to the builder, which
    words it for its distribution)."""
    found = []
    for key, how in _READERS.items():
        if key in reader.spec:
            try:
                if how == "duration":
                    reader.duration(key, positive=key in positive)
                else:
                    getattr(reader, how)(key)
            except FieldError as exc:
                found.append((exc.field, exc.message))
    if len(found) > 1:
        raise FieldError(*found[0], others=tuple(found[1:]))


def _require(reader: _Spec, *keys: str) -> None:
    for key in keys:
        if not reader.has(key):
            raise FieldError(key, "is required")


def _mean_cv(reader: _Spec) -> tuple[float, float]:
    _require(reader, "mean")
    cv = reader.number("cv") if reader.has("cv") else 1.0
    return reader.duration("mean"), cv


def _general(reader, _):
    m, cv = _mean_cv(reader)
    return fit(m, cv * cv)


def _exponential(reader, _):
    if reader.has("rate"):
        if reader.has("mean"):
            raise FieldError("rate", "give either mean or rate, not both")
        try:
            rate = parse_rate(reader.spec["rate"], reader.time_unit)
        except ValueError as exc:
            raise FieldError("rate", str(exc)) from None
        if rate <= 0:
            raise FieldError("rate", f"must be positive, got {shown(reader.spec['rate'])}")
        return Exponential(1.0 / rate)
    _require(reader, "mean")
    return Exponential(reader.duration("mean"))


def _deterministic(reader, _):
    key = "value" if reader.has("value") else "mean"
    _require(reader, key)
    return Deterministic(reader.duration(key, positive=False))


def _erlang(reader, _):
    _require(reader, "k", "mean")
    return Erlang(reader.integer("k"), reader.duration("mean"))


def _hyperexponential(reader, _):
    if reader.has("probs") or reader.has("means"):
        _require(reader, "probs", "means")
        means = reader.durations("means", positive=True)  # each phase is an exponential
        probs = reader.spec["probs"]
        if not isinstance(probs, list) or len(probs) != len(means):
            raise FieldError("probs", f"must be a list of {len(means)} probabilities, got {shown(probs)}")
        if any(isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1
               for p in probs):
            raise FieldError("probs", f"must be probabilities in [0, 1], got {shown(probs)}")
        if not math.isclose(sum(probs), 1.0, abs_tol=1e-9):
            raise FieldError("probs", f"must sum to 1, got {sum(probs):g}")
        return HyperExponential(tuple(float(p) for p in probs), tuple(means))
    m, cv = _mean_cv(reader)
    if cv < 1:
        raise FieldError("cv", f"must be >= 1 for a hyperexponential, got {cv:g}")
    return HyperExponential.balanced(m, cv * cv)


def _lognormal(reader, _):
    m, cv = _mean_cv(reader)
    if cv <= 0:
        raise FieldError("cv", f"must be > 0, got {cv:g}")
    return Lognormal(m, cv)


def _gamma(reader, _):
    m, cv = _mean_cv(reader)
    if cv <= 0:
        raise FieldError("cv", f"must be > 0, got {cv:g}")
    return Gamma(m, cv)


def _uniform(reader, _):
    _require(reader, "low", "high")
    low, high = reader.duration("low", positive=False), reader.duration("high", positive=False)
    if high <= low:
        raise FieldError("high", f"must be greater than low, got {shown(reader.spec['high'])}")
    return Uniform(low, high)


def _pareto(reader, _):
    _require(reader, "alpha")
    alpha = reader.number("alpha", low=1.0, strict=True)
    if reader.has("scale") == reader.has("mean"):
        raise FieldError("mean", "give exactly one of mean or scale")
    if reader.has("scale"):
        return Pareto(alpha, reader.duration("scale"))
    return Pareto(alpha, reader.duration("mean") * (alpha - 1) / alpha)


def _empirical(reader, base_dir):
    if reader.has("samples") == reader.has("file"):
        raise FieldError("samples", "give exactly one of samples (a list) or file (a CSV path)")
    if reader.has("samples"):
        values = reader.durations("samples")
    else:
        values = _read_csv(reader, base_dir)
    if sum(values) <= 0:
        raise FieldError("samples", "must contain a positive value")
    return Empirical(tuple(values))


def _read_csv(reader: _Spec, base_dir: Path | None) -> list[float]:
    """The samples of a CSV file the model names: a regular file of at most
    :data:`~.files.MAX_DATA_BYTES` inside the model's folder (``base_dir``; the current
    directory for a model built from a dict without one). Messages name the row at fault,
    never echo the file's content."""
    raw = reader.spec["file"]
    if not isinstance(raw, str):
        raise FieldError("file", f"must be a path to a CSV file, got {shown(raw)}")
    folder = (base_dir or Path.cwd()).resolve()
    path = (folder / raw).resolve()
    if not path.is_relative_to(folder):
        raise FieldError("file", f"must name a file inside the model's folder {shown(str(folder))}"
                                 f", got {shown(raw)}")
    column = reader.spec.get("column", 0)
    try:
        text = read_bounded(path, MAX_DATA_BYTES).decode("utf-8")
    except OSError as exc:
        raise FieldError("file", f"cannot read {shown(raw)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise FieldError("file", f"{shown(raw)} is not a UTF-8 text file") from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if rows and isinstance(column, str):
        if column not in rows[0]:
            raise FieldError("column", f"no column {shown(column)} in the header of {shown(raw)}")
        index, rows = rows[0].index(column), rows[1:]
    elif isinstance(column, int) and not isinstance(column, bool) and column >= 0:
        index = column
        if rows and rows[0] and not _is_number(rows[0][index] if index < len(rows[0]) else ""):
            rows = rows[1:]
    else:
        raise FieldError("column", f"must be a column name or index, got {shown(column)}")
    values = []
    for line, row in enumerate(rows, start=1):
        if index >= len(row) or not row[index].strip():
            continue
        try:
            values.append(parse_duration(row[index].strip(), reader.time_unit))
        except ValueError:
            raise FieldError("file", f"{shown(raw)} row {line}, column {shown(column)}: not a "
                                     "duration") from None
    if not values:
        raise FieldError("file", f"{shown(raw)} has no samples in column {shown(column)}")
    if min(values) < 0:
        raise FieldError("file", f"{shown(raw)} has a negative sample")
    return values


def _is_number(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


_BUILDERS = {
    None: _general,
    "exponential": _exponential,
    "deterministic": _deterministic,
    "erlang": _erlang,
    "hyperexponential": _hyperexponential,
    "lognormal": _lognormal,
    "gamma": _gamma,
    "uniform": _uniform,
    "pareto": _pareto,
    "empirical": _empirical,
}


__all__ = ["DIST_NAMES", "KEYS", "MEAN_KEYS", "NUMBER_KEYS", "parse"]
