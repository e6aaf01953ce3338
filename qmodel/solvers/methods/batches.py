"""``batches``: batch arrivals are a transient; only a makespan lower bound is known."""

from __future__ import annotations

from ...model.network import Network
from .. import batches
from ..protocol import Method


def supports(network: Network) -> str | None:
    """None when the model has batch classes."""
    return None if network.batch_classes else "the model has no batch classes"


METHOD = Method("batches", "a lower bound on the makespan of batch arrivals, a transient",
                rank=0, supports=supports, solve=batches.solve, exclusive=True)
