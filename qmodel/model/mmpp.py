"""Bursty arrivals: a two-state Markov-modulated Poisson process (MMPP-2).

``interarrival: {dist: mmpp2, ratio: R, sojourns: [T1, T2]}`` on an open class: arrivals
are Poisson at rate λ1 while a background chain is in state 1 (mean stay ``T1``) and at
λ2 = R·λ1 in state 2 (mean stay ``T2``); λ1 is set so that the long-run rate is the
class's ``rate``. Unlike a renewal shape ({cv: 2}), consecutive gaps are correlated:
bursts. Only simulation models it; analytic solvers say so.
"""

from __future__ import annotations

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

    @property
    def scv(self) -> float:
        """The squared coefficient of variation of a gap (the gaps are correlated)."""
        d0, d1 = self.generators
        at_arrival = self.stationary @ d1
        alpha = at_arrival / at_arrival.sum()
        inverse = np.linalg.inv(-d0)
        m1 = alpha @ inverse @ np.ones(2)
        m2 = 2 * alpha @ inverse @ inverse @ np.ones(2)
        return float(m2 / m1**2 - 1)

    @property
    def is_exponential(self) -> bool:
        return False


def parse(spec: dict[str, Any], rate: float, time_unit: str = "s") -> MMPP2:
    """The MMPP-2 of a ``{dist: mmpp2, ratio, sojourns}`` mapping with long-run ``rate``.

    >>> m = parse({"dist": "mmpp2", "ratio": 10, "sojourns": ["10s", "1s"]}, 9.090909090909)
    >>> [round(x, 6) for x in m.rates], m.switch
    ([5.0, 50.0], (0.1, 1.0))
    """
    for key in spec:
        if key not in ("dist", "ratio", "sojourns"):
            raise FieldError(str(key), "unknown key for mmpp2; allowed: ratio, sojourns")
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
