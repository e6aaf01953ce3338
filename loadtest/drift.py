"""Drift over a soak run: does latency or memory grow while the model says steady?

Each series (a bin's mean and p95 response time, the system's resident memory) gets a
least-squares line over time; its slope has a Student-t 95% interval from the
regression's standard error. A series **drifts** when the interval lies above zero (the
growth is not noise) and the line grows by more than ``threshold`` of its starting value
over the run (the growth matters). The bins of a steady run are close to independent
once they are much longer than the response times, which the interval assumes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

THRESHOLD = 0.10
"""Growth over the run, as a share of the fitted start, that counts as drift."""
MIN_POINTS = 4


@dataclass(frozen=True)
class Trend:
    """The fitted line of one series: its value at the run's start (``start``, in
    ``unit``), its slope per hour with a 95% interval, the growth over the run as a
    share of ``start`` (``change``), and whether that is ``drifting``."""

    name: str
    unit: str
    points: int
    start: float
    slope_per_h: float
    slope_ci_per_h: tuple[float, float]
    change: float
    drifting: bool

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["slope_ci_per_h"] = list(self.slope_ci_per_h)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}

    def __str__(self) -> str:
        verdict = "DRIFTING" if self.drifting else "steady"
        low, high = self.slope_ci_per_h
        return (f"{self.name}: {verdict}, {self.change:+.1%} over the run "
                f"(slope {self.slope_per_h:+.4g} {self.unit}/h, 95% {low:+.4g}..{high:+.4g})")


def trend(times_s: np.ndarray, values: np.ndarray, name: str, unit: str,
          threshold: float = THRESHOLD) -> Trend | None:
    """The trend of ``values`` observed at ``times_s`` (seconds from the run's start);
    None with fewer than :data:`MIN_POINTS` finite points.

    >>> t = np.arange(10.0)
    >>> str(trend(t, 1.0 + 0.1 * t, "mean response", "s"))
    'mean response: DRIFTING, +90.0% over the run (slope +360 s/h, 95% +360..+360)'
    >>> trend(t, np.tile([1.0, 1.1], 5), "memory", "MB").drifting
    False
    """
    from scipy.special import stdtrit
    from scipy.stats import linregress

    times_s, values = np.asarray(times_s, float), np.asarray(values, float)
    keep = np.isfinite(times_s) & np.isfinite(values)
    t, y = times_s[keep], values[keep]
    if len(t) < MIN_POINTS or np.ptp(t) == 0:
        return None
    fit = linregress(t, y)
    half = float(stdtrit(len(t) - 2, 0.975)) * fit.stderr
    start = fit.intercept + fit.slope * t[0]
    grown = fit.slope * (t[-1] - t[0])
    change = grown / start if start > 0 else math.inf if grown > 0 else 0.0
    drifting = bool(fit.slope - half > 0 and change > threshold)
    return Trend(name, unit, int(len(t)), float(start), float(fit.slope * 3600),
                 (float((fit.slope - half) * 3600), float((fit.slope + half) * 3600)),
                 float(change), drifting)
