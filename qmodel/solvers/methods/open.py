"""``open``: open networks by product form (exact) or QNA, with fork-join and
micro-batch stations (:mod:`..open_network`, result by :mod:`..open_result`)."""

from __future__ import annotations

from ...model.network import Network
from ...results import Result
from ..open_network import solve_open
from ..open_result import open_result
from ..protocol import Method


def supports(network: Network) -> str | None:
    """None when every class is open."""
    return "the model has closed classes; use mva or amva" if network.closed_classes else None


def solve(network: Network) -> Result:
    """The traffic equations, then each station, then the end-to-end metrics."""
    return open_result(solve_open(network))


METHOD = Method("open", "product form, exact, or QNA for open networks", rank=20,
                supports=supports, solve=solve)
