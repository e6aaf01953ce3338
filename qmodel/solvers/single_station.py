"""Closed-form and approximate metrics of a single queueing station: the
:class:`StationMetrics` every station formula returns, and the Markovian stations (M/M/1,
M/M/c, M/M/c/K, M/M/inf) with G/G/c by Allen-Cunneen. The M/G/1 family is in
:mod:`.mg1`, priority queues in :mod:`.priority`, the Erlang formulas in :mod:`.mmc`.

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
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import solve_banded
from scipy.special import logsumexp, xlogy

from qmodel.solvers import mmc as kernel
from qmodel.solvers.checks import check_stable, non_negative, positive, servers
from qmodel.solvers.phase_type import (
    MAX_EXACT_PHASES,
    PhaseType,
    fit_two_moments,
)

#: Accepted-arrival probability mass ignored when truncating an M/M/c/K response PH.
_NEGLIGIBLE_MASS = 1e-15


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


# -- assembling metrics (also used by mg1.py and priority.py) ----------------------


def lossless_metrics(
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


def fitted_response(mean: float, second: float) -> tuple[PhaseType, float]:
    """Two-moment PH fit of the response and its exact SCV."""
    scv = max(0.0, second / mean**2 - 1.0)
    return fit_two_moments(mean, scv), scv


def mixed_wait_m2(wait: float, p_wait: float) -> float:
    """``E[Wq^2]`` when the wait is 0 w.p. ``1 - p_wait`` and exponential otherwise."""
    return 2.0 * wait**2 / p_wait if p_wait > 0 else 0.0


def checked_third_moment(value: float, mean: float, second: float) -> float:
    """Validate ``E[S^3]``: by Cauchy-Schwarz ``E[S^3] E[S] >= E[S^2]^2``."""
    value = non_negative("third_moment", value)
    if value * mean < second**2 * (1 - 1e-9):
        raise ValueError(f"third_moment {value} is impossible: E[S^3] E[S] < E[S^2]^2")
    return value


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
    return lossless_metrics(
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
    second = mixed_wait_m2(wait, p_wait) + 2 * wait * mean_s + (1 + scv_s) * mean_s**2
    response, response_scv = fitted_response(wait + mean_s, second)
    return lossless_metrics(
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


# -- M/M/c/K helpers ----------------------------------------------------------------


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
