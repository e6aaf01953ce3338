"""The analytic solver families that :func:`qmodel.solve` chooses from.

Adding a solver: a module under :mod:`qmodel.solvers.methods` defining a
:class:`~.protocol.Method`, and one line in :data:`REGISTRY`. The order here is the order
of the ``method=`` names in help texts; auto's preference is each method's ``rank``.
"""

from __future__ import annotations

from .methods import amva, batches, bursty, ctmc, mva, resilience
from .methods import open as open_network
from .protocol import Method

REGISTRY: tuple[Method, ...] = (
    open_network.METHOD,
    mva.METHOD,
    amva.METHOD,
    ctmc.METHOD,
    batches.METHOD,
    resilience.METHOD,
    bursty.METHOD,
)


def names() -> tuple[str, ...]:
    """The ``method=`` names of the registered families."""
    return tuple(m.name for m in REGISTRY)
