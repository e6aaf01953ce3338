"""Bursty arrivals: a two-state Markov-modulated Poisson process (MMPP-2).

``interarrival: {dist: mmpp2, ratio: R, sojourns: [T1, T2]}`` on an open class: arrivals
are Poisson at rate λ1 while a background chain is in state 1 (mean stay ``T1``) and at
λ2 = R·λ1 in state 2 (mean stay ``T2``); λ1 is set so that the long-run rate is the
class's ``rate``. Unlike a renewal shape ({cv: 2}), consecutive gaps are correlated:
bursts. ``{dist: mmpp2, cv: C, lag1: A}`` fits the process to what a trace measures
instead: the gaps' cv and their lag-1 autocorrelation (:mod:`.mmpp_fit`). The simulator
models it anywhere; ``qmodel solve`` on one queue (method ``qbd``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import FieldError, shown
from ..units import parse_duration


@dataclass(frozen=True)
class MMPP2:
    """Arrival rates ``rates`` (per second) in states 1 and 2, and the rates ``switch`` of
    leaving each state (1/mean stay).

    >>> m = MMPP2((5.0, 50.0), (0.1, 1.0))
    >>> round(m.mean_rate, 6), round(m.scv, 3), m.is_exponential
    (9.090909, 2.287, False)
    """

    rates: tuple[float, float]
    switch: tuple[float, float]
    name: ClassVar[str] = "mmpp2"

    @property
    def stationary(self) -> np.ndarray:
        """The long-run share of time in each state."""
        r1, r2 = self.switch
        return np.array([r2, r1]) / (r1 + r2)

    @property
    def mean_rate(self) -> float:
        return float(self.stationary @ np.array(self.rates))

    @property
    def mean(self) -> float:
        """The mean gap, 1 / mean rate."""
        return 1.0 / self.mean_rate

    @property
    def generators(self) -> tuple[np.ndarray, np.ndarray]:
        """The MAP matrices (D0, D1): transitions without and with an arrival."""
        (l1, l2), (r1, r2) = self.rates, self.switch
        d1 = np.diag([l1, l2])
        return np.array([[-(l1 + r1), r1], [r2, -(l2 + r2)]]), d1

    def _at_arrival(self) -> tuple[np.ndarray, np.ndarray]:
        """The phase just after an arrival (stationary), and (-D0)^-1."""
        d0, d1 = self.generators
        at_arrival = self.stationary @ d1
        return at_arrival / at_arrival.sum(), np.linalg.inv(-d0)

    def moment(self, k: int) -> float:
        """E[gap^k] = k! alpha (-D0)^-k 1, alpha the phase just after an arrival."""
        alpha, inverse = self._at_arrival()
        return float(math.factorial(k) * alpha @ np.linalg.matrix_power(inverse, k)
                     @ np.ones(2))

    @property
    def scv(self) -> float:
        """The squared coefficient of variation of a gap (the gaps are correlated)."""
        return self.moment(2) / self.moment(1) ** 2 - 1

    @property
    def lag1(self) -> float:
        """The autocorrelation of consecutive gaps: (E[X0 X1] - E[X]²) / Var X, with
        E[X0 X1] = alpha (-D0)^-1 P (-D0)^-1 1 and P = (-D0)^-1 D1."""
        alpha, inverse = self._at_arrival()
        _, d1 = self.generators
        ones = np.ones(2)
        m1, m2 = self.moment(1), self.moment(2)
        joint = alpha @ inverse @ (inverse @ d1) @ inverse @ ones
        return float((joint - m1 * m1) / (m2 - m1 * m1))

    @property
    def is_exponential(self) -> bool:
        return False


def parse(spec: dict[str, Any], rate: float, time_unit: str = "s") -> MMPP2:
    """The MMPP-2 of a ``{dist: mmpp2, ratio, sojourns}`` mapping with long-run ``rate``.

    >>> m = parse({"dist": "mmpp2", "ratio": 10, "sojourns": ["10s", "1s"]}, 9.090909090909)
    >>> [round(x, 6) for x in m.rates], m.switch
    ([5.0, 50.0], (0.1, 1.0))
    """
    fitted = [key for key in ("cv", "lag1") if key in spec]
    if fitted and ("ratio" in spec or "sojourns" in spec):
        raise FieldError(fitted[0], "give either ratio and sojourns, or cv and lag1, not both")
    if fitted:
        return _fitted(spec, rate)
    for key in spec:
        if key not in ("dist", "ratio", "sojourns"):
            raise FieldError(str(key), "unknown key for mmpp2; allowed: ratio and sojourns, "
                                       "or cv and lag1")
    for key in ("ratio", "sojourns"):
        if key not in spec:
            raise FieldError(key, "is required for mmpp2")
    ratio = spec["ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0:
        raise FieldError("ratio", f"must be a positive number (state 2's rate over state "
                                  f"1's), got {shown(ratio)}")
    stays = spec["sojourns"]
    if not isinstance(stays, list) or len(stays) != 2:
        raise FieldError("sojourns", f"must be two mean stays [T1, T2], got {shown(stays)}")
    times = []
    for i, value in enumerate(stays):
        try:
            times.append(parse_duration(value, time_unit))
        except ValueError as exc:
            raise FieldError(f"sojourns.{i}", str(exc)) from None
        if times[-1] <= 0:
            raise FieldError(f"sojourns.{i}", f"must be a positive duration, got {shown(value)}")
    t1, t2 = times
    low = rate * (t1 + t2) / (t1 + ratio * t2)
    return MMPP2((low, ratio * low), (1.0 / t1, 1.0 / t2))


def _fitted(spec: dict[str, Any], rate: float) -> MMPP2:
    """``{dist: mmpp2, cv, lag1}``: the process fitted to the gaps' cv and lag-1
    autocorrelation (:mod:`.mmpp_fit`)."""
    from .mmpp_fit import fit_mmpp2

    for key in spec:
        if key not in ("dist", "cv", "lag1"):
            raise FieldError(str(key), "unknown key for mmpp2 with cv and lag1")
    values = []
    for key in ("cv", "lag1"):
        if key not in spec:
            raise FieldError(key, "is required for mmpp2 with cv and lag1")
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(key, f"must be a number, got {shown(value)}")
        values.append(float(value))
    try:
        return fit_mmpp2(rate, *values)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise FieldError(field, message) from None

