"""Phase-type distributions over whole arrays of points: one ``PH(alpha[p], T[p])`` per
point, their matrix exponentials and quantiles in batched numpy (the experiments fast
path evaluates thousands of end-to-end response-time laws at once). One distribution at
a time is :class:`.phase_type.PhaseType`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaincinv

_PADE13 = np.array([64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                    1187353796428800.0, 129060195264000.0, 10559470521600.0, 670442572800.0,
                    33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0])
_THETA13 = 5.371920351148152
_NEWTON_STEPS = 100
_RTOL = 1e-12


def expm(a: NDArray) -> NDArray:
    """``exp(A)`` of every matrix in a stack ``[..., m, m]``: Padé-13 with scaling and
    squaring (Higham 2005), in batched ``numpy.matmul``.

    >>> float(expm(np.array([[[-2.0]]]))[0, 0, 0]) == float(np.exp(-2.0))
    True
    """
    norm = np.abs(a).sum(axis=-2).max(axis=-1)
    with np.errstate(divide="ignore"):
        s = np.maximum(0, np.ceil(np.log2(norm / _THETA13))).astype(int)
    a = a / (2.0 ** s)[..., None, None]
    eye = np.broadcast_to(np.eye(a.shape[-1]), a.shape)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    b = _PADE13
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
             + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + \
        b[0] * eye
    r = np.linalg.solve(v - u, v + u)
    for i in range(int(s.max(initial=0))):
        r = np.where((i < s)[..., None, None], r @ r, r)
    return r


def ph_quantiles(alpha: NDArray, t_matrix: NDArray, probs: tuple[float, ...]) -> NDArray:
    """Quantiles ``[P, len(probs)]`` of phase-type distributions ``PH(alpha[p], T[p])``
    (no atom at zero): safeguarded Newton on ``log P(X > t)`` inside a Markov bracket,
    all points at once, to a relative 1e-12 in the survival function.

    >>> a, t = np.array([[1.0]]), np.array([[[-2.0]]])           # exponential, rate 2
    >>> ph_quantiles(a, t, (0.5,)).round(9).tolist()             # ln 2 / 2
    [[0.34657359]]
    """
    ones = np.ones(alpha.shape[:1] + t_matrix.shape[-1:])
    exits = -(t_matrix @ ones[..., None])[..., 0]
    first = np.linalg.solve(-np.swapaxes(t_matrix, -1, -2), alpha[..., None])[..., 0]
    mean = first.sum(axis=-1)
    second = 2.0 * np.linalg.solve(-np.swapaxes(t_matrix, -1, -2), first[..., None])[..., 0] \
        .sum(axis=-1)
    out = np.empty(alpha.shape[:1] + (len(probs),))
    for j, p in enumerate(probs):
        out[:, j] = _ph_quantile(alpha, t_matrix, exits, mean, second, p)
    return out


def _ph_quantile(alpha: NDArray, t_matrix: NDArray, exits: NDArray, mean: NDArray,
                 second: NDArray, p: float) -> NDArray:
    target = np.log1p(-p)
    lo, hi = np.zeros_like(mean), mean / (1.0 - p)
    shape = mean**2 / np.maximum(second - mean**2, 1e-300)
    t = np.clip(gammaincinv(shape, p) * mean / shape, hi * 1e-6, hi)
    todo = np.ones(mean.shape, dtype=bool)
    for _ in range(_NEWTON_STEPS):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        e = expm(t_matrix[idx] * t[idx, None, None])
        v = (alpha[idx, None, :] @ e)[:, 0, :]
        surv, dens = v.sum(axis=-1), (v * exits[idx]).sum(axis=-1)
        with np.errstate(divide="ignore"):
            gap = np.log(surv) - target                 # > 0: the quantile lies to the right
        right = gap > 0
        lo[idx] = np.where(right, t[idx], lo[idx])
        hi[idx] = np.where(right, hi[idx], t[idx])
        done = np.abs(gap) <= _RTOL
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(dens > 0, gap * surv / dens, np.inf)
        nxt = t[idx] + step
        inside = (nxt > lo[idx]) & (nxt < hi[idx]) & np.isfinite(nxt)
        middle = np.where(lo[idx] > 0, np.sqrt(lo[idx] * hi[idx]), 0.5 * hi[idx])
        t[idx] = np.where(done, nxt, np.where(inside, nxt, middle))
        todo[idx[done | (np.abs(step) <= _RTOL * t[idx])]] = False
    return t
