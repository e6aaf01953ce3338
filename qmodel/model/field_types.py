"""The value types of the model format: durations, rates, counts, server counts,
distributions, routes and rate profiles, each parsed from what a person types (``20ms``,
``200/s``, ``inf``) into seconds and per-second, with the JSON Schema an editor shows.

The node, class and behaviour models (:mod:`.spec`, :mod:`.behaviour_spec`) are built
from these; the address book (:mod:`.paths`) knows a settable field by its type here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
)

from ..distributions import Distribution
from ..errors import shown
from ..units import INFINITE, is_infinite, parse_duration, parse_rate
from . import dist_spec, mmpp, profiles
from .slo import read_slo

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"


def _ctx(info: ValidationInfo) -> tuple[str, Path | None]:
    context = info.context or {}
    return context.get("time_unit", "s"), context.get("base_dir")


def _distribution(value: Any, info: ValidationInfo) -> Distribution:
    if isinstance(value, Distribution):
        return value
    time_unit, base_dir = _ctx(info)
    return dist_spec.parse(value, time_unit, base_dir)


def _interarrival(value: Any, info: ValidationInfo) -> Distribution | None:
    """The inter-arrival distribution: the shape given, with mean 1/rate (None: Poisson)."""
    if value is None or isinstance(value, Distribution):
        return value
    if not isinstance(value, dict):
        raise ValueError(
            f"must be a mapping giving the shape, e.g. {{dist: erlang, k: 2}} or {{cv: 2}}, "
            f"got {shown(value)}")
    rate = info.data.get("rate")  # absent when the rate itself is invalid (reported there)
    if isinstance(rate, profiles.RateProfile):
        raise ValueError("a rate profile gives Poisson arrivals at the profile's rate; "
                         "an interarrival shape needs a constant rate")
    if value.get("dist") == "mmpp2":
        return mmpp.parse(value, rate, _ctx(info)[0]) if rate else None
    return dist_spec.parse(value, mean=1.0 / rate if rate else 1.0)


def checked_slo(value: str | list[str] | None, info: ValidationInfo) -> str | list[str] | None:
    """Checks the SLO's grammar (the text is kept as written)."""
    if value:
        read_slo(value, _ctx(info)[0])
    return value


def _duration(value: Any, info: ValidationInfo) -> float:
    seconds = parse_duration(value, _ctx(info)[0])
    if seconds <= 0:
        raise ValueError(f"must be a positive duration, got {shown(value)}")
    return seconds


def _nonnegative_duration(value: Any, info: ValidationInfo) -> float:
    seconds = parse_duration(value, _ctx(info)[0])
    if seconds < 0:
        raise ValueError(f"must be a non-negative duration, got {shown(value)}")
    return seconds


def _rate(value: Any, info: ValidationInfo) -> float:
    per_second = parse_rate(value, _ctx(info)[0])
    if per_second <= 0:
        raise ValueError(f"must be a positive rate such as 200/s, got {shown(value)}")
    return per_second


MAX_COUNT = 10**9
"""The largest count of anything (PositiveInt); fields that cost memory or time per unit
have lower limits, listed in docs/limits.md."""
MAX_SERVERS = 100_000
"""The most servers of a station (``inf`` for more: a delay)."""
MAX_MEMBERS = 300
"""The most shards or consumers of one component (each is a station)."""
MAX_JOBS = 100_000
"""The most jobs of a closed class (population) or in a batcher's batch."""


def _profile(value: Any, info: ValidationInfo) -> profiles.RateProfile:
    if isinstance(value, profiles.RateProfile):
        return value
    time_unit, base_dir = _ctx(info)
    return profiles.parse(value, time_unit, base_dir)


def _rate_or_profile(value: Any) -> str:
    return "profile" if isinstance(value, (dict, profiles.RateProfile)) else "rate"


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, got {shown(value)}")
    if value > MAX_COUNT:
        raise ValueError(f"must be at most {MAX_COUNT:,}, got {shown(value)}")
    return value


def _servers(value: Any) -> int | float:
    if is_infinite(value):
        return INFINITE
    if isinstance(value, str):
        raise ValueError(f"must be a positive integer or 'inf', got {shown(value)}")
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_SERVERS:
        raise ValueError(f"must be at most {MAX_SERVERS:,} (or inf), got {shown(value)}")
    return _positive_int(value)


