"""One-server stations with general service: M/G/1 FCFS (Pollaczek-Khinchine, Takacs),
M/D/1, processor sharing, LCFS preemptive-resume and M/G/1/K with losses.

Every function returns :class:`~.single_station.StationMetrics`; conventions (units,
``method`` labels, errors) are those of :mod:`.single_station`.

Sources: L. Kleinrock, *Queueing Systems*, Vol. 1 (1975) and Vol. 2 (1976); Gross,
Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*, 4th ed. (2008) -- "Gross &
Harris" below; M. Harchol-Balter, *Performance Modeling and Design of Computer Systems*
(2013).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from qmodel.distributions import Distribution
from qmodel.solvers.arrivals_during import arrival_probabilities
from qmodel.solvers.checks import check_stable, non_negative, positive, servers
from qmodel.solvers.phase_type import fit_two_moments
from qmodel.solvers.single_station import (
    StationMetrics,
    checked_third_moment,
    fitted_response,
    lossless_metrics,
)

#: Largest unnormalised M/G/1/K probability before rescaling (far from overflow).
_HUGE = 1e200


def mg1(lam: float, mean_s: float, scv_s: float, third_moment: float | None = None) -> StationMetrics:
    """M/G/1 FCFS by Pollaczek-Khinchine; response second moment by Takacs.

    ``Wq = lam E[S^2] / (2 (1 - rho))`` and ``E[Wq^2] = 2 Wq^2 + lam E[S^3] / (3 (1 -
    rho))``. The means are always exact; the response-time variance needs
    ``third_moment = E[S^3]``: without it the third moment of the two-moment PH fit
    of ``S`` is used and ``method`` says so. The response distribution is a
    two-moment PH fit. ``departure_scv = 1 - rho^2 + rho^2 scv_s`` (exact for a
    stationary interval). Source: Kleinrock Vol. 1 (M/G/1: Pollaczek-Khinchine, Takacs).

    >>> m = mg1(0.5, 1.0, 1.0, third_moment=6.0)    # M/M/1 with lam=0.5, mu=1
    >>> m.mean_response, round(m.response_scv, 12), m.method
    (2.0, 1.0, 'exact')
    """
    lam, mean_s, scv_s, rho = _checked_mg1(lam, mean_s, scv_s)
    s2 = (1.0 + scv_s) * mean_s**2
    if third_moment is None:
        s3 = fit_two_moments(mean_s, scv_s).moment(3)
        method = "approximation(Takacs with fitted third moment)"
    else:
        s3 = checked_third_moment(third_moment, mean_s, s2)
        method = "exact"
    wait = lam * s2 / (2.0 * (1.0 - rho))
    wait_m2 = 2.0 * wait**2 + lam * s3 / (3.0 * (1.0 - rho))
    response, response_scv = fitted_response(wait + mean_s, wait_m2 + 2 * wait * mean_s + s2)
    return lossless_metrics(
        lam=lam,
        throughput=lam,
        servers=1,
        mean_service=mean_s,
        mean_wait=wait,
        p_wait=rho,
        p_idle=1.0 - rho,
        response=response,
        response_scv=response_scv,
        departure_scv=1.0 - rho**2 + rho**2 * scv_s,
        method=method,
    )


def mg1k(lam: float, service: Distribution, K: int) -> StationMetrics:
    """M/G/1/K FCFS: one server, at most ``K`` present, arrivals finding ``K`` are lost.

    Exact, by the Markov chain embedded at departures, for any load. With ``a_k`` the
    probability of ``k`` arrivals during a service (:mod:`.arrivals_during`) and ``A_k =
    P(N >= k)``, the number left behind by a departure (also what accepted arrivals find)
    has the law ``pi`` on ``0..K-1`` from the level-crossing recursion ``a_0 pi_j = pi_0
    A_j + sum_{0<i<j} pi_i A_{j-i+1}``: sums of positive terms, stable for any ``K``
    (Tijms, ch. 9). Time averages: ``p_j = pi_j / (pi_0 + rho)`` for ``j < K`` and the
    loss ``p_K = 1 - 1 / (pi_0 + rho)``, ``rho = lam E[S]``. The response time's mean and
    variance are exact (the residual service an arrival finds, from the densities of the
    elapsed service); its distribution is the two-moment PH fit of them (none when the
    variance is infinite). ``departure_scv`` is None. Source: Gross & Harris (M/G/1/K).

    >>> from qmodel.distributions import Deterministic
    >>> m = mg1k(1.0, Deterministic(2.0), 3)
    >>> round(m.p_loss, 6), round(m.throughput, 6), round(m.mean_response, 6)
    (0.5062, 0.4938, 4.864665)
    >>> round(mg1k(1.0, Deterministic(2.0), 1).p_loss, 12)   # Erlang B(1, 2) = 2/3
    0.666666666667
    """
    lam = non_negative("lam", lam)
    K = servers(K)
    m1, m2 = service.mean, service.second_moment
    a = arrival_probabilities(service, lam, max(K - 1, 1))
    tail = np.maximum(1.0 - np.concatenate([[0.0], np.cumsum(a[: K - 1])]), 0.0)  # A_0..A_{K-1}
    pi = _departure_view(float(a[0]), tail)
    scale = float(pi[0]) + lam * m1  # 1 / P(accepted)
    p = np.append(pi / scale, max(0.0, 1.0 - 1.0 / scale))
    throughput = lam / scale
    mean_in_system = float(p @ np.arange(K + 1))
    mean_t = mean_in_system / throughput if throughput > 0 else m1
    wait2 = _mg1k_wait_m2(pi, tail, lam, m1, m2)
    wait = max(mean_t - m1, 0.0)
    second = wait2 + 2.0 * wait * m1 + m2
    response, response_scv = fitted_response(mean_t, second) if math.isfinite(second) \
        else (None, None)
    busy = throughput * m1
    return StationMetrics(
        arrival_rate=lam,
        throughput=throughput,
        utilization=busy,
        busy_servers=busy,
        mean_in_queue=max(mean_in_system - busy, 0.0),
        mean_in_system=mean_in_system,
        mean_wait=wait,
        mean_response=mean_t,
        p_wait=1.0 - float(pi[0]),
        p_idle=float(p[0]),
        p_loss=float(p[-1]),
        response=response,
        response_scv=response_scv,
        departure_scv=None,
        method="exact",
    )


def md1(lam: float, d: float) -> StationMetrics:
    """M/D/1 FCFS with service time ``d``: :func:`mg1` with ``scv 0``, ``E[S^3] = d^3``.

    Source: Gross & Harris (M/D/1, ``Lq = rho^2 / (2 (1 - rho))``).

    >>> m = md1(0.5, 1.0)
    >>> m.mean_in_queue, m.method
    (0.25, 'exact')
    """
    d = positive("d", d)
    return mg1(lam, d, 0.0, third_moment=d**3)


def mg1_ps(lam: float, mean_s: float, scv_s: float) -> StationMetrics:
    """M/G/1 processor sharing: ``W = E[S] / (1 - rho)``, insensitive to the service law.

    ``mean_wait`` is the slowdown delay ``W - E[S]``; ``p_wait = rho`` is the chance
    of sharing on arrival. The response variance is exact for exponential service
    (``scv = (2 + rho) / (2 - rho)``, Coffman, Muntz & Trotter 1970); otherwise it
    averages the M/M/1-PS conditional variance ``Var[T | S = x]`` over the PH fit of
    ``S`` (an approximation, named in ``method``). ``departure_scv`` uses the
    M/G/1 interval formula ``1 - rho^2 + rho^2 scv_s`` (exact for exponential).
    Source: Kleinrock Vol. 2 (processor sharing); Harchol-Balter (PS).

    >>> m = mg1_ps(0.5, 1.0, 1.0)
    >>> m.mean_response, round(m.response_scv, 12)
    (2.0, 1.666666666667)
    """
    lam, mean_s, scv_s, rho = _checked_mg1(lam, mean_s, scv_s)
    theta = (1.0 - rho) / mean_s
    transform = fit_two_moments(mean_s, scv_s).laplace(theta)
    conditional_var = 2 * rho * mean_s**2 / (1 - rho) ** 3 * (1 - (1 - transform) / (1 - rho))
    second = (1.0 + scv_s) * mean_s**2 / (1.0 - rho) ** 2 + conditional_var
    exact = scv_s == 1.0
    return _insensitive_mg1(
        lam, mean_s, scv_s, rho, second, "exact" if exact else "approximation(M/M/1-PS variance)"
    )


def mg1_lcfs_pr(lam: float, mean_s: float, scv_s: float) -> StationMetrics:
    """M/G/1 LCFS preemptive-resume: same means as :func:`mg1_ps`.

    The response time is a busy period started by the job's own service, so
    ``E[T^2] = E[S^2] / (1 - rho)^3`` exactly; the distribution is a two-moment fit.
    Source: Kleinrock Vol. 1 (M/G/1 busy period); Harchol-Balter (LCFS-PR).

    >>> m = mg1_lcfs_pr(0.5, 1.0, 1.0)
    >>> m.mean_response, round(m.response_scv, 12)  # (1 + rho) / (1 - rho) for M/M/1
    (2.0, 3.0)
    """
    lam, mean_s, scv_s, rho = _checked_mg1(lam, mean_s, scv_s)
    second = (1.0 + scv_s) * mean_s**2 / (1.0 - rho) ** 3
    return _insensitive_mg1(lam, mean_s, scv_s, rho, second, "exact")


def _insensitive_mg1(
    lam: float, mean_s: float, scv_s: float, rho: float, second: float, method: str
) -> StationMetrics:
    """PS / LCFS-PR: ``W = E[S] / (1 - rho)``; ``second`` is ``E[T^2]``."""
    mean_t = mean_s / (1.0 - rho)
    response, response_scv = fitted_response(mean_t, second)
    return lossless_metrics(
        lam=lam,
        throughput=lam,
        servers=1,
        mean_service=mean_s,
        mean_wait=mean_t - mean_s,
        p_wait=rho,
        p_idle=1.0 - rho,
        response=response,
        response_scv=response_scv,
        departure_scv=1.0 - rho**2 + rho**2 * scv_s,
        method=method,
    )


def _checked_mg1(lam: float, mean_s: float, scv_s: float) -> tuple[float, float, float, float]:
    lam = non_negative("lam", lam)
    mean_s = positive("mean_s", mean_s)
    scv_s = non_negative("scv_s", scv_s)
    rho = lam * mean_s
    check_stable(rho)
    return lam, mean_s, scv_s, rho


def _departure_view(a0: float, tail: NDArray) -> NDArray:
    """M/G/1/K: law of the number a departure leaves (``0..K-1``) from ``a_0`` and the
    tails ``A_k``, by level crossing. Where ``pi_j`` would overflow (``a_0`` tiny or 0: a
    saturated server), the terms before it are scaled down instead."""
    pi = np.zeros(tail.size)
    pi[0] = 1.0
    for j in range(1, tail.size):
        up = pi[0] * tail[j] + pi[1:j] @ tail[j:1:-1]  # from below j to j or above
        if up > a0 * _HUGE:
            pi[:j] *= a0 / up
            pi[j] = 1.0
        else:
            pi[j] = up / a0
    return pi / pi.sum()


def _mg1k_wait_m2(pi: NDArray, tail: NDArray, lam: float, m1: float, m2: float) -> float:
    """M/G/1/K ``E[Wq^2]`` of accepted arrivals: one finding ``n >= 1`` waits the residual
    service ``R`` and ``n - 1`` services. With ``F_j(c) = E[C(N - c, j); N >= c]`` and
    ``s_m`` the rate of service starts with ``m`` present (``pi_0 + pi_1``, then
    ``pi_m``), ``E[R^j; n] = j! / lam^(j+1) sum_{m<=n} s_m F_j(n - m + 1)`` per accepted
    arrival (elapsed-service densities, integrated against the service law)."""
    K = pi.size
    if lam == 0.0 or K == 1:
        return 0.0
    if not math.isfinite(m2):
        return math.inf
    f1 = np.maximum(lam * m1 - np.cumsum(tail[1:]), 0.0)  # F_1(c), c = 1..K-1
    f2 = np.maximum(lam**2 * m2 / 2.0 - np.cumsum(f1), 0.0)  # F_2(c)
    starts = pi[1:].copy()
    starts[0] += pi[0]
    r1 = np.convolve(starts, f1)[: K - 1] / lam  # E[R; n] per accepted arrival, n = 1..K-1
    r2 = 2.0 * np.convolve(starts, f2)[: K - 1] / lam**2
    n = np.arange(K - 1)  # n - 1: services queued ahead besides the one in progress
    return float(np.sum(r2 + 2.0 * n * m1 * r1 + pi[1:] * (n * m2 + n * (n - 1) * m1**2)))
