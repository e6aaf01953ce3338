"""The shape every analytic solver family shares, as :func:`qmodel.solve` sees it.

A family is one :class:`Method` value, defined in its own module under
:mod:`qmodel.solvers.methods` and listed once in :mod:`qmodel.solvers.registry`. A frozen
dataclass of plain functions rather than a class hierarchy: a family's module keeps its
functions, registering is listing a value, and a test can build a method in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..model.network import BEHAVIOURS, Network
from ..results import Result


def anywhere(network: Network) -> str | None:
    """The default :attr:`Method.auto`: auto may use the method wherever it applies."""
    return None


@dataclass(frozen=True)
class Method:
    """One analytic solver family.

    Attributes
    ----------
    name : its ``method=`` spelling.
    description : one line for help texts.
    rank : ``method="auto"`` tries the methods in increasing rank (exact and cheap first).
    supports : why it cannot solve a network, or None when it can.
    solve : the :class:`~qmodel.results.Result` of a network it supports; may raise
        :class:`~qmodel.errors.UnsupportedError` or :class:`~qmodel.errors.UnstableError`,
        after which auto tries the next method.
    auto : why auto passes it over although it supports the network (None: auto may use it).
    exclusive : when it supports a network no other method applies, whichever is named
        (batch arrivals: a transient has no steady state to solve for).
    behaviours : the client and held-thread behaviours it models
        (:data:`~qmodel.model.network.BEHAVIOURS`); a network with any other is not
        offered to ``supports``.
    bursty : it models MMPP-2 arrivals (correlated gaps); a network with them is not
        offered to a method without (a renewal approximation would drop the correlation).
    """

    name: str
    description: str
    rank: int
    supports: Callable[[Network], str | None]
    solve: Callable[[Network], Result]
    auto: Callable[[Network], str | None] = anywhere
    exclusive: bool = False
    behaviours: frozenset[str] = frozenset()
    bursty: bool = False

    def refusal(self, network: Network) -> str | None:
        """Why it cannot solve ``network``: a behaviour or MMPP-2 arrivals it does not
        model, or :attr:`supports`'s reason (None when it can)."""
        missing = sorted(network.behaviours - self.behaviours)
        if missing:
            return f"it does not model {', '.join(BEHAVIOURS[b] for b in missing)}"
        bursty = bursty_classes(network)
        if bursty and not self.bursty:
            return (f"arrivals.{bursty[0]}.interarrival is an MMPP-2 (correlated gaps), "
                    "which it does not model")
        return self.supports(network)


def bursty_classes(network: Network) -> list[str]:
    """The open classes whose arrivals are an MMPP-2."""
    return [c.name for c in network.open_classes
            if c.interarrival is not None and c.interarrival.name == "mmpp2"]
