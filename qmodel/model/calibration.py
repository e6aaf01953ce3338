"""The ``calibration:`` section of a model file: where the numbers came from and how sure
they are.

``qmodel calibrate`` writes it; a user may write or edit it by hand. Each entry is keyed by
an address-book path (the same a ``--set`` takes, :mod:`qmodel.model.paths`) and gives the
estimate with a 95% interval, in the units a person types::

    calibration:
      source: "qmodel calibrate traces spans.json (otlp): 1,204 traces"
      parameters:
        nodes.api.service.mean: {estimate: 12.3ms, low: 11.8ms, high: 12.9ms,
                                 method: "exclusive span time; gamma by MLE", n: 2400}
        nodes.api.next.db: {estimate: 0.8, low: 0.78, high: 0.82}
        arrivals.web.rate: {estimate: 120/s, low: 115/s, high: 125/s}
      assumptions:
        - "one server per observed concurrent span"

The section changes no prediction by itself; ``solve --uncertainty`` samples the
parameters within their intervals. :func:`intervals` checks it against the model (every
path a numeric parameter, ``low <= estimate <= high``) and returns the values in seconds,
per second or plain numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ModelError, Problem, shown
from ..units import parse_duration, parse_rate

if TYPE_CHECKING:
    from .model import Model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Estimate(_Strict):
    """One calibrated parameter: the estimate and its 95% interval (values with units)."""

    estimate: str | float
    low: str | float | None = Field(default=None, description="Lower end of the 95% interval.")
    high: str | float | None = Field(default=None, description="Upper end of the 95% interval.")
    method: str = Field(default="", description="How it was estimated.")
    n: int | None = Field(default=None, ge=0, description="Observations behind the estimate.")


class CalibrationSpec(_Strict):
    """Provenance and uncertainty of a calibrated model's parameters."""

    source: str = Field(default="", description="What the parameters were estimated from.")
    parameters: dict[str, Estimate] = Field(default_factory=dict)
    assumptions: list[str] = Field(default_factory=list,
                                   description="What the data could not say.")


@dataclass(frozen=True)
class Interval:
    """A parameter's estimate and 95% interval in seconds, per second or plain units."""

    path: str
    kind: str
    estimate: float
    low: float
    high: float


def intervals(model: Model) -> dict[str, Interval]:
    """The model's calibrated parameters, checked against its address book; a path that
    is not a numeric parameter, a value that does not read as the parameter's kind or an
    interval that does not hold its estimate raises :class:`ModelError` at its path.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "20ms"}},
    ...     "arrivals": {"web": {"to": "app", "rate": "10/s"}},
    ...     "calibration": {"parameters": {"nodes.app.service.mean":
    ...         {"estimate": "20ms", "low": "18ms", "high": "23ms"}}}})
    >>> iv = intervals(m)["nodes.app.service.mean"]
    >>> iv.kind, round(iv.low, 6), round(iv.high, 6)
    ('duration', 0.018, 0.023)
    """
    from .paths import catalogue, unknown_path

    section = model.spec.calibration
    if section is None:
        return {}
    known = catalogue(model)
    out: dict[str, Interval] = {}
    problems: list[Problem] = []
    for path, entry in section.parameters.items():
        where = f"calibration.parameters.{path}"
        if path not in known:
            problems.append(Problem(where, unknown_path(path, known)))
            continue
        kind = known[path].kind
        try:
            value = _read(entry.estimate, kind, model.time_unit)
            low = value if entry.low is None else _read(entry.low, kind, model.time_unit)
            high = value if entry.high is None else _read(entry.high, kind, model.time_unit)
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
            continue
        if not low <= value <= high:
            problems.append(Problem(where, f"the interval [{entry.low}, {entry.high}] does not "
                                           f"hold the estimate {entry.estimate}"))
            continue
        out[path] = Interval(path, kind, value, low, high)
    if problems:
        raise ModelError(problems)
    return out


def _read(value: str | float, kind: str, time_unit: str) -> float:
    if kind == "duration":
        number = parse_duration(value, time_unit)
    elif kind == "rate":
        number = parse_rate(value, time_unit)
    elif isinstance(value, str):
        raise ValueError(f"must be a number, got {shown(value)}")
    else:
        number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"must be a finite non-negative {kind}, got {shown(value)}")
    return number
