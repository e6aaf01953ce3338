"""Fields of the model format by type, and setting a value at a dotted path.

:func:`set_path` serves ``--set`` and :meth:`Model.with_changes`: it first checks, against
the annotations of :mod:`qmodel.model.spec`, that the path names a node, class and fields
that exist, and says what does exist when it does not. :func:`fields_of` and
:func:`alternatives` read those annotations for the address book (:mod:`qmodel.model.paths`).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, Discriminator, Tag

from ..errors import ModelError, Problem, shown
from . import dist_spec, field_types, spec

SECTIONS = {"nodes": "node", "arrivals": "class", "users": "class", "batches": "class"}
"""The sections of named entries: nodes and the three kinds of classes."""
_DIST = "distribution"
"""The pseudo-type of a distribution mapping: its keys are :data:`dist_spec.KEYS`."""


def set_path(data: dict, path: str, value: Any) -> None:
    """Set ``value`` at a dotted path in a model document; missing leaves are created.

    The path must name fields the format has, under a node or class that exists (a whole
    new node or class may be set): otherwise a :class:`ModelError` at the first part at
    fault says what exists, with the closest name. A distribution written as a bare
    duration (``service: 2ms``, exponential) is opened up to ``{mean: 2ms}`` — the same
    distribution — so ``service.mean`` or ``service.cv`` can be set.

    >>> doc = {"nodes": {"app": {"kind": "queue", "service": "2ms"}}}
    >>> set_path(doc, "nodes.app.service.cv", 0.5); doc["nodes"]["app"]["service"]
    {'mean': '2ms', 'cv': 0.5}
    >>> set_path(doc, "nodes.ap.servers", 4)
    Traceback (most recent call last):
    ...
    qmodel.errors.ModelError: nodes.ap: no node 'ap' (did you mean 'app'?)
    """
    check_path(data, path)
    parts = path.split(".")
    target = data
    for i, part in enumerate(parts[:-1]):
        child = target.get(part) if isinstance(target, dict) else None
        if child is None and isinstance(target, dict):
            child = target[part] = {}
        if isinstance(child, (str, int, float)) and not isinstance(child, bool) \
                and parts[i + 1] in ("mean", "cv"):
            child = target[part] = {"mean": child}
        if not isinstance(child, dict):
            raise ModelError([Problem(".".join(parts[: i + 1]), "is not a mapping; cannot set "
                                                                 f"{path}")])
        target = child
    target[parts[-1]] = value


def check_path(data: dict, path: str) -> None:
    """Raise :class:`ModelError` when ``path`` names a node, class or field that does not
    exist in the model document ``data`` (setting a whole new node or class is allowed)."""
    parts = path.split(".")
    owner: Any = spec.ModelSpec
    doc: Any = data
    i = 0
    while i < len(parts) and owner is not None:
        where = ".".join(parts[:i + 1])
        fields = _DIST_FIELDS if owner is _DIST else fields_of(owner)
        if parts[i] not in fields:
            raise ModelError([Problem(where, _no_field(parts[i], owner, ".".join(parts[:i]),
                                                       doc, fields))])
        if owner is _DIST:
            return
        hint, child = fields[parts[i]], value_at(doc, parts[i])
        i += 1
        if i < len(parts) and owner is spec.ModelSpec and parts[i - 1] in SECTIONS:
            name = parts[i]
            entries = child if isinstance(child, dict) else {}
            if name not in entries:
                if i + 1 < len(parts):
                    raise ModelError([Problem(f"{where}.{name}",
                                              _no_entry(data, parts[i - 1], name))])
                return  # a whole new node or class
            hint, child = get_args(hint)[1], entries[name]
            i += 1
        elif i < len(parts) and get_origin(hint) is dict:  # per-class: any class name
            hint, child = get_args(hint)[1], value_at(child, parts[i])
            i += 1
        owner, doc = _owner(hint, child), child


def _no_entry(data: dict, section: str, name: str) -> str:
    what = SECTIONS[section]
    entries = data.get(section) if isinstance(data.get(section), dict) else {}
    close = difflib.get_close_matches(name, list(entries), n=1)
    if close:
        return f"no {what} {shown(name)} (did you mean {shown(close[0])}?)"
    elsewhere = [other for other in SECTIONS if other != section
                 and isinstance(data.get(other), dict) and name in data[other]]
    if elsewhere:
        return f"no {what} {shown(name)} under {section}; it is under {elsewhere[0]}"
    listed = ", ".join(entries) or "none"
    return f"no {what} {shown(name)}; " + (f"nodes are {listed}" if section == "nodes" else
                                      f"{section} has {listed}")


def _no_field(name: str, owner: Any, parent: str, doc: Any, fields: Mapping) -> str:
    close = difflib.get_close_matches(name, list(fields), n=1)
    hint = f" (did you mean {shown(close[0])}?)" if close else ""
    if owner is _DIST:
        holder = "a distribution"
    elif owner in _NODE_TYPES:
        holder = f"a {doc.get('kind')} node" if isinstance(doc, dict) else "this node"
    else:
        holder = parent or "a model"
    return f"no field {shown(name)}{hint}; {holder} has {', '.join(sorted(fields))}"


_NODE_TYPES = tuple(get_args(get_args(spec.Node)[0]))
NODE_BY_KIND = {get_args(cls.model_fields["kind"].annotation)[0]: cls for cls in _NODE_TYPES}
"""The spec model of each node kind (``queue`` -> :class:`~qmodel.model.spec.QueueNode`)."""
_DIST_FIELDS = dict.fromkeys(dist_spec.KEYS)


def _owner(hint: Any, value: Any) -> Any:
    """The type whose fields the next part of a path names (None: no further checks)."""
    if hint == field_types.Interarrival:
        return _DIST
    if hint == spec.Node:
        return NODE_BY_KIND.get(value.get("kind")) if isinstance(value, dict) else None
    options = alternatives(hint)
    if field_types.Dist in options:
        return _DIST
    models = [t for t in options if isinstance(t, type) and issubclass(t, BaseModel)]
    if len(models) == 1 and not isinstance(value, list):
        return models[0]
    return None


# -- reading the spec's types -------------------------------------------------------------

@cache
def fields_of(owner: type[BaseModel]) -> dict[str, Any]:
    """The fields of a spec model and their annotations (``Annotated`` kept)."""
    hints = get_type_hints(owner, include_extras=True)
    return {name: hints[name] for name in owner.model_fields}


def alternatives(hint: Any) -> list[Any]:
    """The types a field takes: ``X | list[X] | None`` gives ``[X, list[X]]``; a tagged
    union (pydantic's plumbing) is opened up."""
    if get_origin(hint) is Annotated and any(isinstance(m, (Tag, Discriminator))
                                             for m in hint.__metadata__):
        rest = tuple(m for m in hint.__metadata__ if not isinstance(m, (Tag, Discriminator)))
        base = get_args(hint)[0]
        return alternatives(Annotated[(base, *rest)] if rest else base)
    if get_origin(hint) in (Union, types.UnionType):
        return [t for arg in get_args(hint) if arg is not type(None) for t in alternatives(arg)]
    return [hint]


def value_at(data: Any, path: str) -> Any:
    """The value at a dotted path of a document (None when a part is missing)."""
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data
