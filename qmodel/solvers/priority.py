"""Priority queues: M/G/1 non-preemptive (Cobham) and preemptive-resume, and M/M/c
non-preemptive with one service rate; class 0 has the highest priority.

Every function returns one :class:`~.single_station.StationMetrics` per class;
conventions (units, ``method`` labels, errors) are those of :mod:`.single_station`.

Sources: L. Kleinrock, *Queueing Systems*, Vol. 1 (1975) and Vol. 2 (1976); Gross,
Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*, 4th ed. (2008) -- "Gross &
Harris" below; M. Harchol-Balter, *Performance Modeling and Design of Computer Systems*
(2013).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from qmodel.solvers import mmc as kernel
from qmodel.solvers.checks import check_stable, positive, servers
from qmodel.solvers.phase_type import fit_two_moments
from qmodel.solvers.single_station import (
    StationMetrics,
    checked_third_moment,
    fitted_response,
    lossless_metrics,
    mixed_wait_m2,
)


def mg1_priority_nonpreemptive(
    lams: Sequence[float], means: Sequence[float], scvs: Sequence[float]
) -> list[StationMetrics]:
    """M/G/1 non-preemptive priority (Cobham 1954); class 0 has the highest priority.

    ``Wq_k = W0 / ((1 - sigma_{k-1}) (1 - sigma_k))`` with ``W0 = sum lam_i E[S_i^2]
    / 2`` and ``sigma_k = rho_0 + ... + rho_k``. Means are exact; the response fit
    assumes the wait is 0 with probability ``rho`` and exponential otherwise.
    ``p_wait`` (= total rho) and ``p_idle`` refer to the server; ``utilization`` is
    the class's own share. No departure SCV is offered (``None``).
    Source: Kleinrock Vol. 2 (priority queueing); Gross & Harris (priority).

    >>> hi, lo = mg1_priority_nonpreemptive([0.25, 0.25], [1.0, 1.0], [1.0, 1.0])
    >>> round(hi.mean_wait, 12), round(lo.mean_wait, 12)   # 0.5/0.75, 0.5/(0.75*0.5)
    (0.666666666667, 1.333333333333)
    """
    lam, mean, scv = _classes(lams, means, scvs)
    rho_k = lam * mean
    sigma = np.cumsum(rho_k)
    check_stable(float(sigma[-1]))
    residual = float(lam @ ((1 + scv) * mean**2)) / 2.0
    waits = residual / ((1 - (sigma - rho_k)) * (1 - sigma))
    total = float(sigma[-1])
    results = []
    for k, wait in enumerate(waits):
        second = mixed_wait_m2(wait, total) + 2 * wait * mean[k] + (1 + scv[k]) * mean[k] ** 2
        response, response_scv = fitted_response(wait + mean[k], second)
        results.append(
            lossless_metrics(
                lam=float(lam[k]),
                throughput=float(lam[k]),
                servers=1,
                mean_service=float(mean[k]),
                mean_wait=float(wait),
                p_wait=total,
                p_idle=1.0 - total,
                response=response,
                response_scv=response_scv,
                departure_scv=None,
                method="approximation(Cobham, exponential conditional wait)",
            )
        )
    return results


def mmc_priority_nonpreemptive(lams: Sequence[float], mu: float, c: int) -> list[StationMetrics]:
    """M/M/c non-preemptive priority, all classes served at rate ``mu``; class 0 first.

    ``Wq_k = C(c, a) / (c mu) / ((1 - sigma_{k-1}) (1 - sigma_k))``, ``sigma_k =
    (lam_0 + ... + lam_k) / (c mu)``, ``a = sum(lams) / mu``. Class 0's response is
    exact (given a wait, it is ``Exp(c mu - lam_0)``); lower classes use an
    exponential conditional wait with the exact mean (``method`` says so).
    ``p_wait`` (Erlang C) and ``p_idle`` refer to the whole station.
    Source: Gross & Harris (M/M/c priority); Kleinrock Vol. 2 (priority).

    >>> hi, lo = mmc_priority_nonpreemptive([0.5, 0.5], 1.0, 2)
    >>> round(hi.mean_wait, 12), round(lo.mean_wait, 12)   # C = 1/3, c mu = 2
    (0.222222222222, 0.444444444444)
    """
    mu = positive("mu", mu)
    c = servers(c)
    lam = _classes(lams, np.ones(len(lams)), np.ones(len(lams)))[0]
    a = float(lam.sum()) / mu
    check_stable(a / c)
    p_wait = kernel.erlang_c(c, a)
    sigma = np.cumsum(lam) / (c * mu)
    wait_rates = c * mu * (1 - (sigma - lam / (c * mu))) * (1 - sigma)  # given a wait
    results = []
    for k, wait_rate in enumerate(wait_rates):
        response = kernel.wait_then_serve(p_wait, float(wait_rate), mu)
        results.append(
            lossless_metrics(
                lam=float(lam[k]),
                throughput=float(lam[k]),
                servers=c,
                mean_service=1.0 / mu,
                mean_wait=p_wait / float(wait_rate),
                p_wait=p_wait,
                p_idle=kernel.p_idle(c, a),
                response=response,
                response_scv=response.scv(),
                departure_scv=None,
                method="exact" if k == 0 else "approximation(exponential conditional wait)",
            )
        )
    return results


def mg1_priority_preemptive(
    lams: Sequence[float],
    means: Sequence[float],
    scvs: Sequence[float],
    third_moments: Sequence[float] | None = None,
) -> list[StationMetrics]:
    """M/G/1 preemptive-resume priority; class 0 has the highest priority.

    ``W_k = E[S_k] / (1 - sigma_{k-1}) + sum_{i<=k} lam_i E[S_i^2] / (2 (1 -
    sigma_{k-1}) (1 - sigma_k))`` (Kleinrock Vol. 2). The response is the
    delay until first service (a higher-class busy period started by the class-<=k
    workload) plus the completion time (service stretched by higher-class busy
    periods); its variance is exact given ``third_moments`` (``E[S_i^3]``, used via
    Takacs for the workload), else uses the third moments of the PH fits of ``S_i``.
    ``mean_wait = W_k - E[S_k]``; ``p_wait = sigma_k`` (the server holds work of
    equal or higher priority on arrival). No departure SCV is offered (``None``).
    Source: Kleinrock Vol. 2 (preemptive priority); Harchol-Balter (priority).

    >>> hi, lo = mg1_priority_preemptive([0.25, 0.25], [1.0, 1.0], [1.0, 1.0])
    >>> round(hi.mean_response, 12), round(lo.mean_response, 12)  # 4/3, 8/3
    (1.333333333333, 2.666666666667)
    """
    lam, mean, scv = _classes(lams, means, scvs)
    s2 = (1 + scv) * mean**2
    if third_moments is None:
        s3 = np.array([fit_two_moments(m, v).moment(3) for m, v in zip(mean, scv, strict=True)])
        method = "approximation(Takacs with fitted third moments)"
    else:
        if len(third_moments) != lam.size:
            raise ValueError("third_moments needs one value per class")
        s3 = np.array([checked_third_moment(t, m, q)
                       for t, m, q in zip(third_moments, mean, s2, strict=True)])
        method = "exact"
    sigma = np.cumsum(lam * mean)
    check_stable(float(sigma[-1]))
    results = []
    for k in range(lam.size):
        mean_t, second_t = _preemptive_response_moments(k, lam, mean, s2, s3, sigma)
        response, response_scv = fitted_response(mean_t, second_t)
        results.append(
            lossless_metrics(
                lam=float(lam[k]),
                throughput=float(lam[k]),
                servers=1,
                mean_service=float(mean[k]),
                mean_wait=mean_t - float(mean[k]),
                p_wait=float(sigma[k]),
                p_idle=1.0 - float(sigma[-1]),
                response=response,
                response_scv=response_scv,
                departure_scv=None,
                method=method,
            )
        )
    return results


def _preemptive_response_moments(
    k: int, lam: NDArray, mean: NDArray, s2: NDArray, s3: NDArray, sigma: NDArray
) -> tuple[float, float]:
    """``E[T_k]`` and ``E[T_k^2]``: delay ``B_H(V)`` plus completion ``B_H``-stretched ``S_k``.

    ``V`` is the class-<=k workload (M/G/1 by Takacs); a higher-class busy period
    started by work ``x`` has mean ``x / (1 - sigma_H)`` and variance
    ``x h2 / (1 - sigma_H)^3`` with ``h2 = sum_{i<k} lam_i E[S_i^2]``.
    """
    sigma_h = float(sigma[k - 1]) if k > 0 else 0.0
    h2 = float(lam[:k] @ s2[:k])
    load = float(sigma[k])
    v1 = float(lam[: k + 1] @ s2[: k + 1]) / (2 * (1 - load))
    v2 = 2 * v1**2 + float(lam[: k + 1] @ s3[: k + 1]) / (3 * (1 - load))
    stretch = 1.0 / (1.0 - sigma_h)
    delay1, delay2 = v1 * stretch, v2 * stretch**2 + h2 * v1 * stretch**3
    run1, run2 = mean[k] * stretch, s2[k] * stretch**2 + h2 * mean[k] * stretch**3
    mean_t = float(delay1 + run1)
    return mean_t, float(delay2 + 2 * delay1 * run1 + run2)


def _classes(
    lams: Sequence[float], means: Sequence[float], scvs: Sequence[float]
) -> tuple[NDArray, NDArray, NDArray]:
    lam, mean, scv = (np.asarray(x, dtype=float) for x in (lams, means, scvs))
    if lam.ndim != 1 or lam.size == 0 or lam.shape != mean.shape or lam.shape != scv.shape:
        raise ValueError("lams, means and scvs must be non-empty sequences of equal length")
    if not (np.all(np.isfinite(lam)) and np.all(lam >= 0)):
        raise ValueError(f"class arrival rates must be finite and >= 0, got {list(lams)}")
    if not (np.all(np.isfinite(mean)) and np.all(mean > 0)):
        raise ValueError(f"class mean service times must be finite and > 0, got {list(means)}")
    if not (np.all(np.isfinite(scv)) and np.all(scv >= 0)):
        raise ValueError(f"class service SCVs must be finite and >= 0, got {list(scvs)}")
    return lam, mean, scv
