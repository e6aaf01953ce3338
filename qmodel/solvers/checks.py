"""Argument checks shared by the solver functions: a bad number is a ``ValueError`` that
names the argument.

>>> positive("mu", 2)
2.0
>>> non_negative("lam", -1)
Traceback (most recent call last):
...
ValueError: lam must be a finite number >= 0, got -1.0
"""

from __future__ import annotations

import math


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
