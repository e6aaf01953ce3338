"""The address book of a model: every settable numeric dotted path, derived from the
spec's types.

One syntax serves every place a value is set: ``--set`` and :meth:`Model.with_changes`
(:func:`~qmodel.model.fields.set_path`, any field of the format), sweeps, sensitivity,
plans and the dashboard (:func:`catalogue`, :func:`resolve`, :func:`apply`, the numeric
fields).

:func:`catalogue` walks the field annotations of :mod:`qmodel.model.spec` and lists every
numeric field of a model — rates, servers, counts, durations, routing probabilities, and
for every distribution its ``mean`` and ``cv`` (plus its own numeric keys such as ``k``) —
with its current value in seconds, per second or plain units. :func:`apply` writes values
(in those units) into a copy of the model document, with units, and re-validates it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel

from ..distributions import Distribution
from ..errors import ModelError, Problem, shown
from ..units import INFINITE, is_infinite, parse_duration, parse_rate, unit_needed
from . import dist_spec, field_types, spec
from .fields import SECTIONS, alternatives, fields_of, set_path, value_at

if TYPE_CHECKING:
    from .model import Model

Kind = Literal["rate", "duration", "count", "servers", "probability", "number", "integer"]
Write = Literal["field", "mean", "cv", "route", "shape_cv"]

UNITS: dict[str, str] = {"rate": "1/s", "duration": "s"}
INTEGER_KINDS = ("count", "servers", "integer")

_SCALARS: tuple[tuple[Any, Kind], ...] = (
    (field_types.Servers, "servers"), (field_types.PositiveInt, "count"), (field_types.Duration, "duration"),
    (field_types.NonNegDuration, "duration"), (field_types.Rate, "rate"), (int, "integer"))
"""The spec's numeric field types and what they measure."""



@dataclass(frozen=True)
class Parameter:
    """One numeric field: its path, kind, current value (None when unset) and how it is
    written into a model document (``where`` is the document path it writes to)."""

    path: str
    kind: Kind
    value: float | None
    write: Write = "field"
    where: str = ""

    @property
    def unit(self) -> str:
        return UNITS.get(self.kind, "")

    @property
    def integer(self) -> bool:
        return self.kind in INTEGER_KINDS


def catalogue(model: Model) -> dict[str, Parameter]:
    """Every numeric parameter of ``model`` by path.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "servers": 2,
    ...     "service": "20ms"}}, "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    >>> params = catalogue(m)
    >>> params["nodes.app.servers"].value, params["nodes.app.service.mean"].value
    (2, 0.02)
    >>> params["arrivals.web.rate"].value, params["arrivals.web.rate"].unit
    (50.0, '1/s')
    """
    return {p.path: p for p in _walk(model)}


def resolve(model: Model, paths: list[str]) -> dict[str, Parameter]:
    """The parameters at ``paths``; an unknown path raises :class:`ModelError` naming the
    closest valid path.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "20ms"}},
    ...                      "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    >>> resolve(m, ["nodes.app.srevers"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qmodel.errors.ModelError: nodes.app.srevers: not a numeric ...; did you mean nodes.app.servers?
    """
    known = catalogue(model)
    problems = [Problem(path, unknown_path(path, known)) for path in paths if path not in known]
    if problems:
        raise ModelError(problems)
    return {path: known[path] for path in paths}


def unknown_path(path: str, known: Mapping[str, Parameter]) -> str:
    """Why ``path`` is not in the address book, with the closest path that is."""
    close = difflib.get_close_matches(path, list(known), n=1, cutoff=0.0)
    return "not a numeric parameter of this model" + (f"; did you mean {close[0]}?" if close
                                                      else "")


def apply(model: Model, values: Mapping[str, float], params: Mapping[str, Parameter] | None
          = None) -> Model:
    """A new, validated model with ``values`` (seconds, per second, counts) set.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"time_unit": "ms", "nodes": {"app": {"kind": "queue",
    ...     "service": 20}}, "arrivals": {"web": {"to": "app", "rate": "10/s"}}})
    >>> m2 = apply(m, {"nodes.app.service": 0.01, "arrivals.web.rate": 50.0})
    >>> m2.to_dict()["nodes"]["app"]["service"], m2.network.classes[0].rate
    ('0.01s', 50.0)
    """
    params = params if params is not None else resolve(model, list(values))
    data = model.to_dict()
    for path, x in values.items():
        set_path(data, *_change(data, params[path], x, model))
    return type(model).from_dict(data, model.base_dir, model.source)


# -- the dashboard's editor: values as a model file writes them ---------------------------

def written(model: Model, param: Parameter) -> str:
    """``param``'s value as the model file writes it (``25ms``, ``200/s``, ``8``), or in
    SI units with the unit written out when the file does not hold it as one value; ``""``
    when unset."""
    raw = value_at(model.to_dict(), param.path)
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        return str(raw)
    return "" if param.value is None else str(encode(param, param.value))


