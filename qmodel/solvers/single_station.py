"""Closed-form and approximate metrics of a single queueing station.

All rates are per unit time and all times are in the same unit. Every function
returns :class:`StationMetrics` (a list of them, one per class, for priority
queues); ``method`` is ``"exact"`` when every metric, including the response-time
moments, is exact, and ``"approximation(<name>)"`` otherwise.

Unstable input (utilization >= 1 without losses) raises
:class:`qmodel.errors.UnstableError`; invalid parameters raise ``ValueError``.

Sources:

* L. Kleinrock, *Queueing Systems*, Vol. 1 (1975) and Vol. 2 (1976);
* D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing
  Theory*, 4th ed. (2008) -- "Gross & Harris" below;
* M. Harchol-Balter, *Performance Modeling and Design of Computer Systems* (2013);
* W. Whitt, "The Queueing Network Analyzer", *Bell System Tech. J.* 62 (1983).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_banded
from scipy.special import logsumexp, xlogy

from qmodel.distributions import Distribution
from qmodel.solvers import mmc as kernel
from qmodel.solvers.arrivals_during import arrival_probabilities
from qmodel.solvers.checks import check_stable, non_negative, positive, servers
from qmodel.solvers.phase_type import (
    MAX_EXACT_PHASES,
    PhaseType,
    fit_two_moments,
)

#: Accepted-arrival probability mass ignored when truncating an M/M/c/K response PH.
_NEGLIGIBLE_MASS = 1e-15
#: Largest unnormalised M/G/1/K probability before rescaling (far from overflow).
_HUGE = 1e200


@dataclass(frozen=True)
class StationMetrics:
    """Steady-state metrics of one station, or of one class at a priority station.

    Little's law holds for every result: ``mean_in_system = throughput *
    mean_response`` and ``mean_in_queue = throughput * mean_wait``.

    Attributes:
        arrival_rate: offered arrival rate ``lam``.
        throughput: accepted rate ``lam * (1 - p_loss)``.
        utilization: busy fraction per server, ``busy_servers / c``. Infinite-server
            stations report 0.0: they cannot saturate. Priority classes report their
            own share ``rho_k``.
        busy_servers: mean number of busy servers, ``throughput * E[S]``.
        mean_in_queue: ``Lq``, mean number waiting (not in service).
        mean_in_system: ``L``, mean number present.
        mean_wait: ``Wq``, mean time before service (for processor sharing and
            preemptive disciplines: mean response minus mean service).
        mean_response: ``W``, mean time in the station.
        p_wait: probability that an accepted arrival is delayed on arrival.
        p_idle: probability that all servers are idle.
        p_loss: probability that an arrival is rejected.
        response: distribution of the response time -- exact where known, else a
            two-moment PH fit (see each function).
        response_scv: squared coefficient of variation of the response time.
        departure_scv: SCV of the departure process for QNA-style decomposition;
            ``None`` where no formula is offered.
        method: ``"exact"`` or ``"approximation(<name>)"``.
    """

    arrival_rate: float
    throughput: float
    utilization: float
    busy_servers: float
    mean_in_queue: float
    mean_in_system: float
    mean_wait: float
    mean_response: float
    p_wait: float
    p_idle: float
    p_loss: float
    response: PhaseType | None
    response_scv: float | None
    departure_scv: float | None
    method: str

    def percentile(self, p: float) -> float:
        """Response-time quantile; ``p`` is a probability (0.95 for the 95th percentile).

        >>> round(mm1(1.0, 2.0).percentile(0.95), 6)  # -ln(0.05) / (mu - lam)
        2.995732
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p is a probability in [0, 1] (0.95 for the 95th), got {p}")
        if self.response is None:
            raise ValueError("no response-time distribution is available for this station")
        return float(self.response.quantile(p))


# -- Markovian stations -------------------------------------------------------------


def mm1(lam: float, mu: float) -> StationMetrics:
    """M/M/1 FCFS; the response time is exactly ``Exp(mu - lam)``.

    Source: Kleinrock Vol. 1 (M/M/1).

    >>> m = mm1(2.0, 3.0)
    >>> m.mean_in_system, m.mean_response, m.method
    (2.0, 1.0, 'exact')
    """
    return mmc(lam, mu, 1)


