"""``ctmc``: the explicit Markov chain, exact for small Markovian open networks; auto uses
it where product form is not exact (buffers that reject, or block under PS or LCFS-PR)."""

from __future__ import annotations

from ...model.network import Network
from .. import ctmc_adapter
from ..protocol import Method


def supports(network: Network) -> str | None:
    """None when the network is one open Markovian class (:func:`ctmc_adapter.markovian`)."""
    return ctmc_adapter.markovian(network) or None


def auto(network: Network) -> str | None:
    """None when a finite buffer makes the chain worth building."""
    if ctmc_adapter.preferred(network):
        return None
    return "no buffer rejects jobs or blocks under ps or lcfs-pr: product form is exact"


METHOD = Method("ctmc", "explicit Markov chain for small Markovian models with finite buffers",
                rank=10, supports=supports, solve=ctmc_adapter.solve, auto=auto)