def _next(value: Any) -> dict[str, float]:
    if isinstance(value, str):
        return {value: 1.0}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        raise ValueError("a list sends each job to one place only: give probabilities, "
                         f"e.g. {{{', '.join(f'{v}: 0.5' for v in value[:2])}}}, got {shown(value)}")
    if not isinstance(value, dict):
        raise ValueError(f"must be a node name or a mapping of node to probability, got {shown(value)}")
    out = {}
    for target, p in value.items():
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{target}: probability must be a number in [0, 1], got {shown(p)}")
        out[str(target)] = float(p)
    total = sum(out.values())
    if total > 1 + 1e-9:
        raise ValueError(f"probabilities sum to {total:g}, more than 1")
    return out


def _schema(schema: dict) -> WithJsonSchema:
    return WithJsonSchema(schema)


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^\s*[0-9.eE+-]+\s*(ns|us|ms|s|sec|min|h|d)?\s*$"},
    ],
    "description": "A duration: 20ms, 1.5s, 2min, or a number in the model's time_unit.",
}
_NONNEG_DURATION_SCHEMA = {
    "anyOf": [{"type": "number", "minimum": 0}, _DURATION_SCHEMA["anyOf"][1]],
    "description": "A duration (0 allowed): 0s, 20ms, 1h, or a number in the model's "
                   "time_unit.",
}
_RATE_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^\s*[0-9.eE+-]+\s*(/\s*(ns|us|ms|s|sec|min|h|d)|rps|qps|tps)?\s*$"},
    ],
    "description": "A rate: 200/s, 12/min, or a number per time_unit.",
}
_DIST_SCHEMA = {
    "anyOf": [
        _DURATION_SCHEMA,
        {
            "type": "object",
            "description": "A distribution: {dist: NAME, ...parameters} or {mean, cv}.",
            "properties": {
                "dist": {"enum": list(dist_spec.DIST_NAMES)},
                "mean": _DURATION_SCHEMA,
                "cv": {"type": "number", "minimum": 0},
                "rate": _RATE_SCHEMA,
                "value": _DURATION_SCHEMA,
                "k": {"type": "integer", "minimum": 1},
                "probs": {"type": "array", "items": {"type": "number"}},
                "means": {"type": "array", "items": _DURATION_SCHEMA},
                "low": _DURATION_SCHEMA,
                "high": _DURATION_SCHEMA,
                "alpha": {"type": "number", "exclusiveMinimum": 1},
                "scale": _DURATION_SCHEMA,
                "samples": {"type": "array", "items": _DURATION_SCHEMA},
                "file": {"type": "string"},
                "column": {"type": ["string", "integer"]},
            },
            "additionalProperties": False,
        },
    ]
}
_NEXT_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": NAME_PATTERN},
        {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}},
    ],
    "description": "Next hop: a node name, or node -> probability (the rest leaves).",
}

Dist = Annotated[Any, BeforeValidator(_distribution), _schema(_DIST_SCHEMA)]
Duration = Annotated[float, BeforeValidator(_duration), _schema(_DURATION_SCHEMA)]
NonNegDuration = Annotated[float, BeforeValidator(_nonnegative_duration),
                           _schema(_NONNEG_DURATION_SCHEMA)]
Rate = Annotated[float, BeforeValidator(_rate), _schema(_RATE_SCHEMA)]
PositiveInt = Annotated[int, BeforeValidator(_positive_int),
                        _schema({"type": "integer", "minimum": 1})]
Servers = Annotated[int | float, BeforeValidator(_servers),
                    _schema({"anyOf": [{"type": "integer", "minimum": 1}, {"const": "inf"}]})]
Next = Annotated[dict[str, float], BeforeValidator(_next), _schema(_NEXT_SCHEMA)]
Interarrival = Annotated[
    Any, BeforeValidator(_interarrival),
    _schema({"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "null"}]})]
"""Parsed once, at load, into the :class:`Distribution` of the gaps (None: Poisson);
``rate`` is validated first, so the mean is ``1/rate``."""
Profile = Annotated[Any, BeforeValidator(_profile), _schema({
    "type": "object", "required": ["profile"],
    "properties": {"profile": {"enum": list(profiles.PROFILES)}},
    "description": "A rate over time: {profile: step|ramp|spike|sine|piecewise|file, ...} "
                   "(docs/model-format.md)."})]
RateOrProfile = Annotated[
    Annotated[Rate, Tag("rate")] | Annotated[Profile, Tag("profile")],
    Discriminator(_rate_or_profile),
]
"""A constant rate, or a :class:`~qmodel.model.profiles.RateProfile` (time-varying)."""
Probability = Annotated[float, Field(ge=0, le=1)]
Weights = list[Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]]
Discipline = Literal["fcfs", "ps", "lcfs-pr", "priority", "priority-preemptive", "mlfq"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
