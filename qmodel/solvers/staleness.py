"""Probabilistically bounded staleness (PBS) of partial quorums: how often a read of R of
N replicas misses the latest write, right after the write commits and ``t`` later.

k-staleness (Bailis et al., "Probabilistically bounded staleness for practical partial
quorums", VLDB 2012, eq. 1): with W replicas holding the write at its commit and the R
replicas of a read a random R of N, the read misses the write with probability
``C(N-W, R) / C(N, R)`` (0 when ``R + W > N``), exactly.

t-visibility (the paper's WARS model): replica ``i`` holds the write ``L_i`` after the
write starts to spread (0 for a replica that has it from the start, as a leader), the
write commits at ``c``, the W-th smallest ``L_i``, and a read issued ``t`` after the
commit is served by replica ``i`` ``D_i`` later; it returns the answers of the R replicas
with the smallest ``D_i`` and is stale when none of them held the write when it served
the read: ``L_i > c + t + D_i`` for all of them. So the read is stale exactly while
``t < tau = min over its R replicas of (L_i - D_i) - c``, and the whole curve
``P(stale at t) = P(tau > t)`` is the survival function of one random time: it is
estimated from draws of independent ``L_i`` and ``D_i`` (their laws, by inverse-transform
sampling), as the paper does; the 95% intervals are binomial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..distributions import Distribution
from ..result_extras import Staleness
from ..results import Estimate
from .numeric_law import phase_type_part
from .open_types import OpenSolution
from .phase_type import PhaseType
from .time_laws import TimeLaw, quantiles, time_law

DRAWS = 100_000
"""Draws of the WARS Monte Carlo: a probability's 95% half-width is at most 0.0031."""

_GRID = 2048  # quantiles per law, interpolated for the draws
_TAIL = 1e-7  # the quantile grid spans the probabilities _TAIL to 1 - _TAIL

Law = PhaseType | TimeLaw | Distribution


def k_staleness(n: int, r: int, w: int) -> float:
    """P(a read of ``r`` of ``n`` replicas misses all ``w`` holding the write), PBS eq. 1.

    >>> round(k_staleness(3, 1, 1), 12), round(k_staleness(3, 2, 1), 12), k_staleness(3, 2, 2)
    (0.666666666667, 0.333333333333, 0.0)
    """
    if not (1 <= r <= n and 1 <= w <= n):
        raise ValueError(f"need 1 <= R, W <= N, got N={n}, R={r}, W={w}")
    return math.comb(n - w, r) / math.comb(n, r)


@dataclass(frozen=True)
class Visibility:
    """Draws of ``tau``, the time after the commit until a read is no longer stale (<= 0:
    never stale); :meth:`p_stale` and :meth:`t_consistent` read them."""

    tau: np.ndarray = field(repr=False)

    @property
    def draws(self) -> int:
        return int(self.tau.size)

    def p_stale(self, t: float) -> tuple[float, float]:
        """P(a read issued ``t`` after the commit is stale) and its 95% half-width."""
        p = float(np.count_nonzero(self.tau > t)) / self.draws
        return p, 1.96 * math.sqrt(max(p * (1 - p), 1.0 / self.draws) / self.draws)

    def t_consistent(self, p: float) -> tuple[float, float, float]:
        """The least ``t`` after which a read is fresh with probability ``p`` (0 when it
        already is at the commit), with a 95% interval from the order statistics."""
        ordered = np.sort(np.maximum(self.tau, 0.0))
        n = self.draws
        spread = 1.96 * math.sqrt(n * p * (1 - p))
        at = [min(max(math.ceil(n * p + d) - 1, 0), n - 1) for d in (0.0, -spread, spread)]
        value, low, high = (float(ordered[i]) for i in at)
        return value, low, high


