"""The numeric fields of a model document that the Model page lets a user edit in place.

Paths are the document's own (``nodes.app.servers``, ``nodes.app.service`` or
``nodes.app.service.mean``), so an edit is a ``Model.with_changes`` override in the syntax
of ``qmodel solve --set``; values stay as the file writes them (``25ms``, ``200/s``, ``8``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["count", "duration", "rate"]

_COUNTS = ("servers", "shards", "partitions", "consumers", "capacity", "batch_size", "tasks",
           "slots", "population", "size")
_DURATIONS = ("service", "interval", "fixed", "per_item", "task_service", "think_time")


@dataclass(frozen=True)
class Param:
    """One editable number: where it is, what it is, its value as written."""

    path: str
    kind: Kind
    value: Any


def parameters(doc: dict) -> list[Param]:
    """The numeric fields of a model document (``Model.to_dict()``), in file order."""
    out: list[Param] = []
    for name, cls in (doc.get("arrivals") or {}).items():
        out.append(Param(f"arrivals.{name}.rate", "rate", cls.get("rate")))
    for name, cls in (doc.get("users") or {}).items():
        out.extend(_fields(f"users.{name}", cls))
    for name, cls in (doc.get("batches") or {}).items():
        out.extend(_fields(f"batches.{name}", cls))
    for name, node in (doc.get("nodes") or {}).items():
        out.extend(_fields(f"nodes.{name}", node))
    return [p for p in out if p.value is not None]


def _fields(prefix: str, entry: dict) -> list[Param]:
    out = []
    for key, value in entry.items():
        if key in _COUNTS and isinstance(value, int) and not isinstance(value, bool):
            out.append(Param(f"{prefix}.{key}", "count", value))
        elif key in _DURATIONS and isinstance(value, (int, float, str)):
            out.append(Param(f"{prefix}.{key}", "duration", value))
        elif key in _DURATIONS and isinstance(value, dict) and "mean" in value:
            out.append(Param(f"{prefix}.{key}.mean", "duration", value["mean"]))
    return out
