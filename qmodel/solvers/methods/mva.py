"""``mva``: closed and mixed networks by exact Mean Value Analysis (approximate MVA by
itself for large multi-class populations; mixed MVA with open classes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Result
from ..protocol import Method

if TYPE_CHECKING:
    from ...model.network import Network


def closed(network: Network) -> str | None:
    """None when the model has closed classes (MVA's domain)."""
    return None if network.closed_classes else "the model has only open classes; use open or auto"


def solve(network: Network) -> Result:
    """Exact MVA (:func:`closed_network.solve`)."""
    from .. import closed_network

    return closed_network.solve(network)


METHOD = Method("mva", "exact Mean Value Analysis for closed and mixed networks", rank=20,
                supports=closed, solve=solve)
