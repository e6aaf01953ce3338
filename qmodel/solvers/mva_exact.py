"""Exact MVA of a closed product-form network (Reiser & Lavenberg 1980): the vectorised
single-class recursion, an exact, numerically stable solution for one class with
multi-server stations (load-dependent MVA in log space), and the multi-class recursion
over the population lattice; multi-class networks with multi-server stations use
Seidmann's approximation (:mod:`.mva_approx`).

References: Lazowska, Zahorjan, Graham & Sevcik, *Quantitative System Performance*
(1984), ch. 6-8; Reiser & Lavenberg, J. ACM 27(2), 1980.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import gammaln

from qmodel.errors import UnsupportedError
from qmodel.solvers.mva_approx import SEIDMANN, multi_server, seidmann
from qmodel.solvers.mva_inputs import MVANetwork

MAX_LATTICE = 2_000_000
"""Largest population lattice (product of ``N_c + 1``) exact multi-class MVA walks."""

EXACT = "exact"


def solve_exact(net: MVANetwork) -> tuple[np.ndarray, np.ndarray, str]:
    """Throughputs (C,), residence times (C, K) and method of a validated network."""
    multi = multi_server(net)
    if np.count_nonzero(net.population) <= 1:
        x, residence = on_active_classes(net, _single_class)
        return x, residence, EXACT
    if multi.any():
        expanded, fold = seidmann(net, multi)
        x, residence = on_active_classes(expanded, _lattice_mva)
        return x, residence @ fold, SEIDMANN
    x, residence = on_active_classes(net, _lattice_mva)
    return x, residence, EXACT


def on_active_classes(
    net: MVANetwork, solve: Callable[[MVANetwork], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``solve`` to the classes with jobs; the others get zeros."""
    active = net.population > 0
    x = np.zeros(net.population.size)
    residence = np.zeros(net.demands.shape)
    if active.any():
        sub = MVANetwork(
            net.demands[active], net.delay, net.population[active], net.think[active], net.servers
        )
        x[active], residence[active] = solve(sub)
    return x, residence


def _single_class(net: MVANetwork) -> tuple[np.ndarray, np.ndarray]:
    """Exact throughput (1,) and residence times (1, K) of one class."""
    d, n = net.demands[0], int(net.population[0])
    z = float(net.think[0]) + d[net.delay].sum()
    if multi_server(net).any():
        return _load_dependent(d, net.delay, net.servers, n, z)
    queue = ~net.delay
    x, r_queue = _mva_recursion(d[queue], z, n)
    residence = d.copy()
    residence[queue] = r_queue
    return x[-1:], residence[None, :]


