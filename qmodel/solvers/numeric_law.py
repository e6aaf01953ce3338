"""A response time known by its survival function rather than as a phase-type: the
maximum or the R-th of independent times (fixed, shifted, lognormal, empirical, ...), a
sum of a phase-type and such times. Its moments and quantiles come from the survival
function itself (:mod:`.time_laws`: adaptive Gauss-Legendre integration, bisection),
so the law keeps its shape: a floor, a straggler mode, a bounded support. Where it
must be composed with phase-type laws (a walk through several stations) it stands in
as the two-moment fit of its exact mean and variance, and says so through
:attr:`NumericLaw.exact_composition`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike

from .phase_type import PhaseType, fit_two_moments
from .time_laws import TimeLaw, check_probability, moments, quantiles


class NumericLaw:
    """A non-negative time given by a :class:`~.time_laws.TimeLaw`, with the interface of
    a station's response-time law (``mean``, ``moment``, ``scv``, ``quantile``,
    ``n_phases`` and ``phase_type`` of its two-moment fit).

    >>> from qmodel.distributions import Deterministic
    >>> from qmodel.solvers.time_laws import time_law
    >>> law = NumericLaw(time_law(Deterministic(2.0)))
    >>> round(law.mean(), 12), law.quantile(0.5), round(law.scv(), 12)
    (2.0, 2.0, 0.0)
    """

    exact_composition = False

    def __init__(self, part: TimeLaw):
        self.part = part

    def __repr__(self) -> str:
        return f"NumericLaw(mean={self.mean():.6g}, scv={self.scv():.6g})"

    @cached_property
    def _moments(self) -> tuple[float, float]:
        first, second = moments(self.part, (1, 2))
        return float(first), max(float(second), float(first) ** 2)

    def mean(self) -> float:
        return self._moments[0]

    def moment(self, k: int) -> float:
        """Raw moment ``E[X^k]`` (integrated from the survival function)."""
        if k in (1, 2):
            return self._moments[k - 1]
        return float(moments(self.part, (k,))[0])

    def variance(self) -> float:
        first, second = self._moments
        return max(0.0, second - first**2)

    def scv(self) -> float:
        mean = self.mean()
        return self.variance() / mean**2 if mean > 0 else 0.0

    def sf(self, t: ArrayLike) -> np.ndarray:
        """``P(X > t)``."""
        return self.part.sf(np.asarray(t, dtype=float))

    def quantile(self, p: float) -> float:
        """Smallest ``t`` with ``P(X <= t) >= p``."""
        check_probability(p)
        return float(quantiles(self.part, [p])[0])

    @cached_property
    def _fit(self) -> PhaseType:
        return fit_two_moments(self.mean(), self.scv())

    @property
    def n_phases(self) -> int:
        return self._fit.n_phases

    def phase_type(self) -> PhaseType:
        """The two-moment PH fit used where the law is composed with others."""
        return self._fit


def phase_type_part(ph: PhaseType, cells: int = 1 << 14) -> TimeLaw:
    """A :class:`PhaseType` as a :class:`~.time_laws.TimeLaw`: its survival function
    tabulated on ``cells`` even steps up to its ``1 - 1e-13`` quantile (powers of one
    matrix exponential) and interpolated linearly in its logarithm; 0 beyond.

    >>> from qmodel.solvers.phase_type import exponential
    >>> round(float(phase_type_part(exponential(1.0)).sf(np.array([1.0]))[0]), 9)
    0.367879441
    """
    if ph.n_phases == 0:
        return TimeLaw(lambda t: np.zeros(np.shape(t)), np.empty(0), 1.0)
    end = float(ph.quantile(1.0 - 1e-13))
    step = sla.expm(ph.T * (end / cells))
    rows = ph.alpha[None, :]
    while rows.shape[0] <= cells:
        rows = np.vstack([rows, rows @ step])
        step = step @ step
    logs = np.log(np.maximum(rows[:cells + 1].sum(axis=1), 1e-300))
    grid = np.linspace(0.0, end, cells + 1)

    def sf(t: np.ndarray) -> np.ndarray:
        return np.where(t > end, 0.0, np.exp(np.interp(t, grid, logs)))

    return TimeLaw(sf, np.empty(0), ph.mean() if ph.mean() > 0 else 1.0)
