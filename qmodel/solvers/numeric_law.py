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

import math
from functools import cached_property

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike

from .phase_type import PhaseType, fit_two_moments
from .time_laws import TimeLaw, check_probability, moments, quantiles

_MIN_CELLS = 1 << 10
_MAX_CELLS = 1 << 16
_TAYLOR_TERMS = 14


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


def phase_type_part(ph: PhaseType) -> TimeLaw:
    """A :class:`PhaseType` as a :class:`~.time_laws.TimeLaw`: ``alpha e^(T t_j)`` on even
    steps ``t_j`` up to the ``1 - 1e-13`` quantile (powers of one matrix exponential),
    and between steps the Taylor series of ``e^(T d) 1`` (``|T| d <= 1/2``, 14 terms,
    so the survival function is exact to rounding); 0 beyond.

    >>> from qmodel.solvers.phase_type import exponential
    >>> round(float(phase_type_part(exponential(1.0)).sf(np.array([1.0]))[0]), 12)
    0.367879441171
    """
    if ph.n_phases == 0:
        return TimeLaw(lambda t: np.zeros(np.shape(t)), np.empty(0), 1.0)
    end = float(ph.quantile(1.0 - 1e-13))
    norm = float(np.abs(ph.T).sum(axis=1).max())
    cells = int(min(max(math.ceil(2.0 * end * norm), _MIN_CELLS), _MAX_CELLS))
    h = end / cells
    step = sla.expm(ph.T * h)
    rows = ph.alpha[None, :]
    while rows.shape[0] <= cells:
        rows = np.vstack([rows, rows @ step])
        step = step @ step
    terms = [np.ones(ph.n_phases)]
    for k in range(1, _TAYLOR_TERMS):
        terms.append(ph.T @ terms[-1] / k)
    table = rows[:cells + 1] @ np.stack(terms, axis=1)  # [step, k]: alpha e^(T t_j) T^k 1 / k!

    def sf(t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        j = np.clip(np.floor(t / h), 0, cells).astype(int)
        d = t - j * h
        value = np.zeros(t.shape)
        for k in range(_TAYLOR_TERMS - 1, -1, -1):  # Horner in d
            value = value * d + table[j, k]
        return np.where(t > end, 0.0, np.clip(value, 0.0, 1.0))

    return TimeLaw(sf, np.empty(0), ph.mean() if ph.mean() > 0 else 1.0)