def override(model: Model, param: Parameter, text: str) -> dict[str, str]:
    """The ``--set`` overrides (path to YAML text) that set ``param`` to ``text``, written
    as in a model file (bare numbers in the model's ``time_unit``).

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "20ms",
    ...     "next": "db"}, "db": {"kind": "delay", "service": "5ms"}},
    ...     "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    >>> params = catalogue(m)
    >>> override(m, params["nodes.app.service"], "25ms")
    {'nodes.app.service': '25ms'}
    >>> override(m, params["nodes.app.next.db"], "0.5")
    {'nodes.app.next': '{db: 0.5}'}
    """
    raw = value_at(model.to_dict(), param.where or param.path)
    verbatim = param.write == "field" or (param.write == "mean" and param.where == param.path
                                          and not isinstance(raw, dict))
    if verbatim:
        return {param.path: text.strip()}
    path, value = _change(model.to_dict(), param, parse_value(param, text, model.time_unit),
                          model)
    return {path: yaml.safe_dump(value, default_flow_style=True, sort_keys=False,
                                 width=10**9).strip().removesuffix("...").strip()}


def parse_value(param: Parameter, text: str, time_unit: str = "s") -> float:
    """A value written as in a model file (``25ms``, ``200/s``, ``inf``) in SI units."""
    text = str(text).strip()
    if param.kind == "servers" and is_infinite(text):
        return INFINITE
    try:
        if param.kind == "rate":
            return parse_rate(text, time_unit)
        if param.kind == "duration":
            return parse_duration(text, time_unit)
    except ValueError as exc:
        raise ModelError([Problem(param.path, str(exc))]) from None
    try:
        return float(text)
    except ValueError:
        raise ModelError([Problem(param.path, f"must be a number, got {shown(text)}")]) from None


def unit_problems(model: Model, changes: Mapping[str, Any], where: str = ""
                  ) -> list[Problem]:
    """The rates and durations in typed overrides (``--set``, the dashboard; values read
    as YAML) written as bare numbers, each a :class:`Problem` at ``where`` + its path saying
    what it would mean in the model's ``time_unit`` (:func:`~qmodel.units.unit_needed`).
    ``model`` says which paths are rates or durations.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"time_unit": "ms", "nodes": {"app": {"kind": "queue",
    ...     "service": 20}}, "arrivals": {"web": {"to": "app", "rate": "10/s"}}})
    >>> [str(p) for p in unit_problems(m, {"arrivals.web.rate": 300,
    ...     "nodes.app.service": {"mean": "2ms", "cv": 2}})]  # doctest: +ELLIPSIS
    ['arrivals.web.rate: give a unit, e.g. 300/s (a bare 300 would mean 300/ms = 300,000/s ...']
    """
    kinds = {path: param.kind for path, param in catalogue(model).items()}
    return [Problem(f"{where}{path}", why) for key, value in changes.items()
            for path, leaf in _leaves(key, value)
            if (why := unit_needed(kinds.get(path, ""), leaf, model.time_unit))]