def t_visibility(reads: Sequence[Law], lags: Sequence[Law | None], r: int, w: int, *,
                 draws: int = DRAWS, seed: int = 0) -> Visibility:
    """The WARS t-visibility of a read quorum ``r`` and write quorum ``w``: per replica
    its read time ``reads[i]`` and its write lag ``lags[i]`` from the start of the write's
    spread (None: it holds the write from the start). Replicas are independent.

    >>> from qmodel.distributions import Exponential
    >>> v = t_visibility([Exponential(1.0)] * 3, [None, Exponential(1.0), Exponential(1.0)],
    ...                  2, 1, draws=20_000)
    >>> v.p_stale(0.0)[0] < 1 / 3 and v.p_stale(1.0)[0] < v.p_stale(0.0)[0]
    True
    """
    n = len(reads)
    if len(lags) != n or not (1 <= r <= n and 1 <= w <= n):
        raise ValueError(f"need as many lags as reads and 1 <= R, W <= N, got N={n}, "
                         f"{len(lags)} lags, R={r}, W={w}")
    rng = np.random.default_rng(seed)
    grids: dict[int, np.ndarray] = {}  # one quantile grid per law (replicas share laws)
    read = np.column_stack([_draw(law, draws, rng, grids) for law in reads])
    lag = np.column_stack([np.zeros(draws) if law is None else _draw(law, draws, rng, grids)
                           for law in lags])
    commit = np.partition(lag, w - 1, axis=1)[:, w - 1]
    fastest = np.argpartition(read, r - 1, axis=1)[:, :r] if r < n else \
        np.broadcast_to(np.arange(n), (draws, n))
    ahead = np.take_along_axis(lag - read, fastest, axis=1).min(axis=1)
    return Visibility(ahead - commit)


def _draw(law: Law, size: int, rng: np.random.Generator, grids: dict[int, np.ndarray]
          ) -> np.ndarray:
    """``size`` draws of ``law``: uniforms through its quantile function (linear between
    ``_GRID`` quantiles from ``_TAIL`` to ``1 - _TAIL``)."""
    if id(law) not in grids:
        part = phase_type_part(law) if isinstance(law, PhaseType) else time_law(law)
        grids[id(law)] = quantiles(part, np.linspace(_TAIL, 1.0 - _TAIL, _GRID), 1e-7)
    grid = grids[id(law)]
    u = rng.random(size)
    x = np.clip((u - _TAIL) / (1.0 - 2 * _TAIL), 0.0, 1.0) * (_GRID - 1)
    i = np.minimum(x.astype(np.intp), _GRID - 2)
    return grid[i] + (x - i) * (grid[i + 1] - grid[i])


WARS_METHOD = f"approximation(PBS WARS, independent replicas, {DRAWS:,} draws)"
_FRACTIONS = (0.0, 0.125, 0.25, 0.5, 1.0)  # of t_999: the times p_stale_at reports


def staleness_of(sol: OpenSolution) -> Staleness | None:
    """The staleness of the network's ``consistency:`` section (None without one): exact
    k-staleness, and the t-visibility from the solved branch laws of the read and write
    forks (of the one class that passes each), at ``t = 0`` and 1/8, 1/4, 1/2 and all
    of ``t_999``."""
    net = sol.network
    rep = net.replication
    if rep is None:
        return None
    n = len(rep.updates)
    r = net.station(rep.read_join).quorum or n
    w = rep.write_quorum
    exact = Estimate(k_staleness(n, r, w), "exact")
    reads = _class_laws(sol, rep.read_fork)
    writes = _class_laws(sol, rep.write_fork)
    if isinstance(reads, str) or isinstance(writes, str):
        why = reads if isinstance(reads, str) else writes
        return Staleness(n, r, w, exact, [], note=f"t-visibility: {why}")
    branches = net.station(rep.write_fork).branches
    lags = [None if u is None else writes[branches.index(u)] for u in rep.updates]
    seen = t_visibility(reads, lags, r, w)
    value, low, high = seen.t_consistent(0.999)
    t_999 = Estimate(value, WARS_METHOD, (low, high))
    at = []
    for t in dict.fromkeys(f * value for f in _FRACTIONS):
        p, half = seen.p_stale(t)
        at.append((t, Estimate(p, WARS_METHOD, (max(p - half, 0.0), min(p + half, 1.0)))))
    return Staleness(n, r, w, exact, at, t_999)


def _class_laws(sol: OpenSolution, fork: str) -> tuple | str:
    """The branch laws of the one class that passes ``fork``, or why there are none."""
    join = sol.network.index[sol.network.station(fork).join]
    per_class = sol.stations[join].extra.get("branch_laws")
    if per_class is None:
        return f"fork {fork} has no solved branch laws ({sol.stations[join].method})"
    laws = [laws for laws in per_class if laws is not None]
    if len(laws) != 1:
        return f"{len(laws)} classes pass fork {fork}; the WARS model takes one"
    return laws[0]
