"""The one error hierarchy of qmodel.

Every error a user can cause derives from :class:`QModelError`, so the CLI and the
dashboard catch exactly one type at their boundary and print its message.
"""

from __future__ import annotations

from dataclasses import dataclass


class QModelError(Exception):
    """Base class of every error qmodel reports to a user."""


@dataclass(frozen=True)
class Problem:
    """One problem in a model: the dotted field path and what is wrong with it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ModelError(QModelError):
    """A model is malformed; ``problems`` lists every problem found, each with its path.

    >>> str(ModelError([Problem("nodes.app.servers", "must be a positive integer, got 0")]))
    'nodes.app.servers: must be a positive integer, got 0'
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self):
        return (ModelError, (self.problems,))


class FieldError(QModelError, ValueError):
    """A problem in one field of a nested spec (a distribution, an SLO); ``field`` is
    relative to the spec, and the model parser puts the spec's own path in front of it.

    It is a :class:`ValueError` too, so that a schema validator may raise it.

    >>> str(FieldError("k", "is required"))
    'k: is required'
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def __reduce__(self):
        return (FieldError, (self.field, self.message))


class UnstableError(QModelError):
    """A component is saturated: its utilization is at or above 1.

    ``component`` names it when known; ``utilization`` is the offered load per server.
    """

    def __init__(self, utilization: float, component: str | None = None, detail: str = ""):
        self.utilization = utilization
        self.component = component
        self.detail = detail
        where = f"{component}: " if component else ""
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{where}unstable, utilization {utilization:.4g} >= 1{extra}")

    def __reduce__(self):
        return (UnstableError, (self.utilization, self.component, self.detail))


class UnsupportedError(QModelError):
    """A solver cannot handle a model feature; ``reason`` says which and what to use instead."""

    def __init__(self, solver: str, reason: str):
        self.solver = solver
        self.reason = reason
        super().__init__(f"{solver}: {reason}")

    def __reduce__(self):
        return (UnsupportedError, (self.solver, self.reason))
