"""The numbers behind the experiment figures: the knee of a sweep curve, the grid of a heat
map and the bars of a tornado chart, computed once here and drawn by both the CLI's
figures (:mod:`.plots`) and the dashboard (``qmodel_ui``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_TORNADO = ["parameter", "value", "low", "high", "metric_low", "metric_high", "swing"]


def knee(x: np.ndarray | pd.Series, y: np.ndarray | pd.Series) -> int | None:
    """Position (in the inputs) of the knee of the curve ``y(x)``; None without one.

    The curve is its finite (stable) points in order of ``x``. Both axes are scaled so that
    its two ends sit at (0, 0) and (1, 1) (the "Kneedle" rule of Satopää et al. 2011), and
    the knee is the point farthest from the chord joining them: where the curve's slope
    equals the chord's. The rule holds for rising and falling, convex and concave curves
    and does not depend on units. For an M/M/1 response time ``1 / (mu - lambda)`` swept
    over ``a <= lambda <= b`` the knee is at ``mu - lambda = sqrt((mu - a) (mu - b))``.
    None for fewer than three finite points or a curve flat in either axis.

    >>> knee(np.arange(6.0), np.array([1.0, 1.1, 1.25, 1.5, 2.2, 6.0]))
    4
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    where = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
    where = where[np.argsort(xs[where], kind="stable")]
    if len(where) < 3:
        return None
    xs, ys = xs[where], ys[where]
    span_x, span_y = xs[-1] - xs[0], ys[-1] - ys[0]
    if span_x == 0 or span_y == 0:
        return None
    distance = np.abs((xs - xs[0]) / span_x - (ys - ys[0]) / span_y)
    return int(where[int(np.argmax(distance))])


def heat_grid(table: pd.DataFrame, x: str, y: str, z: str) -> pd.DataFrame:
    """Column ``z`` of a two-parameter table as a grid: one row per value of ``y``, one
    column per value of ``x``, both ascending; a missing point (or an unstable one's
    metric) is NaN, and no row or column is dropped.

    >>> t = pd.DataFrame({"a": [1, 2, 1, 2], "b": [5, 5, 6, 6], "m": [0.1, 0.2, 0.3, None]})
    >>> heat_grid(t, "a", "b", "m").to_numpy().tolist()
    [[0.1, 0.2], [0.3, nan]]
    """
    return table.pivot_table(index=y, columns=x, values=z, aggfunc="first", dropna=False)


def tornado_bars(table: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """The bars of a tornado chart of a :func:`~qmodel.experiments.sensitivity` table: one
    row per parameter, the widest swing of the metric (``|metric_high - metric_low|``)
    first and parameters without a swing (one side unstable) last; ``top`` keeps the
    first rows. ``attrs`` (metric, base, delta) are kept.

    >>> t = pd.DataFrame({"parameter": ["a", "b", "c"], "value": 1.0, "low": 0.9,
    ...                   "high": 1.1, "metric_low": [1.0, 0.5, 2.0],
    ...                   "metric_high": [1.1, 2.0, None]})
    >>> tornado_bars(t.assign(swing=t["metric_high"] - t["metric_low"]))["parameter"].tolist()
    ['b', 'a', 'c']
    """
    size = table["swing"].abs().to_numpy(dtype=float)
    order = np.argsort(-np.nan_to_num(size, nan=-1.0), kind="stable")
    bars = table.iloc[order][_TORNADO].reset_index(drop=True)
    bars.attrs = dict(table.attrs)
    return bars if top is None else bars.head(top)
