"""The numeric parameters of a model, addressed by the dotted paths validation errors use.

:func:`catalogue` lists every numeric field of a model — rates, servers, shards, partitions,
consumers, capacities, batch sizes and intervals, routing probabilities, and for every
distribution its ``mean`` and ``cv`` (plus its own numeric keys such as ``k``) — with its
current value in seconds, per second or plain units. :func:`apply` writes values (in those
units) into a copy of the model document, with units, and re-validates it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from .. import distributions
from ..errors import ModelError, Problem
from ..model import dist_spec
from ..model.model import Model, set_path
from ..units import parse_duration, parse_rate

Kind = Literal["rate", "duration", "count", "servers", "probability", "number", "integer"]
Write = Literal["field", "mean", "cv", "route", "shape_cv"]

UNITS: dict[str, str] = {"rate": "1/s", "duration": "s"}
INTEGER_KINDS = ("count", "servers", "integer")

_NODE_FIELDS: dict[str, Kind] = {
    "servers": "servers", "slots": "servers", "capacity": "count", "shards": "count",
    "partitions": "count", "consumers": "count", "batch_size": "count", "tasks": "count",
    "interval": "duration", "rebalance": "duration",
}
_DIST_FIELDS = ("service", "fixed", "per_item", "task_service")
_CLASS_DIST_FIELDS = ("class_service", "class_task_service")
_DIST_KEYS: dict[str, Kind] = {"k": "count", "alpha": "number", "value": "duration",
                               "low": "duration", "high": "duration", "scale": "duration",
                               "rate": "rate"}
_NESTED: dict[str, dict[str, Kind]] = {
    "mlfq": {"levels": "count", "quantum": "duration", "allotment": "duration",
             "boost": "duration"},
    "failures": {"mttf": "duration", "mttr": "duration", "duration": "duration"},
    "rebalance": {"period": "duration", "groups": "count", "threshold": "count"},
}


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
    problems = [Problem(path, _unknown(path, known)) for path in paths if path not in known]
    if problems:
        raise ModelError(problems)
    return {path: known[path] for path in paths}


def _unknown(path: str, known: Mapping[str, Parameter]) -> str:
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
        _write(data, params[path], x, model)
    return Model.from_dict(data, model.base_dir, model.source)


# -- encoding values ----------------------------------------------------------------------

def encode(param: Parameter, x: float) -> Any:
    """A document value for ``x`` (in SI units), with its unit written out."""
    if param.kind == "servers" and math.isinf(x):
        return "inf"
    if param.integer:
        if not float(x).is_integer():
            raise ModelError([Problem(param.path, f"must be a whole number, got {x!r}")])
        return int(x)
    if param.kind == "rate":
        return f"{float(x)!r}/s"
    if param.kind == "duration":
        return f"{float(x)!r}s"
    return float(x)


def _write(data: dict, param: Parameter, x: float, model: Model) -> None:
    value = encode(param, x)
    if param.write == "field":
        set_path(data, param.path, value)
    elif param.write == "route":
        parent, _, target = param.where.rpartition(".")
        route = _get(data, parent)
        if isinstance(route, str):
            set_path(data, parent, {route: 1.0})
        set_path(data, param.where, value)
    elif param.write == "shape_cv":
        shape = _get(data, param.where)
        set_path(data, param.where, {**shape, "cv": value} if isinstance(shape, dict) and
                 "cv" in shape else {"cv": value})
    else:
        set_path(data, param.where, _dist_value(_get(data, param.where), param, x, model))


def _dist_value(current: Any, param: Parameter, x: float, model: Model) -> Any:
    """A distribution spec with a new mean or cv, keeping its form where it can."""
    dist = dist_spec.parse(current, model.time_unit, model.base_dir)
    if param.write == "cv":
        if isinstance(current, dict) and "cv" in current:
            return {**current, "cv": float(x)}
        return {"mean": f"{dist.mean!r}s", "cv": float(x)}
    if not isinstance(current, dict):
        return encode(param, x)
    for key in ("mean", "value"):
        if key in current:
            return {**current, key: encode(param, x)}
    if "rate" in current:
        return {k: v for k, v in current.items() if k != "rate"} | {"mean": encode(param, x)}
    spec = dist.with_mean(x).to_spec()
    return {k: _with_seconds(k, v) for k, v in spec.items()}


def _with_seconds(key: str, value: Any) -> Any:
    if key in dist_spec.MEAN_KEYS and key != "rate":
        return [f"{v!r}s" for v in value] if isinstance(value, list | tuple) else f"{value!r}s"
    return list(value) if isinstance(value, tuple) else value


def _get(data: dict, path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


# -- walking the model ---------------------------------------------------------------------

def _walk(model: Model) -> Iterator[Parameter]:
    spec, doc = model.spec, model.to_dict()
    for name, node in spec.nodes.items():
        base = f"nodes.{name}"
        fields = type(node).model_fields
        for field, kind in _NODE_FIELDS.items():
            if field in fields:
                yield Parameter(f"{base}.{field}", kind, _current(getattr(node, field), kind))
        for field in _DIST_FIELDS:
            if field in fields and getattr(node, field) is not None:
                yield from _dist(f"{base}.{field}", getattr(node, field), doc, model)
        for field in _CLASS_DIST_FIELDS:
            for cls, dist in (getattr(node, field, None) or {}).items():
                yield from _dist(f"{base}.{field}.{cls}", dist, doc, model)
        for field, members in _NESTED.items():
            nested = getattr(node, field, None)
            if not isinstance(nested, BaseModel):  # unset, a bare duration or a list of blocks
                continue
            for key, kind in members.items():
                value = getattr(nested, key)
                if not isinstance(value, list):
                    yield Parameter(f"{base}.{field}.{key}", kind, value)
        if "next" in fields:
            yield from _routes(f"{base}.next", node.next)
            for cls, route in node.class_next.items():
                yield from _routes(f"{base}.class_next.{cls}", route)
    for name, cls in spec.arrivals.items():
        base = f"arrivals.{name}"
        yield Parameter(f"{base}.rate", "rate", cls.rate)
        yield Parameter(f"{base}.priority", "integer", cls.priority)
        yield from _routes(f"{base}.to", cls.to)
        shape = model.network.job_class(name).interarrival_scv ** 0.5
        yield Parameter(f"{base}.interarrival.cv", "number", shape, "shape_cv",
                        f"{base}.interarrival")
    for name, cls in spec.users.items():
        base = f"users.{name}"
        yield Parameter(f"{base}.population", "count", cls.population)
        yield Parameter(f"{base}.priority", "integer", cls.priority)
        yield from _routes(f"{base}.to", cls.to)
        if cls.think_time is not None:
            yield from _dist(f"{base}.think_time", cls.think_time, doc, model)
    for name, cls in spec.batches.items():
        base = f"batches.{name}"
        yield Parameter(f"{base}.size", "count", cls.size)
        yield Parameter(f"{base}.priority", "integer", cls.priority)
        yield from _routes(f"{base}.to", cls.to)


def _current(value: Any, kind: Kind) -> float | None:
    if kind == "servers" and value is None:
        return math.inf
    return value if value is None or isinstance(value, (int, float)) else None


def _routes(base: str, route: dict[str, float]) -> Iterator[Parameter]:
    for target, p in route.items():
        yield Parameter(f"{base}.{target}", "probability", p, "route", f"{base}.{target}")


def _dist(path: str, dist: distributions.Distribution, doc: dict,
          model: Model) -> Iterator[Parameter]:
    yield Parameter(path, "duration", dist.mean, "mean", path)
    yield Parameter(f"{path}.mean", "duration", dist.mean, "mean", path)
    yield Parameter(f"{path}.cv", "number", math.sqrt(dist.scv), "cv", path)
    raw = _get(doc, path)
    if isinstance(raw, dict):
        for key, kind in _DIST_KEYS.items():
            if key in raw and not isinstance(raw[key], list):
                yield Parameter(f"{path}.{key}", kind, _si(raw[key], kind, model.time_unit))


def _si(value: Any, kind: Kind, time_unit: str) -> float:
    if kind == "rate":
        return parse_rate(value, time_unit)
    if kind == "duration":
        return parse_duration(value, time_unit)
    return value
