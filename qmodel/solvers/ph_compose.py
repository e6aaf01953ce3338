"""Phase-type distributions built from others: sums (:func:`convolve`), order statistics
of independent PHs (:func:`order_statistic`), and the time of a walk through stations,
each visit an independent draw of its station's PH (:func:`network`, or only its moments
for long walks, :func:`network_moments`).

Sources: M. F. Neuts, *Matrix-Geometric Solutions in Stochastic Models* (1981); H. C.
Tijms, *A First Course in Stochastic Models* (2003).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.linalg import splu

from qmodel.solvers.phase_type import PhaseType

_TOL = 1e-9


def convolve(a: PhaseType, b: PhaseType) -> PhaseType:
    """The sum of independent ``a`` and ``b``.

    >>> from qmodel.solvers.phase_type import exponential
    >>> convolve(exponential(1.0), exponential(2.0)).mean()
    1.5
    """
    n_a = a.n_phases
    alpha = np.concatenate([a.alpha, a.atom * b.alpha])
    T = sla.block_diag(a.T, b.T)
    T[:n_a, n_a:] = np.outer(a.exit_rates, b.alpha)
    return PhaseType(alpha, T)


def order_statistic(phs: Sequence[PhaseType], r: int) -> PhaseType:
    """The ``r``-th smallest of independent PHs: the maximum for ``r = len(phs)``, the
    minimum for ``r = 1`` (a fork-join job, a quorum of ``r`` answers).

    The phases are the tuples of the PHs' phases (or "ended") with fewer than ``r``
    ended, each PH moving on its own; :func:`order_statistic_phases` counts them.

    >>> from qmodel.solvers.phase_type import exponential
    >>> order_statistic([exponential(1.0)] * 2, 2).mean()  # 1/2 + 1
    1.5
    >>> round(order_statistic([exponential(1.0), exponential(2.0)], 1).mean(), 12)  # Exp(3)
    0.333333333333
    """
    if not 1 <= r <= len(phs):
        raise ValueError(f"need 1 <= r <= {len(phs)} (the number of PHs), got {r}")
    index = {s: j for j, s in enumerate(_live_tuples([ph.n_phases for ph in phs], r))}
    starts = [np.append(ph.alpha, ph.atom) for ph in phs]  # last: ended at once
    alpha, T = np.zeros(len(index)), np.zeros((len(index), len(index)))
    for s, j in index.items():
        alpha[j] = math.prod(start[p] for start, p in zip(starts, s))
        for i, (ph, p) in enumerate(zip(phs, s)):
            if p == ph.n_phases:
                continue
            T[j, j] += ph.T[p, p]
            moves = np.append(ph.T[p], ph.exit_rates[p])  # to phase q, or ended
            for q in np.flatnonzero(moves):
                k = index.get(s[:i] + (int(q),) + s[i + 1:])
                if q != p and k is not None:  # not in the index: the r-th end, absorbed
                    T[j, k] += moves[q]
    return PhaseType(alpha, T)


def order_statistic_phases(sizes: Sequence[int], r: int) -> int:
    """Phases of :func:`order_statistic` of PHs with ``sizes`` phases, before building it.

    >>> order_statistic_phases([2, 2, 2], 2)  # none ended: 2^3; one of 3 ended: 3 * 2^2
    20
    """
    counts = [1]  # counts[k]: tuples so far with k ended, the coefficients of prod(n + x)
    for n in sizes:
        counts = [n * a + b for a, b in zip([*counts, 0], [0, *counts])]
    return sum(counts[:r])


def network(phs: Sequence[PhaseType], entry: ArrayLike, routing: ArrayLike) -> PhaseType:
    """Total time of a random walk through stations, as one block PH.

    The walk starts at station ``i`` with probability ``entry[i]`` (leftover: it never
    starts, an atom at zero), spends an independent sample of ``phs[i]`` there, then
    moves to ``j`` with ``routing[i, j]`` or leaves with ``1 - sum_j routing[i, j]``.
    Stations whose PH has an atom at zero are passed instantly. The result has
    ``sum(ph.n_phases)`` phases: past :data:`MAX_EXACT_PHASES`, prefer
    :func:`network_moments` with :func:`fit_two_moments`.

    >>> from qmodel.solvers.phase_type import exponential
    >>> tandem = network([exponential(1.0), exponential(2.0)], [1.0, 0.0], [[0, 1], [0, 0]])
    >>> tandem.mean(), tandem.n_phases
    (1.5, 2)
    >>> loop = network([exponential(1.0)], [1.0], [[0.5]])  # geometric number of visits
    >>> round(loop.mean(), 12), round(loop.scv(), 12)        # it is exponential(0.5)
    (2.0, 1.0)
    """
    m = len(phs)
    entry_arr, routing_csr = _check_walk(entry, routing, m)
    P = routing_csr.toarray()
    atoms = np.array([ph.atom for ph in phs])
    try:
        skip = np.linalg.inv(np.eye(m) - atoms[:, None] * P)  # instant passes through atoms
    except np.linalg.LinAlgError as exc:
        raise ValueError("the walk can loop forever through zero-time stations") from exc
    sizes = [ph.n_phases for ph in phs]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    enter = np.zeros((m, starts[-1]))  # station -> first-phase distribution
    leave = np.zeros((starts[-1], m))  # phase -> exit rate into the station's column
    for i, ph in enumerate(phs):
        enter[i, starts[i] : starts[i + 1]] = ph.alpha
        leave[starts[i] : starts[i + 1], i] = ph.exit_rates
    alpha = entry_arr @ skip @ enter
    T = sla.block_diag(*[ph.T for ph in phs]) + leave @ (P @ skip) @ enter
    return PhaseType(alpha, np.asarray(T).reshape(alpha.size, alpha.size))


def network_moments(
    means: ArrayLike, second_moments: ArrayLike, entry: ArrayLike, routing: ArrayLike
) -> tuple[float, float]:
    """Exact mean and variance of the :func:`network` total time, from station moments.

    Two sparse solves with ``I - routing``; ``routing`` may be a dense array or a
    ``scipy.sparse`` matrix (hundreds of stations take about a millisecond). Pair the
    result with :func:`fit_two_moments` when the full PH would exceed
    :data:`MAX_EXACT_PHASES` phases.

    The variance is assembled from per-station variances (never as ``E[X^2] - E[X]^2``
    of the total), so it stays accurate for long, low-variability walks.

    >>> network_moments([1.0, 0.5], [2.0, 0.5], [1.0, 0.0], [[0, 1], [0, 0]])
    (1.5, 1.25)
    """
    s1 = np.asarray(means, dtype=float)
    s2 = np.asarray(second_moments, dtype=float)
    if s1.shape != s2.shape or s1.ndim != 1 or np.any(s1 < 0) or np.any(s2 < s1**2 * (1 - _TOL)):
        raise ValueError("means and second moments must be 1-D, >= 0, with E[S^2] >= E[S]^2")
    entry_arr, P = _check_walk(entry, routing, s1.size)
    try:
        lu = splu(sp.csc_matrix(sp.identity(s1.size) - P))
    except RuntimeError as exc:
        raise ValueError("the walk never leaves: I - routing is singular") from exc
    m = lu.solve(s1)  # mean remaining time from each station
    spread = _routing_variance(P, m)
    v = lu.solve(np.maximum(s2 - s1**2, 0.0) + spread)  # variance of remaining time
    mean = float(entry_arr @ m)
    start_spread = float(entry_arr @ (m - mean) ** 2 + (1 - entry_arr.sum()) * mean**2)
    return mean, float(entry_arr @ v) + start_spread


def _routing_variance(P: sp.csr_matrix, m: NDArray) -> NDArray:
    """Per row ``i``: variance of ``m[next station]`` (0 when leaving) under ``P[i]``."""
    nxt = P @ m
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    within = np.bincount(rows, P.data * (m[P.indices] - nxt[rows]) ** 2, minlength=P.shape[0])
    leave = 1.0 - np.asarray(P.sum(axis=1)).ravel()
    return within + np.maximum(leave, 0.0) * nxt**2


def _live_tuples(sizes: Sequence[int], r: int) -> list[tuple[int, ...]]:
    """Tuples of phases, phase ``n`` meaning ended for a PH of ``n`` phases, with fewer
    than ``r`` ended."""
    tuples: list[tuple[tuple[int, ...], int]] = [((), 0)]
    for n in sizes:
        tuples = [(s + (p,), ended + (p == n)) for s, ended in tuples for p in range(n + 1)
                  if ended + (p == n) < r]
    return [s for s, _ in tuples]


def _check_walk(entry: ArrayLike, routing: ArrayLike, m: int) -> tuple[NDArray, sp.csr_matrix]:
    """Validated entry vector and routing as CSR (sparse input is never densified)."""
    entry_arr = np.asarray(entry, dtype=float)
    P = sp.csr_matrix(routing, dtype=float)
    if entry_arr.shape != (m,) or P.shape != (m, m):
        raise ValueError(f"entry must have length {m} and routing shape ({m}, {m})")
    if np.any(entry_arr < 0) or entry_arr.sum() > 1 + _TOL:
        raise ValueError("entry probabilities must be >= 0 and sum to at most 1")
    if np.any(P.data < 0) or np.any(P.sum(axis=1) > 1 + _TOL):
        raise ValueError("routing probabilities must be >= 0 with row sums at most 1")
    return entry_arr, P
