"""``ctmc``: the explicit Markov chain, exact for small Markovian open networks; auto uses
it where product form is not exact (buffers that reject, or block under PS or LCFS-PR)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import Method

if TYPE_CHECKING:
    from ...model.network import Network
    from ...results import Result


def supports(network: Network) -> str | None:
    """None when the network is one open Markovian class (:func:`ctmc_adapter.markovian`)."""
    from .. import ctmc_adapter

    return ctmc_adapter.markovian(network) or None


def auto(network: Network) -> str | None:
    """None when a finite buffer makes the chain worth building."""
    from .. import ctmc_adapter

    if ctmc_adapter.preferred(network):
        return None
    return "no buffer rejects jobs or blocks under ps or lcfs-pr: product form is exact"


def solve(network: Network) -> Result:
    """The chain's stationary solution (:func:`ctmc_adapter.solve`)."""
    from .. import ctmc_adapter

    return ctmc_adapter.solve(network)


METHOD = Method("ctmc", "explicit Markov chain for small Markovian models with finite buffers",
                rank=10, supports=supports, solve=solve, auto=auto)