def _leaves(path: str, value: Any) -> list[tuple[str, Any]]:
    """The scalar values in ``value`` (a mapping read from YAML) by dotted path."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(f"{path}.{key}", item)]
    return [(path, value)]


# -- encoding values ----------------------------------------------------------------------

def encode(param: Parameter, x: float) -> Any:
    """A document value for ``x`` (in SI units), with its unit written out."""
    if param.kind == "servers" and math.isinf(x):
        return "inf"
    if param.integer:
        if not float(x).is_integer():
            raise ModelError([Problem(param.path, f"must be a whole number, got {shown(x)}")])
        return int(x)
    if param.kind == "rate":
        return f"{shown(float(x))}/s"
    if param.kind == "duration":
        return f"{shown(float(x))}s"
    return float(x)


def _change(data: dict, param: Parameter, x: float, model: Model) -> tuple[str, Any]:
    """The document path and value that set ``param`` to ``x`` in ``data``."""
    value = encode(param, x)
    if param.write == "field":
        return param.path, value
    if param.write == "route":
        parent, _, target = param.where.rpartition(".")
        route = value_at(data, parent)
        route = {route: 1.0} if isinstance(route, str) else dict(route)
        return parent, {**route, target: value}
    if param.write == "shape_cv":
        shape = value_at(data, param.where)
        return param.where, ({**shape, "cv": value} if isinstance(shape, dict) and "cv" in shape
                             else {"cv": value})
    return param.where, _dist_value(value_at(data, param.where), param, x, model)


def _dist_value(current: Any, param: Parameter, x: float, model: Model) -> Any:
    """A distribution spec with a new mean or cv, keeping its form where it can."""
    dist = dist_spec.parse(current, model.time_unit, model.base_dir)
    if param.write == "cv":
        if isinstance(current, dict) and "cv" in current:
            return {**current, "cv": float(x)}
        return {"mean": f"{shown(dist.mean)}s", "cv": float(x)}
    if not isinstance(current, dict):
        return encode(param, x)
    for key in ("mean", "value"):
        if key in current:
            return {**current, key: encode(param, x)}
    if "rate" in current:
        return {k: v for k, v in current.items() if k != "rate"} | {"mean": encode(param, x)}
    spec_ = dist.with_mean(x).to_spec()
    return {k: _with_seconds(k, v) for k, v in spec_.items()}


def _with_seconds(key: str, value: Any) -> Any:
    if key in dist_spec.MEAN_KEYS and key != "rate":
        return [f"{shown(v)}s" for v in value] if isinstance(value, list | tuple) else f"{shown(value)}s"
    return list(value) if isinstance(value, tuple) else value


def _scalar(options: list[Any]) -> Kind | None:
    return next((kind for t, kind in _SCALARS for option in options if option == t), None)


# -- walking a model ----------------------------------------------------------------------

def _walk(model: Model) -> Iterator[Parameter]:
    doc = model.to_dict()
    for section in SECTIONS:
        for name, entry in getattr(model.spec, section).items():
            yield from _entry(f"{section}.{name}", entry, doc, model)


def _entry(base: str, entry: BaseModel, doc: dict, model: Model) -> Iterator[Parameter]:
    """A node's numbers: plain fields, distributions (per class after the default), nested
    blocks, routes; a class's: plain fields, routes, its distribution."""
    groups: dict[str, list[Parameter]] = {"field": [], "dist": [], "class_dist": [],
                                          "block": [], "route": []}
    for field, hint in fields_of(type(entry)).items():
        if isinstance(entry, spec.ForkNode) and entry.branches is not None and field == "slots":
            continue  # a fork with branches has no slots (model/check.py refuses them)
        path, value, options = f"{base}.{field}", getattr(entry, field), alternatives(hint)
        kind = _scalar(options)
        if kind is not None and not isinstance(value, list):
            groups["field"].append(Parameter(path, kind, _current(value)))
        if hint == field_types.Interarrival:  # the shape only: its mean is 1/rate
            scv = 1.0 if value is None else value.scv
            groups["dist"].append(Parameter(f"{path}.cv", "number", scv ** 0.5, "shape_cv",
                                            path))
        elif field_types.Dist in options and isinstance(value, Distribution):
            groups["dist"] += _dist(path, value, doc, model)
        elif field_types.Next in options:
            groups["route"] += _routes(path, value)
        elif get_origin(hint) is dict and get_args(hint)[1] == field_types.Dist:
            for cls, dist in value.items():
                groups["class_dist"] += _dist(f"{path}.{cls}", dist, doc, model)
        elif get_origin(hint) is dict and get_args(hint)[1] == field_types.Next:
            for cls, route in value.items():
                groups["route"] += _routes(f"{path}.{cls}", route)
        elif isinstance(value, BaseModel):  # a nested block: its plain fields
            for key, inner in fields_of(type(value)).items():
                inner_kind, inner_value = _scalar(alternatives(inner)), getattr(value, key)
                if inner_kind is not None and not isinstance(inner_value, list):
                    groups["block"].append(Parameter(f"{path}.{key}", inner_kind, inner_value))
    order = ("field", "dist", "class_dist", "block", "route") if base.startswith("nodes.") \
        else ("field", "route", "dist")
    for group in order:
        yield from groups[group]


def _current(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) else None


def _routes(base: str, route: dict[str, float]) -> Iterator[Parameter]:
    for target, p in route.items():
        yield Parameter(f"{base}.{target}", "probability", p, "route", f"{base}.{target}")


def _dist(path: str, dist: Distribution, doc: dict, model: Model) -> Iterator[Parameter]:
    yield Parameter(path, "duration", dist.mean, "mean", path)
    yield Parameter(f"{path}.mean", "duration", dist.mean, "mean", path)
    yield Parameter(f"{path}.cv", "number", math.sqrt(dist.scv), "cv", path)
    raw = value_at(doc, path)
    if isinstance(raw, dict):
        for key, kind in dist_spec.NUMBER_KEYS.items():
            if key in raw and not isinstance(raw[key], list):
                yield Parameter(f"{path}.{key}", kind, _si(raw[key], kind, model.time_unit))


def _si(value: Any, kind: Kind, time_unit: str) -> float:
    if kind == "rate":
        return parse_rate(value, time_unit)
    if kind == "duration":
        return parse_duration(value, time_unit)
    return value
