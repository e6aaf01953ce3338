"""An MMPP-2 from the statistics a trace gives: the gaps' cv and their lag-1
autocorrelation (the mean comes from the class's rate).

An MMPP-2 has four parameters; a mean, a cv and a lag-1 autocorrelation fix three. The
fourth is fixed by the gaps' law: it is the balanced two-phase hyperexponential that
``{cv: c}`` gives (:func:`qmodel.distributions.fit`, Whitt's usual choice), so its third
moment is that distribution's, and the fitted process has exactly the gaps of ``{cv: c}``,
now correlated. Three moments and the lag-1 autocorrelation determine a second-order MAP
(Bodrog, Heindl, Horváth & Telek 2008); the four equations are solved numerically
(scipy's least squares in log parameters, from a fixed list of starts).

An MMPP-2's gaps are more variable than Poisson's (cv > 1) and their lag-1
autocorrelation lies in (0, (1 - 1/cv²)/2) (Heindl, Mitchell & van de Liefvoort 2006);
values outside are refused with the limit.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from ..distributions import HyperExponential
from .mmpp import MMPP2

TOLERANCE = 1e-9
STARTS = 64
MAX_CV = 1000.0


def lag1_limit(scv: float) -> float:
    """The supremum of an MMPP-2's lag-1 autocorrelation at gap SCV ``scv``.

    >>> lag1_limit(4.0)
    0.375
    """
    return (1.0 - 1.0 / scv) / 2.0


def fit_mmpp2(rate: float, cv: float, lag1: float) -> MMPP2:
    """The MMPP-2 of long-run ``rate`` whose gaps have the law of ``{cv: cv}`` and lag-1
    autocorrelation ``lag1``; ``ValueError`` (with the limits) when none exists.

    >>> m = fit_mmpp2(50.0, 2.0, 0.2)
    >>> round(m.mean_rate, 6), round(m.scv, 6), round(m.lag1, 6)
    (50.0, 4.0, 0.2)
    """
    if cv > MAX_CV:
        raise ValueError(f"cv: at most {MAX_CV:g} (gaps a thousand times their mean apart "
                         f"are burstier than any trace), got {cv:g}")
    if not (math.isfinite(cv) and cv > 1):
        hint = f" (for uncorrelated gaps give {{cv: {cv:g}}})" if math.isfinite(cv) else ""
        raise ValueError(f"cv: an MMPP-2's gaps vary more than Poisson's: must be above 1, "
                         f"got {cv:g}{hint}")
    limit = lag1_limit(cv * cv)
    if not (math.isfinite(lag1) and 0 < lag1 < limit):
        raise ValueError(f"lag1: must be between 0 and {limit:.6g} for cv {cv:g} (an "
                         f"MMPP-2's lag-1 autocorrelation is below (1 - 1/cv²)/2), got {lag1:g}")
    (l1, l2), (r1, r2) = _unit_fit(round(cv, 12), round(lag1, 12))
    return MMPP2((l1 * rate, l2 * rate), (r1 * rate, r2 * rate))


@cache
def _unit_fit(cv: float, lag1: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The fit at mean gap 1 (rates scale with the class's rate), slow state first."""
    from scipy.optimize import least_squares  # only models with a fitted MMPP-2 need it

    scv = cv * cv
    third = HyperExponential.balanced(1.0, scv).third_moment

    def residuals(x: np.ndarray) -> list[float]:
        process = MMPP2((math.exp(x[0]), math.exp(x[1])), (math.exp(x[2]), math.exp(x[3])))
        m1 = process.moment(1)
        return [math.log(m1), math.log(process.moment(2) / (m1 * m1 * (scv + 1))),
                math.log(process.moment(3) / (m1**3 * third)), 10 * (process.lag1 - lag1)]

    starts = np.random.default_rng(20261208).normal(0.0, 2.0, (STARTS, 4))
    for x0 in starts:
        with np.errstate(all="ignore"):
            try:
                found = least_squares(residuals, x0, xtol=1e-15, ftol=1e-15, gtol=1e-15)
            except (ValueError, np.linalg.LinAlgError, OverflowError):
                continue
        if found.success and np.max(np.abs(found.fun)) < TOLERANCE:
            l1, l2, r1, r2 = (float(v) for v in np.exp(found.x))
            if l1 > l2:  # the slow state first
                l1, l2, r1, r2 = l2, l1, r2, r1
            return (l1, l2), (r1, r2)
    raise ValueError(f"lag1: no MMPP-2 found with cv {cv:g} and lag-1 autocorrelation "
                     f"{lag1:g} (the limit is {lag1_limit(scv):.6g}); try a lower lag1")
