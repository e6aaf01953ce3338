"""The verdicts of ``qmodel validate --shape``: a measured series against simulated ones.

Three numbers describe a run through a load change: the highest p95 of a bin (``peak
p95``), the time from the load coming back to p95 being back near its steady value
(``recovery``, :func:`qmodel.sim.timeseries.recovery_of`, so None when the load does not
come back), and the largest time-average number in system of a bin (``queue peak``).
Each is taken from the one measured run and from each simulated replication alone (the
prediction is their mean: a single run's highest bin is compared with single runs'
highest bins, not with the highest bin of an average).

A criterion passes when the measured value is within its tolerance of the prediction:
15% for the peaks, 20% or 2 bins for the recovery (the issue's criteria), widened to two
standard deviations of a single run's value when the run's own noise is larger (the
replications' spread, times sqrt(1 + 1/replications) for the prediction's own error),
so that a short spike does not fail a correct model by chance; the report says which
bound applied.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from qmodel.model.network import Network
from qmodel.sim.timeseries import recovery_of

PEAK_TOLERANCE = 0.15
RECOVERY_TOLERANCE = 0.20
RECOVERY_BINS = 2
NOISE_SDS = 2.0
WITHIN = 0.10  # p95 back within 10% of its steady value (the simulation's default)


def run_metrics(network: Network, frame: pd.DataFrame) -> dict[str, float | None]:
    """The peak p95, recovery and queue peak of one run's series (``frame``: one row per
    bin with ``rate_per_s``, ``in_system`` and ``p95_response_s``).

    >>> from qmodel.model.model import Model
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
    ...     "arrivals": {"web": {"to": "app", "rate": {"profile": "spike", "base": "50/s",
    ...                  "peak": "150/s", "at": "2s", "duration": "1s", "length": "5s"}}}})
    >>> f = pd.DataFrame({"time_s": [0., 1, 2, 3, 4], "end_s": [1., 2, 3, 4, 5],
    ...     "rate_per_s": [50., 50, 150, 50, 50], "in_system": [1., 1, 30, 9, 1],
    ...     "p95_response_s": [.06, .06, .4, .3, .065]})
    >>> run_metrics(m.network, f)
    {'peak_p95_s': 0.4, 'recovery_s': 2.0, 'queue_peak': 30.0}
    """
    recovery = recovery_of(network, frame, WITHIN)
    p95 = frame["p95_response_s"].to_numpy(dtype=float)
    return {"peak_p95_s": float(np.nanmax(p95)) if np.isfinite(p95).any() else None,
            "recovery_s": recovery.get("recovery_s") if recovery else None,
            "queue_peak": float(np.nanmax(frame["in_system"].to_numpy(dtype=float)))}


@dataclass
class Criterion:
    """One criterion: the measured value, the prediction (the mean over replications)
    with the 2.5-97.5% range of single replications, the tolerance that applied and
    why, and the verdict (None: not applicable, e.g. no recovery after a step)."""

    name: str
    metric: str
    measured: float | None
    predicted: float | None
    single_low: float | None
    single_high: float | None
    tolerance: float | None
    rule: str
    passed: bool | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


RULES = (("peak p95", "peak_p95_s", PEAK_TOLERANCE, 0),
         ("recovery", "recovery_s", RECOVERY_TOLERANCE, RECOVERY_BINS),
         ("queue peak", "queue_peak", PEAK_TOLERANCE, 0))


def compare(measured: dict[str, float | None], singles: list[dict[str, float | None]],
            bin_s: float) -> list[Criterion]:
    """The three criteria for a measured run against simulated single runs.

    >>> singles = [{"peak_p95_s": p, "recovery_s": 4.0, "queue_peak": 100.0 + p}
    ...            for p in (1.0, 1.05, 1.1, 1.15)]
    >>> c = compare({"peak_p95_s": 1.2, "recovery_s": 7.0, "queue_peak": 102.0}, singles, 1.0)
    >>> [(x.name, x.passed, x.rule) for x in c]  # doctest: +NORMALIZE_WHITESPACE
    [('peak p95', True, '15%'), ('recovery', False, '2 bins'), ('queue peak', True, '15%')]
    """
    out = []
    for name, metric, relative, bins in RULES:
        values = np.array([s[metric] for s in singles if s[metric] is not None], float)
        value = measured[metric]
        if not len(values) or len(values) < len(singles) / 2:
            rule = "n/a: the load does not come back, or the model does not recover"
            out.append(Criterion(name, metric, value, None, None, None, None, rule, None))
            continue
        predicted = float(values.mean())
        bounds = {f"{relative:.0%}": relative * abs(predicted)}
        if bins:
            bounds[f"{bins} bins"] = bins * bin_s
        if len(values) > 1:
            noise = NOISE_SDS * float(values.std(ddof=1)) * math.sqrt(1 + 1 / len(values))
            bounds[f"{NOISE_SDS:g} sd of a single run"] = noise
        rule = max(bounds, key=bounds.get)
        tolerance = bounds[rule]
        passed = value is not None and abs(value - predicted) <= tolerance
        low, high = np.percentile(values, [2.5, 97.5])
        out.append(Criterion(name, metric, value, predicted, float(low), float(high),
                             tolerance, rule, bool(passed)))
    return out
