"""The one error hierarchy of qmodel.

Every error a user can cause derives from :class:`QModelError`, so the CLI and the
dashboard catch exactly one type at their boundary and print its message.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass

MAX_SHOWN = 80
"""The longest echo of a user's value in a message (longer ones are cut with ``...``)."""
MAX_MESSAGE = 1000
"""The longest problem message; a longer one is cut (a safety net behind :func:`shown`)."""

_ECHO = reprlib.Repr()
_ECHO.maxlevel, _ECHO.maxdict, _ECHO.maxlist, _ECHO.maxtuple, _ECHO.maxset = 3, 4, 6, 6, 6
_ECHO.maxstring = _ECHO.maxother = MAX_SHOWN
_ECHO.maxlong = 40
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def shown(value: object) -> str:
    """A user's value as a message echoes it: its repr, bounded in length and depth, with
    control characters escaped (a repr of a 9^9-element alias bomb stays short).

    >>> shown("20ms"), shown("9" * 200)[:12], len(shown("9" * 200)), shown([[[[[1]]]]])
    ("'20ms'", "'99999999999", 80, '[[[[...]]]]')
    """
    return escape_control(_ECHO.repr(value))


def escape_control(text: str) -> str:
    r"""``text`` with control and bidirectional-override characters written as escapes, so
    that printing it cannot move the cursor, clear a terminal or reorder a line.

    >>> escape_control("app\x1b[2J")
    'app\\x1b[2J'
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _bounded(text: str, limit: int) -> str:
    text = escape_control(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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

    Paths and messages are kept printable: control characters escaped, length bounded.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = [Problem(_bounded(p.path, MAX_SHOWN * 2), _bounded(p.message, MAX_MESSAGE))
                         for p in problems]
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self):
        return (ModelError, (self.problems,))


class FieldError(QModelError, ValueError):
    """A problem in one field of a nested spec (a distribution, an SLO); ``field`` is
    relative to the spec, and the model parser puts the spec's own path in front of it.

    It is a :class:`ValueError` too, so that a schema validator may raise it.

    ``others`` holds more problems of the same spec found at once, as (field, message).

    >>> str(FieldError("k", "is required"))
    'k: is required'
    """

    def __init__(self, field: str, message: str, others: tuple[tuple[str, str], ...] = ()):
        self.field = field
        self.message = message
        self.others = tuple(others)
        super().__init__(f"{field}: {message}" if field else message)

    def __reduce__(self):
        return (FieldError, (self.field, self.message, self.others))


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
