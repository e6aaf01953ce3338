"""Parts of qmodel that land separately (simulator, experiments, load tests), looked up
when a page needs them, so that each page works with what exists."""

from __future__ import annotations

import importlib
from typing import Any


def find(module: str, name: str) -> Any | None:
    """``module.name``, or None when it cannot be imported (yet)."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except Exception:  # a missing or half-installed optional part is not an error here
        return None
