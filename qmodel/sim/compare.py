"""Side by side: an analytic result against a simulated one."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..results import Result

if TYPE_CHECKING:  # pandas loads when a table is built, not with the simulator
    import pandas as pd

NODE_METRICS = ("throughput", "utilization", "mean_in_system", "mean_wait", "mean_response",
                "p_loss", "p_abandon", "p_balk")
SYSTEM_METRICS = ("throughput", "mean_response_time", "mean_jobs", "loss_probability")
COLUMNS = ["node", "metric", "analytic", "simulated", "ci_low", "ci_high", "rel_diff", "agrees"]


def compare(analytic: Result, simulated: Result, tolerance: float = 0.05) -> pd.DataFrame:
    """One row per node and metric (and ``system``): the analytic value, the simulated mean
    and its 95% interval, the relative difference, and ``agrees``: the analytic value lies
    in the interval or within ``tolerance`` (relative) of the simulated mean. Metrics
    missing on either side are left out.

    >>> from qmodel import Model, solve
    >>> from qmodel.sim import simulate
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "0.5s"}},
    ...                      "arrivals": {"web": {"to": "app", "rate": "1/s"}}})
    >>> table = compare(solve(m), simulate(m, replications=5, customers=5000, seed=3))
    >>> bool(table["agrees"].all()), list(table.columns[:4])
    (True, ['node', 'metric', 'analytic', 'simulated'])
    """
    import pandas as pd

    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    rows = []
    for name, node in analytic.nodes.items():
        if name in simulated.nodes:
            for metric in NODE_METRICS:
                rows.append(_row(name, metric, getattr(node, metric),
                                 getattr(simulated.nodes[name], metric), tolerance))
    for metric in SYSTEM_METRICS:
        rows.append(_row("system", metric, getattr(analytic.system, metric),
                         getattr(simulated.system, metric), tolerance))
    return pd.DataFrame([r for r in rows if r is not None], columns=COLUMNS)


def _row(node: str, metric: str, a, s, tolerance: float) -> list | None:
    if a is None or s is None or not math.isfinite(float(a)):
        return None
    a, value = float(a), float(s)
    low, high = s.ci95 if getattr(s, "ci95", None) is not None else (value, value)
    rel = (value - a) / abs(a) if a else (0.0 if value == 0 else math.inf)
    agrees = low <= a <= high or abs(rel) <= tolerance or (a == 0 and abs(value) <= tolerance)
    return [node, metric, a, value, low, high, rel, bool(agrees)]
