"""``batches``: batch arrivals are a transient; only a makespan lower bound is known."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import Method

if TYPE_CHECKING:
    from ...model.network import Network
    from ...results import Result


def supports(network: Network) -> str | None:
    """None when the model has batch classes."""
    return None if network.batch_classes else "the model has no batch classes"


def solve(network: Network) -> Result:
    """The makespan lower bound (:func:`..batches.solve`)."""
    from .. import batches

    return batches.solve(network)


METHOD = Method("batches", "a lower bound on the makespan of batch arrivals, a transient",
                rank=0, supports=supports, solve=solve, exclusive=True)
