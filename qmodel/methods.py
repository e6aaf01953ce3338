"""The one ``method=`` vocabulary of :func:`qmodel.solve`, :func:`qmodel.simulate` and
:func:`qmodel.sweep` (and of the CLI's ``--method``).

- analytic methods: the solver families of :mod:`qmodel.solvers.registry`
  (``open``, ``mva``, ``amva``, ``ctmc``, ``batches``);
- simulation engines: ``simpy`` (every feature) and ``fast`` (numba, simple networks);
- groups: ``auto`` (the best that applies), ``analytic`` and ``simulate`` (for sweeps,
  which also take an analytic method by name).

Also :func:`qmodel.plan`'s ``search=`` names (:data:`SEARCHES`). Reading these names loads
no solver (see :mod:`qmodel.solvers.registry`), so the CLI's help costs no scipy.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import QModelError
from .solvers import registry

AUTO = "auto"
ANALYTIC = registry.names()
SIMULATION = ("simpy", "fast")
GROUPS = ("analytic", "simulate")

SOLVE = (AUTO, *ANALYTIC)
SIMULATE = (AUTO, *SIMULATION)
SWEEP = (AUTO, *GROUPS, *ANALYTIC)
SEARCHES = (AUTO, "brute", "best-first")


def check(method: str, choices: Sequence[str]) -> None:
    """Raise :class:`QModelError` naming the valid ``choices`` unless ``method`` is one.

    >>> check("magic", SIMULATE)
    Traceback (most recent call last):
    ...
    qmodel.errors.QModelError: method must be one of auto, simpy, fast, got 'magic'
    """
    if method not in choices:
        raise QModelError(unknown(method, choices))


def unknown(method: str, choices: Sequence[str]) -> str:
    """The message for a ``method`` that is not one of ``choices``."""
    return f"method must be one of {', '.join(choices)}, got {method!r}"


def help_text(choices: Sequence[str]) -> str:
    """The CLI's ``--method`` help: the choices, each analytic one with its description.

    >>> help_text(SIMULATE)
    'One of auto, simpy, fast.'
    """
    described = {m.name: f"{m.name} ({m.description})" for m in registry.REGISTRY}
    return f"One of {', '.join(described.get(c, c) for c in choices)}."
