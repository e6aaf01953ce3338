"""``amva``: closed networks by Bard–Schweitzer approximate MVA, only when named."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...results import Result
from ..protocol import Method
from .mva import closed

if TYPE_CHECKING:
    from ...model.network import Network


def solve(network: Network) -> Result:
    """Bard–Schweitzer approximate MVA (mixed MVA when there are open classes too)."""
    from .. import closed_network

    return closed_network.solve(network, approximate=True)


def auto(network: Network) -> str | None:
    """Always a reason: auto uses exact MVA instead."""
    return "only when named: auto uses exact MVA, which approximates by itself for large " \
           "populations"


METHOD = Method("amva", "Bard–Schweitzer approximate MVA for closed networks", rank=30,
                supports=closed, solve=solve, auto=auto)
