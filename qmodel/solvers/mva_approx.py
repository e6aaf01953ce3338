"""Approximate MVA: the Bard-Schweitzer fixed point for large populations (solved by
Newton's method with a line search) and Seidmann's multi-server approximation, which
splits a ``c``-server queue into a single-server queue and a delay.

References: Schweitzer 1979 and Bard 1979 (approximate MVA); Seidmann, Schweitzer &
Shalev-Oren, Large Scale Systems 12, 1987 (multi-server approximation).
"""

from __future__ import annotations

import numpy as np

from qmodel.errors import UnsupportedError
from qmodel.solvers.mva_inputs import MVANetwork

SEIDMANN = "approximation(Seidmann)"
SCHWEITZER = "approximation(Bard-Schweitzer)"

_MAX_NEWTON = 100
_MAX_NOISE = 1e-6  # coarsest residual accepted when rounding hides a finer one


def multi_server(net: MVANetwork) -> np.ndarray:
    """Queues with several servers that some class with jobs visits."""
    used = (net.demands[net.population > 0] > 0).any(0)
    return ~net.delay & (net.servers > 1) & used


def never_queueing_as_delay(net: MVANetwork) -> MVANetwork:
    """A queue with at least as many servers as jobs in the network is a delay."""
    roomy = ~net.delay & (net.servers >= max(int(net.population.sum()), 1))
    return MVANetwork(net.demands, net.delay | roomy, net.population, net.think, net.servers)


def seidmann_split(net: MVANetwork, multi: np.ndarray) -> np.ndarray:
    """Seidmann's split of the ``M`` stations in ``multi``, shape (K, K + M): a
    ``c``-server queue with demand ``D`` becomes a single-server queue with ``D/c`` plus
    a delay with ``D (c-1)/c``."""
    k = net.delay.size
    c = np.where(multi, net.servers, 1).astype(float)
    split = np.zeros((k, k + np.count_nonzero(multi)))
    split[np.arange(k), np.arange(k)] = 1 / c
    split[np.flatnonzero(multi), k + np.arange(np.count_nonzero(multi))] = (c - 1)[multi] / c[multi]
    return split


def seidmann(net: MVANetwork, multi: np.ndarray) -> tuple[MVANetwork, np.ndarray]:
    """The network after Seidmann's split and the (K + M, K) matrix folding its stations
    back."""
    split = seidmann_split(net, multi)
    added = split.shape[1] - net.delay.size
    expanded = MVANetwork(
        net.demands @ split,
        np.concatenate([net.delay, np.ones(added, dtype=bool)]),
        net.population,
        net.think,
        np.ones(split.shape[1], dtype=np.int64),
    )
    return expanded, (split > 0).T.astype(float)


def schweitzer(net: MVANetwork, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve the Bard-Schweitzer fixed point for the throughputs ``y`` by Newton's method.

    With ``a_ck = y_c D_ck / N_c`` the per-station equations have the closed form
    ``R_ck = D_ck / ((1 - U_k)(1 + a_ck))``, ``U_k = sum_c y_c D_ck / (1 + a_ck)`` (a
    queue is feasible while ``U_k < 1``), leaving ``log(y_c (Z_c + R_c) / N_c) = 0``
    for the ``C`` throughputs.
    """
    queue = ~net.delay
    d = net.demands[:, queue]
    n = net.population.astype(float)
    z = net.think + net.demands[:, net.delay].sum(1)
    y = n / (z + d.sum(1))
    while np.any(_slack(d, n, y) < 0.5):
        y = y / 2
    state = _schweitzer_state(d, n, z, y)
    for _ in range(_MAX_NEWTON):
        residual, jacobian, r_queue, noise = state
        if np.max(np.abs(residual)) <= max(tol, noise):
            break
        y, state = _newton_line_search(d, n, z, y, np.linalg.solve(jacobian, residual), state)
    else:
        raise UnsupportedError("schweitzer_amva", "the fixed-point iteration did not converge")
    residence = net.demands.copy()
    residence[:, queue] = r_queue
    return n / (net.think + residence.sum(1)), residence


def _newton_line_search(
    d: np.ndarray, n: np.ndarray, z: np.ndarray, y: np.ndarray, step: np.ndarray, state: tuple
) -> tuple[np.ndarray, tuple]:
    """Halve the Newton step until the point is feasible and the residual shrinks."""
    size = np.max(np.abs(state[0]))
    lam = 1.0
    while lam > 1e-12:
        trial = y - lam * step
        if np.all(trial > 0):
            new = _schweitzer_state(d, n, z, trial)
            if new is not None and np.max(np.abs(new[0])) < (1 - 1e-4 * lam) * size:
                return trial, new
        lam /= 2
    raise UnsupportedError(
        "schweitzer_amva",
        "the Newton iteration stalled (populations beyond about 10**8 exceed double precision)",
    )


def _schweitzer_state(d: np.ndarray, n: np.ndarray, z: np.ndarray, y: np.ndarray) -> tuple | None:
    """Residual, Jacobian, queue residence times and the residual's rounding noise at
    throughputs ``y``, or None when some queue would be saturated.

    Near saturation ``1 - U_k`` loses digits, so the residual cannot be computed more
    precisely than about ``eps / min_k (1 - U_k)`` (``~ eps * N``).
    """
    slack = _slack(d, n, y)
    if np.any(slack <= 0):
        return None
    a = y[:, None] * d / n[:, None]
    r = d / (slack * (1 + a))
    total = z + r.sum(1)
    residual = np.log(y * total / n)
    du = d / (1 + a) ** 2  # d U_k / d y_j, shape (C, K)
    cross = (d / ((1 + a) * slack**2)) @ du.T
    own = (d**2 / (n[:, None] * slack * (1 + a) ** 2)).sum(1)
    jacobian = (cross - np.diag(own)) / total[:, None] + np.diag(1 / y)
    noise = min(64 * np.finfo(float).eps / slack.min(initial=1.0), _MAX_NOISE)
    return residual, jacobian, r, noise


def _slack(d: np.ndarray, n: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``1 - U_k`` of each queue at throughputs ``y``."""
    return 1 - (y[:, None] * d / (1 + y[:, None] * d / n[:, None])).sum(0)
