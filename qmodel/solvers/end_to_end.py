"""End-to-end response time of a job's walk through stations."""

from __future__ import annotations

import numpy as np

from .phase_type import PhaseType, fit_two_moments, network, network_moments

FULL_PH_LIMIT = 64


def walk_distribution(phs: list[PhaseType], entry: np.ndarray,
                      routing: np.ndarray) -> tuple[PhaseType, bool]:
    """The time of a walk where each visit is an independent draw of its station's
    distribution; returns it and whether it is the full phase-type (``True``) or a
    two-moment fit of exact moments (for walks over more than 64 phases in all).

    >>> from qmodel.solvers.phase_type import exponential
    >>> d, full = walk_distribution([exponential(2.0)], np.array([1.0]), np.zeros((1, 1)))
    >>> round(d.mean(), 6), full
    (0.5, True)
    """
    if sum(p.n_phases for p in phs) <= FULL_PH_LIMIT:
        return network(phs, entry, routing), True
    means = np.array([p.mean() for p in phs])
    second = np.array([p.moment(2) for p in phs])
    mean, var = network_moments(means, second, entry, routing)
    return fit_two_moments(mean, var / mean**2 if mean > 0 else 1.0), False
