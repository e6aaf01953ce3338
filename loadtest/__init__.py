"""Load testing of qmodel's predictions: a real reference system, locust, and a harness
that compares measurements with the model.

``loadtest`` imports ``qmodel``; ``qmodel`` never imports ``loadtest`` or locust. Locust
runs in its own process (see :mod:`loadtest.loadgen`). The harness is
:func:`loadtest.validate.validate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .report import ValidationReport

__all__ = ["ValidationReport"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``import loadtest.locustfile`` stays light inside locust's process.
    if name == "ValidationReport":
        from .report import ValidationReport
        return ValidationReport
    raise AttributeError(name)
