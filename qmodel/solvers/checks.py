"""Argument checks shared by the solver functions: a bad number is a ``ValueError`` that
names the argument; a saturated station is an :class:`~qmodel.errors.UnstableError`.

>>> positive("mu", 2)
2.0
>>> non_negative("lam", -1)
Traceback (most recent call last):
...
ValueError: lam must be a finite number >= 0, got -1.0
"""

from __future__ import annotations

import math

from qmodel.errors import UnstableError


def positive(name: str, x: float) -> float:
    """``x`` as a float if it is finite and > 0, else a ``ValueError`` naming ``name``."""
    x = float(x)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {x}")
    return x


def non_negative(name: str, x: float) -> float:
    """``x`` as a float if it is finite and >= 0, else a ``ValueError`` naming ``name``."""
    x = float(x)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {x}")
    return x


def servers(c: int) -> int:
    """``c`` as an int if it is an integer >= 1 (a server count or a capacity), else a
    ``ValueError``."""
    if isinstance(c, bool) or not float(c).is_integer() or c < 1:
        raise ValueError(f"server counts and capacities must be integers >= 1, got {c}")
    return int(c)


def check_stable(rho: float) -> None:
    """Raise :class:`~qmodel.errors.UnstableError` when the load per server ``rho >= 1``."""
    if rho >= 1.0:
        raise UnstableError(rho)
