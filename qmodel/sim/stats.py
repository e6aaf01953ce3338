"""Statistics of a simulation run: bounded sample stores, MSER-5 warm-up, confidence intervals.

Memory never grows with the number of simulated customers:

- :class:`SampleStore` keeps a systematic subsample of a stream of observations: every
  observation while there are fewer than :data:`SAMPLE_CAP`, then every 2nd, 4th, … (each
  time the store fills up it drops every other kept value and doubles its stride). The
  kept values are evenly spread over the run, so quantiles of the kept values estimate
  the quantiles of the whole stream, and the values after a warm-up cut are a suffix.
- :class:`BatchSeries` keeps the means of consecutive batches of 5 observations for MSER;
  when it holds :data:`MAX_BATCHES` means it merges neighbours (batches of 10, 20, …).
"""

from __future__ import annotations

import math
from array import array
from functools import cache

import numpy as np
from scipy.special import stdtrit

SAMPLE_CAP = 1 << 16
MAX_BATCHES = 1 << 16
MSER_BATCH = 5


class SampleStore:
    """A systematic subsample of at most :data:`SAMPLE_CAP` values of a stream.

    Observation number ``i`` (from 0) is kept when ``i % stride == 0``; ``stride`` is a
    power of two that doubles whenever the store fills up.

    >>> s = SampleStore(cap=4)
    >>> for x in range(10):
    ...     s.add(float(x))
    >>> list(s.values), s.stride, s.seen
    ([0.0, 4.0, 8.0], 4, 10)
    """

    __slots__ = ("values", "stride", "mask", "seen", "cap")

    def __init__(self, cap: int = SAMPLE_CAP):
        self.values = array("d")
        self.stride = 1
        self.mask = 0
        self.seen = 0
        self.cap = cap

    def add(self, x: float) -> None:
        """Observe ``x`` (hot loops inline this: count, test the mask, append, thin)."""
        i = self.seen
        self.seen = i + 1
        if not i & self.mask:
            self.values.append(x)
            if len(self.values) >= self.cap:
                self.thin()

    def thin(self) -> None:
        self.values = self.values[::2]
        self.stride *= 2
        self.mask = self.stride - 1

    def after(self, seen: int) -> np.ndarray:
        """The kept values of observations number ``seen`` and later."""
        return np.frombuffer(self.values, dtype=float)[-(-seen // self.stride):].copy()


class BatchSeries:
    """Means of consecutive batches of observations, for MSER (bounded length)."""

    __slots__ = ("means", "size", "total", "count")

    def __init__(self) -> None:
        self.means: list[float] = []
        self.size = MSER_BATCH
        self.total = 0.0
        self.count = 0

    def add(self, x: float) -> None:
        """Observe ``x`` (hot loops inline this: add to total and count, then flush)."""
        self.total += x
        self.count += 1
        if self.count == self.size:
            self.flush()

    def flush(self) -> None:
        self.means.append(self.total / self.size)
        self.total = 0.0
        self.count = 0
        if len(self.means) >= MAX_BATCHES:
            m = self.means
            self.means = [(m[i] + m[i + 1]) / 2 for i in range(0, len(m), 2)]
            self.size *= 2


def mser(means: np.ndarray) -> int:
    """MSER truncation point: the number of leading batch means to delete.

    Minimises the squared standard error of the mean of what remains,
    ``sum((z - mean)**2) / (n - d)**2``, over ``d`` in the first half of the series
    (White 1997). Fewer than 10 means: no deletion.

    >>> mser(np.array([100.0, 50.0] + [1.0, 2.0] * 20))
    2
    """
    z = np.asarray(means, dtype=float)
    n = len(z)
    if n < 10:
        return 0
    tail = z[::-1]
    counts = np.arange(1, n + 1, dtype=float)
    sums = np.cumsum(tail)[::-1]          # sum of z[d:]
    squares = np.cumsum(tail * tail)[::-1]
    remaining = counts[::-1]             # n - d
    sse = squares - sums * sums / remaining
    score = sse / remaining**2
    half = n // 2
    return int(np.argmin(score[:half + 1]))


def mean_ci(values: np.ndarray | list[float]) -> tuple[float, tuple[float, float] | None]:
    """Mean of independent replication values and its Student-t 95% interval.

    >>> m, ci = mean_ci([1.0, 2.0, 3.0])
    >>> m, round(ci[0], 3), round(ci[1], 3)
    (2.0, -0.484, 4.484)
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, None
    m = float(x.mean())
    if len(x) < 2:
        return m, None
    half = _t975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return m, (m - half, m + half)


@cache
def _t975(df: int) -> float:
    # Student's t quantile: what scipy.stats.t.ppf computes, without loading scipy.stats
    return float(stdtrit(df, 0.975))
