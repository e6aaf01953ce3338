"""Erlang C and M/M/c response-time quantiles over whole arrays of operating points.

Erlang B is evaluated in log space through the regularized upper incomplete gamma
function, ``sum_{k<=c} a^k/k! = e^a Q(c+1, a)``, so it is stable for any number of
servers (tens of thousands) and needs no loop over ``c``:

    log B(c, a) = c log a - a - log c! - log Q(c+1, a),
    C(c, a) = B / (1 - rho (1 - B)),   rho = a / c.

Sources: Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory* (4th ed.,
2008), M/M/c; Abramowitz & Stegun 6.5.13 (the Poisson sum as an incomplete gamma).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaincc, gammaln, xlogy

_BISECTIONS = 64


def log_erlang_b(c: ArrayLike, a: ArrayLike) -> NDArray:
    """Natural log of the Erlang B blocking probability of ``c`` servers offered ``a``.

    >>> float(np.exp(log_erlang_b(10, 5.0))).__round__(6)      # Erlang-B tables: 0.018385
    0.018385
    """
    c, a = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(a, dtype=float))
    with np.errstate(divide="ignore"):
        return xlogy(c, a) - a - gammaln(c + 1.0) - np.log(gammaincc(c + 1.0, a))


def erlang_c(c: ArrayLike, a: ArrayLike) -> NDArray:
    """Erlang C probability of waiting in M/M/c, element-wise; NaN where ``a >= c``
    (unstable).

    >>> erlang_c([3, 1, 2], [2.0, 0.5, 2.0]).round(12)        # 4/9, rho, unstable
    array([0.44444444, 0.5       ,        nan])
    """
    c, a = np.broadcast_arrays(np.asarray(c, dtype=float), np.asarray(a, dtype=float))
    stable = a < c
    rho = np.where(stable, a / np.where(c > 0, c, 1.0), np.nan)
    b = np.exp(log_erlang_b(c, a))
    with np.errstate(invalid="ignore"):
        out = b / (1.0 - rho * (1.0 - b))
    return np.where(stable, np.minimum(out, 1.0), np.nan)


def mmc_survival(t: ArrayLike, p_wait: ArrayLike, mu: ArrayLike, theta: ArrayLike) -> NDArray:
    """``P(R > t)`` of an M/M/c FCFS response time: wait ``Exp(theta)`` with probability
    ``p_wait`` (``theta = c mu - lam``), then serve ``Exp(mu)``.

    Written as ``e^{-mu t} + C mu t e^{-min(mu, theta) t} phi(|theta - mu| t)`` with
    ``phi(y) = (1 - e^{-y}) / y``: no cancellation when ``theta`` is close to ``mu`` and no
    overflow far in the tail.

    >>> float(mmc_survival(1.0, 0.0, 2.0, 5.0)) == float(np.exp(-2.0))
    True
    """
    t, p_wait, mu, theta = (np.asarray(v, dtype=float) for v in (t, p_wait, mu, theta))
    y = np.abs(theta - mu) * t
    small = y < 1e-8
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(small, 1.0 - y / 2, -np.expm1(-y) / np.where(small, 1.0, y))
    return np.exp(-mu * t) + p_wait * mu * t * np.exp(-np.minimum(mu, theta) * t) * phi


def mmc_quantile(p: float, p_wait: ArrayLike, mu: ArrayLike, theta: ArrayLike) -> NDArray:
    """The ``p`` quantile of the M/M/c response time for every element (log-scale
    bisection inside a bracket, to full double precision); NaN where the station is
    unstable (``theta <= 0``) or an input is NaN.

    >>> round(float(mmc_quantile(0.95, 1.0 / 2, 2.0, 1.0)), 9)  # M/M/1 lam=1 mu=2: -ln .05
    2.995732274
    """
    p_wait, mu, theta = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                              for v in (p_wait, mu, theta)))
    bad = ~((theta > 0) & (mu > 0) & (p_wait >= 0))
    theta, mu = np.where(bad, 1.0, theta), np.where(bad, 1.0, mu)
    target = 1.0 - p
    lo = -np.log(target) / mu                      # the service time alone
    hi = -np.log(target) / np.minimum(mu, theta) * 2.0 + lo
    for _ in range(_BISECTIONS):                   # grow hi until it brackets
        short = mmc_survival(hi, p_wait, mu, theta) > target
        if not short.any():
            break
        hi = np.where(short, hi * 2.0, hi)
    for _ in range(_BISECTIONS):
        mid = np.sqrt(lo * hi)
        above = mmc_survival(mid, p_wait, mu, theta) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return np.where(bad, np.nan, np.sqrt(lo * hi))


# -- phase-type distributions, one per point ----------------------------------------------

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
    from scipy.special import gammaincinv

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