def mmc(lam: float, mu: float, c: int) -> StationMetrics:
    """M/M/c FCFS with exact response-time distribution.

    An arrival waits with probability ``C`` (Erlang C), and then for ``Exp(c mu -
    lam)``; the response is that wait plus ``Exp(mu)``: a 2-phase PH for any ``c``.
    Departures are Poisson (Burke), so ``departure_scv = 1``.
    Source: Gross & Harris (M/M/c); Kleinrock Vol. 1 (M/M/m).

    >>> m = mmc(2.0, 1.0, 3)
    >>> round(m.mean_wait, 12), round(m.p_idle, 12)   # 4/9 and 1/9
    (0.444444444444, 0.111111111111)
    """
    lam = non_negative("lam", lam)
    mu = positive("mu", mu)
    c = servers(c)
    a = lam / mu
    check_stable(a / c)
    p_wait = kernel.erlang_c(c, a)
    wait_rate = c * mu - lam
    response = kernel.wait_then_serve(p_wait, wait_rate, mu)
    return _metrics(
        lam=lam,
        throughput=lam,
        servers=c,
        mean_service=1.0 / mu,
        mean_wait=p_wait / wait_rate,
        p_wait=p_wait,
        p_idle=kernel.p_idle(c, a),
        response=response,
        response_scv=response.scv(),
        departure_scv=1.0,
        method="exact",
    )


def mmck(lam: float, mu: float, c: int, K: int) -> StationMetrics:
    """M/M/c/K: ``c`` servers, at most ``K >= c`` present, arrivals finding K are lost.

    Stationary probabilities in log space (O(K) work, any ``c`` and ``K``; loads
    above 1 are fine). The response distribution is exact: an arrival finding
    ``n >= c`` waits ``Erlang(n - c + 1, c mu)``, then ``Exp(mu)``; it is built as a
    PH when the waiting chain, truncated where the arrival mass left is below
    1e-15, needs at most ``MAX_EXACT_PHASES`` phases, else it is a two-moment fit
    matching its exact mean and variance. ``departure_scv`` is the exact SCV of a
    stationary inter-departure interval (the birth-death chain's departure MAP).
    Source: Gross & Harris (M/M/c/K).

    >>> m = mmck(1.0, 1.0, 1, 2)                   # p_n = 1/3 each (Gross & Harris)
    >>> round(m.p_loss, 12), round(m.mean_in_system, 12)
    (0.333333333333, 1.0)
    """
    lam = non_negative("lam", lam)
    mu = positive("mu", mu)
    c = servers(c)
    K = servers(K)
    if K < c:
        raise ValueError(f"capacity K must be at least the number of servers c={c}, got {K}")
    log_p = _mmck_log_weights(lam / mu, c, K)
    p = _normalised_exp(log_p)
    arrival_view = _normalised_exp(log_p[:-1])  # what accepted arrivals find
    n = np.arange(K + 1)
    wait1, wait2 = _mmck_wait_moments(arrival_view, c, mu)
    mean_t = wait1 + 1.0 / mu
    response_scv = max(0.0, (wait2 + 2 * wait1 / mu + 2 / mu**2) / mean_t**2 - 1.0)
    return StationMetrics(
        arrival_rate=lam,
        throughput=lam * float(p[:-1].sum()),
        utilization=float(p @ np.minimum(n, c)) / c,
        busy_servers=float(p @ np.minimum(n, c)),
        mean_in_queue=float(p @ np.maximum(n - c, 0)),
        mean_in_system=float(p @ n),
        mean_wait=wait1,
        mean_response=mean_t,
        p_wait=min(1.0, float(arrival_view[c:].sum())),
        p_idle=float(p[0]),
        p_loss=float(p[-1]),
        response=_mmck_response(arrival_view, c, mu, mean_t, response_scv),
        response_scv=response_scv,
        departure_scv=_birth_death_departure_scv(p, lam, mu, c),
        method="exact",
    )


def mminf(lam: float, mean_s: float, scv_s: float = 1.0) -> StationMetrics:
    """M/M/inf and M/G/inf (delay station): ``L = lam E[S]``, nobody waits.

    Takes the service mean (``1/mu``; 0 models a zero-time station) and SCV. The
    metrics are insensitive to the service law beyond its mean and departures are
    Poisson. ``utilization`` is 0.0 (an infinite-server station cannot saturate);
    the mean number busy is ``busy_servers``. The response time is the service
    time: exponential when ``scv_s == 1``, otherwise the two-moment PH fit of it.
    Source: Gross & Harris (M/M/inf, M/G/inf).

    >>> m = mminf(2.0, 1.5, 0.25)
    >>> m.mean_in_system, m.utilization, round(m.p_idle, 6)   # p_idle = exp(-3)
    (3.0, 0.0, 0.049787)
    """
    lam = non_negative("lam", lam)
    mean_s = non_negative("mean_s", mean_s)
    scv_s = non_negative("scv_s", scv_s)
    offered = lam * mean_s
    return StationMetrics(
        arrival_rate=lam,
        throughput=lam,
        utilization=0.0,
        busy_servers=offered,
        mean_in_queue=0.0,
        mean_in_system=offered,
        mean_wait=0.0,
        mean_response=mean_s,
        p_wait=0.0,
        p_idle=math.exp(-offered),
        p_loss=0.0,
        response=fit_two_moments(mean_s, scv_s),
        response_scv=scv_s if mean_s > 0 else 0.0,
        departure_scv=1.0,
        method="exact",
    )


