"""End-to-end response time of a job's walk through stations."""

from __future__ import annotations

import numpy as np

from .ph_compose import network, network_moments
from .phase_type import PhaseType, fit_two_moments

FULL_PH_LIMIT = 64


def is_full_walk(phs: list) -> bool:
    """Whether :func:`walk_distribution` gives the full phase-type (at most
    :data:`FULL_PH_LIMIT` phases in all) rather than a two-moment fit."""
    return sum(p.n_phases for p in phs) <= FULL_PH_LIMIT


def walk_distribution(phs: list, entry: np.ndarray,
                      routing: np.ndarray) -> tuple[PhaseType, bool]:
    """The time of a walk where each visit is an independent draw of its station's
    distribution; returns it and whether it is the full phase-type (``True``) or a
    two-moment fit of exact moments (for walks over more than 64 phases in all).

    ``phs`` holds :class:`PhaseType` objects, or response-time laws that give
    ``n_phases``, ``mean()``, ``moment(2)`` and, for short walks, ``phase_type()``
    (:class:`~qmodel.solvers.mmc.MMcResponse`): long walks need only moments.

    >>> from qmodel.solvers.phase_type import exponential
    >>> d, full = walk_distribution([exponential(2.0)], np.array([1.0]), np.zeros((1, 1)))
    >>> round(d.mean(), 6), full
    (0.5, True)
    """
    if is_full_walk(phs):
        return network([as_phase_type(p) for p in phs], entry, routing), True
    means = np.array([p.mean() for p in phs])
    second = np.array([p.moment(2) for p in phs])
    mean, var = network_moments(means, second, entry, routing)
    return fit_two_moments(mean, var / mean**2 if mean > 0 else 1.0), False


def as_phase_type(law) -> PhaseType:
    """A :class:`PhaseType` itself, or the one a response-time law stands for."""
    return law if isinstance(law, PhaseType) else law.phase_type()