def _mva_recursion(d: np.ndarray, z: float, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Reiser-Lavenberg recursion over ``n = 1..n_max`` for single-server queues ``d``
    and total delay ``z``: the throughputs ``X(1..n_max)`` and the residence times at
    ``n_max``."""
    x = np.empty(n_max)
    q1 = np.ones_like(d)  # 1 + Q_k(n - 1); residence time R_k(n) = D_k (1 + Q_k(n - 1))
    for n in range(1, n_max + 1):
        x_n = n / (z + d @ q1)
        q1 *= d
        q1 *= x_n
        q1 += 1.0
        x[n - 1] = x_n
    return x, (q1 - 1.0) / x[-1]


def _load_dependent(
    d: np.ndarray, delay: np.ndarray, servers: np.ndarray, n: int, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact single-class solution with multi-server stations, in log space.

    ``G(n)`` is the convolution of the rest of the network (single-server queues and
    delays, whose ``G(n) = 1 / prod X(i)`` comes from the MVA recursion) with each
    multi-server station's ``f_k(j) = D_k^j / prod_{i<=j} min(i, c_k)``. Demands are
    scaled so the bottleneck's per-server demand is 1, keeping the logarithms small.
    """
    scale = float(np.max(np.where(delay, 0.0, d / servers)))
    d, z = d / scale, z / scale
    ld = ~delay & (servers > 1) & (d > 0)
    rest = ~delay & ~ld
    if z + d[rest].sum() > 0:
        x_rest, _ = _mva_recursion(d[rest], z, n)
        log_rest = np.concatenate([[0.0], -np.cumsum(np.log(x_rest))])
    else:  # nothing but the multi-server stations: the rest holds no job
        log_rest = np.full(n + 1, -np.inf)
        log_rest[0] = 0.0
    stations = np.flatnonzero(ld)
    log_g = _log_convolve_all(log_rest, d, servers, stations)
    x = math.exp(log_g[n - 1] - log_g[n])
    queue = np.zeros_like(d)
    for i, k in enumerate(stations):
        others = np.delete(stations, i)
        log_g_minus = _log_convolve_all(log_rest, d, servers, others)
        p = np.exp(_log_f(d[k], int(servers[k]), n) + log_g_minus[::-1] - log_g[n])
        queue[k] = np.arange(n + 1) @ p
    jobs = np.arange(1, n + 1)
    with np.errstate(divide="ignore"):
        log_d = np.log(d)
    for k in np.flatnonzero(rest):
        queue[k] = np.exp(jobs * log_d[k] + log_g[n - 1 :: -1] - log_g[n]).sum()
    residence = np.where(delay, d, queue / x) * scale
    return np.array([x / scale]), residence[None, :]


def _log_convolve_all(
    log_g: np.ndarray, d: np.ndarray, servers: np.ndarray, stations: np.ndarray
) -> np.ndarray:
    for k in stations:
        log_g = _log_convolve_station(log_g, float(d[k]), int(servers[k]))
    return log_g


def _log_convolve_station(log_a: np.ndarray, d: float, c: int) -> np.ndarray:
    """``log`` of the convolution of ``exp(log_a)`` with a ``c``-server station's
    ``f(j) = D^j / prod_{i<=j} min(i, c)``, in ``O(len * c)``.

    The terms ``j < c`` are added one by one; the tail ``j >= c``, where
    ``f(j) = f(c) (D/c)^(j-c)``, is a cumulative log-sum of ``log_a`` tilted by
    ``D/c``.
    """
    n = log_a.size - 1
    log_f = _log_f(d, c, min(c, n))
    out = log_a.copy()
    for j in range(1, min(c, n + 1)):
        out[j:] = np.logaddexp(out[j:], log_f[j] + log_a[: n + 1 - j])
    if c <= n:
        log_r = math.log(d / c)
        tilt = np.arange(n - c + 1) * log_r
        tail = np.logaddexp.accumulate(log_a[: n - c + 1] - tilt) + tilt + log_f[c]
        out[c:] = np.logaddexp(out[c:], tail)
    return out


def _log_f(d: float, c: int, n: int) -> np.ndarray:
    """``log f(j)``, ``j = 0..n``, of a ``c``-server station with demand ``d``."""
    j = np.arange(n + 1)
    busy = np.minimum(j, c)
    return j * math.log(d) - gammaln(busy + 1) - (j - busy) * math.log(c)


def _lattice_mva(net: MVANetwork) -> tuple[np.ndarray, np.ndarray]:
    """Exact multi-class MVA over the population lattice, one population level at a
    time (all lattice points of a level are solved together)."""
    shape = tuple(int(n) + 1 for n in net.population)
    size = math.prod(shape)
    if size > MAX_LATTICE:
        raise UnsupportedError(
            "mva",
            f"the population lattice has {size:,} points (limit {MAX_LATTICE:,}); "
            "use schweitzer_amva for an approximate solution",
        )
    coords = np.indices(shape).reshape(len(shape), -1).T
    strides = np.array([math.prod(shape[c + 1 :]) for c in range(len(shape))])
    level = coords.sum(1)
    order = np.argsort(level, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(level))])
    position = np.empty(size, dtype=np.int64)  # index of a point within its level
    position[order] = np.arange(size) - starts[level[order]]
    queue = ~net.delay
    q_prev = np.zeros((1, net.delay.size))
    for t in range(1, int(level[-1]) + 1):
        points = order[starts[t] : starts[t + 1]]
        n = coords[points]
        prev = np.where(n > 0, position[np.maximum(points[:, None] - strides, 0)], 0)
        residence = net.demands * (1 + q_prev[prev] * queue)
        x = n / (net.think + residence.sum(2))
        q_prev = np.einsum("pc,pck->pk", x, residence)
    return x[0], residence[0]