# -- M/G/1 --------------------------------------------------------------------------


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
        s3 = _third_moment(third_moment, mean_s, s2)
        method = "exact"
    wait = lam * s2 / (2.0 * (1.0 - rho))
    wait_m2 = 2.0 * wait**2 + lam * s3 / (3.0 * (1.0 - rho))
    response, response_scv = _fitted_response(wait + mean_s, wait_m2 + 2 * wait * mean_s + s2)
    return _metrics(
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
    response, response_scv = _fitted_response(mean_t, second) if math.isfinite(second) \
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


# -- G/G/c --------------------------------------------------------------------------


def ggc(lam: float, ca2: float, mean_s: float, scv_s: float, c: int) -> StationMetrics:
    """G/G/c by Allen-Cunneen, ``Wq = (ca2 + cs2) / 2 * Wq(M/M/c)`` (Kingman for c=1).

    ``p_wait`` and ``p_idle`` are the M/M/c values. The response fit assumes the
    wait is 0 with probability ``1 - p_wait`` and exponential otherwise. Departure
    SCV from Whitt's QNA: ``1 + (1 - rho^2)(ca2 - 1) + rho^2 (cs2 - 1) / sqrt(c)``.
    Source: Gross & Harris (G/G/c, Allen-Cunneen); Whitt (1983) (QNA).

    >>> m = ggc(0.5, 1.0, 1.0, 1.0, 1)              # M/M/1 numbers, labelled Kingman
    >>> m.mean_response, m.method
    (2.0, 'approximation(Kingman)')
    """
    lam = non_negative("lam", lam)
    ca2 = non_negative("ca2", ca2)
    mean_s = positive("mean_s", mean_s)
    scv_s = non_negative("scv_s", scv_s)
    c = servers(c)
    a = lam * mean_s
    rho = a / c
    check_stable(rho)
    p_wait = kernel.erlang_c(c, a)
    wait = (ca2 + scv_s) / 2.0 * p_wait * mean_s / (c - a)
    second = _mixed_wait_m2(wait, p_wait) + 2 * wait * mean_s + (1 + scv_s) * mean_s**2
    response, response_scv = _fitted_response(wait + mean_s, second)
    return _metrics(
        lam=lam,
        throughput=lam,
        servers=c,
        mean_service=mean_s,
        mean_wait=wait,
        p_wait=p_wait,
        p_idle=kernel.p_idle(c, a),
        response=response,
        response_scv=response_scv,
        departure_scv=max(0.0, 1 + (1 - rho**2) * (ca2 - 1) + rho**2 * (scv_s - 1) / math.sqrt(c)),
        method="approximation(Kingman)" if c == 1 else "approximation(Allen-Cunneen)",
    )


# -- priority queues ----------------------------------------------------------------


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
        second = _mixed_wait_m2(wait, total) + 2 * wait * mean[k] + (1 + scv[k]) * mean[k] ** 2
        response, response_scv = _fitted_response(wait + mean[k], second)
        results.append(
            _metrics(
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
            _metrics(
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
        s3 = np.array([_third_moment(t, m, q) for t, m, q in zip(third_moments, mean, s2, strict=True)])
        method = "exact"
    sigma = np.cumsum(lam * mean)
    check_stable(float(sigma[-1]))
    results = []
    for k in range(lam.size):
        mean_t, second_t = _preemptive_response_moments(k, lam, mean, s2, s3, sigma)
        response, response_scv = _fitted_response(mean_t, second_t)
        results.append(
            _metrics(
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


# -- helpers ------------------------------------------------------------------------


def _metrics(
    *,
    lam: float,
    throughput: float,
    servers: int,
    mean_service: float,
    mean_wait: float,
    p_wait: float,
    p_idle: float,
    response: PhaseType,
    response_scv: float,
    departure_scv: float | None,
    method: str,
) -> StationMetrics:
    """Assemble metrics of a lossless station via Little's law."""
    busy = throughput * mean_service
    return StationMetrics(
        arrival_rate=lam,
        throughput=throughput,
        utilization=busy / servers,
        busy_servers=busy,
        mean_in_queue=throughput * mean_wait,
        mean_in_system=throughput * (mean_wait + mean_service),
        mean_wait=mean_wait,
        mean_response=mean_wait + mean_service,
        p_wait=p_wait,
        p_idle=p_idle,
        p_loss=0.0,
        response=response,
        response_scv=response_scv,
        departure_scv=departure_scv,
        method=method,
    )


def _insensitive_mg1(
    lam: float, mean_s: float, scv_s: float, rho: float, second: float, method: str
) -> StationMetrics:
    """PS / LCFS-PR: ``W = E[S] / (1 - rho)``; ``second`` is ``E[T^2]``."""
    mean_t = mean_s / (1.0 - rho)
    response, response_scv = _fitted_response(mean_t, second)
    return _metrics(
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


def _mixed_wait_m2(wait: float, p_wait: float) -> float:
    """``E[Wq^2]`` when the wait is 0 w.p. ``1 - p_wait`` and exponential otherwise."""
    return 2.0 * wait**2 / p_wait if p_wait > 0 else 0.0


def _fitted_response(mean: float, second: float) -> tuple[PhaseType, float]:
    """Two-moment PH fit of the response and its exact SCV."""
    scv = max(0.0, second / mean**2 - 1.0)
    return fit_two_moments(mean, scv), scv


def _normalised_exp(log_w: NDArray) -> NDArray:
    w = np.exp(log_w - logsumexp(log_w))
    return w / w.sum()


def _mmck_log_weights(a: float, c: int, K: int) -> NDArray:
    """Unnormalised log stationary probabilities of M/M/c/K, ``n = 0..K``."""
    n = np.arange(K + 1)
    head = kernel.log_poisson_terms(c, a)
    tail = head[-1] + xlogy(n[c + 1 :] - c, a / c)
    return np.concatenate([head, tail])


def _mmck_wait_moments(arrival_view: NDArray, c: int, mu: float) -> tuple[float, float]:
    """``E[Wq]``, ``E[Wq^2]``: finding ``n >= c`` means waiting ``Erlang(n - c + 1, c mu)``."""
    j = np.maximum(np.arange(arrival_view.size) - c + 1, 0)
    return (
        float(arrival_view @ j) / (c * mu),
        float(arrival_view @ (j * (j + 1.0))) / (c * mu) ** 2,
    )


def _mmck_response(arrival_view: NDArray, c: int, mu: float, mean: float, scv: float) -> PhaseType:
    """Exact PH (phase 0 serves, phase ``j`` has ``j`` completions to wait) or a fit."""
    entry = np.concatenate([[arrival_view[:c].sum()], arrival_view[c:]])
    tail_mass = np.cumsum(entry[::-1])[::-1]
    keep = int(np.flatnonzero(tail_mass > _NEGLIGIBLE_MASS).max()) + 1
    if keep > MAX_EXACT_PHASES:
        return fit_two_moments(mean, scv)
    alpha = entry[:keep].copy()
    alpha[-1] += tail_mass[keep] if keep < entry.size else 0.0
    rates = np.full(keep, c * mu)
    rates[0] = mu
    return PhaseType(alpha, np.diag(-rates) + np.diag(rates[1:], -1))


def _birth_death_departure_scv(p: NDArray, lam: float, mu: float, c: int) -> float:
    """SCV of a stationary inter-departure interval of M/M/c/K (1 when ``lam = 0``).

    The interval is PH(x, D0): ``x`` is the state just after a departure and ``D0``
    the generator without departures, upper bidiagonal, so both moments come from
    two O(K) banded solves.
    """
    if lam == 0.0:
        return 1.0
    n = np.arange(p.size)
    service = mu * np.minimum(n, c)
    banded = np.zeros((2, p.size))
    banded[0, 1:] = -lam  # superdiagonal of -D0
    banded[1] = lam * (n < p.size - 1) + service
    after = np.append(p[1:] * service[1:], 0.0)
    after /= after.sum()
    y = solve_banded((0, 1), banded, np.ones(p.size))
    m1 = float(after @ y)
    m2 = 2.0 * float(after @ solve_banded((0, 1), banded, y))
    return m2 / m1**2 - 1.0


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


def _third_moment(value: float, mean: float, second: float) -> float:
    """Validate ``E[S^3]``: by Cauchy-Schwarz ``E[S^3] E[S] >= E[S^2]^2``."""
    value = non_negative("third_moment", value)
    if value * mean < second**2 * (1 - 1e-9):
        raise ValueError(f"third_moment {value} is impossible: E[S^3] E[S] < E[S^2]^2")
    return value
