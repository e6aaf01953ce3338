"""Closed forms the simulator is checked against (each with its textbook source)."""

from __future__ import annotations

import math

import numpy as np


def erlang_c(c: int, a: float) -> float:
    """P(wait) in M/M/c with offered load ``a`` = lambda/mu (Erlang C; Kleinrock vol. 1, 3.40)."""
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def mmc_response(lam: float, mu: float, c: int) -> float:
    """Mean response time of M/M/c: 1/mu + C(c, a) / (c mu - lambda)."""
    return 1 / mu + erlang_c(c, lam / mu) / (c * mu - lam)


def mmck(lam: float, mu: float, c: int, K: int) -> dict[str, float]:
    """M/M/c/K by its birth-death stationary distribution (Gross & Harris, 2.5)."""
    p = np.array([(lam / mu) ** n / math.factorial(min(n, c)) / c ** max(n - c, 0)
                  for n in range(K + 1)])
    p /= p.sum()
    L = float(np.dot(np.arange(K + 1), p))
    throughput = lam * (1 - p[K])
    return {"p_loss": float(p[K]), "L": L, "R": L / throughput, "X": throughput}


def pk_response(lam: float, mean: float, scv: float) -> float:
    """M/G/1 mean response, Pollaczek-Khinchine: S + lambda E[S^2] / (2 (1 - rho))."""
    rho = lam * mean
    return mean + lam * (1 + scv) * mean**2 / (2 * (1 - rho))


def cobham(lams: list[float], means: list[float], scvs: list[float]) -> list[float]:
    """Non-preemptive priority M/G/1 mean response per class, class 0 first (Cobham 1954)."""
    r0 = sum(l * (1 + v) * m * m / 2 for l, m, v in zip(lams, means, scvs))
    out, sigma = [], 0.0
    for l, m in zip(lams, means):
        before = sigma
        sigma += l * m
        out.append(m + r0 / ((1 - before) * (1 - sigma)))
    return out


def preemptive_priority(lams: list[float], means: list[float], scvs: list[float]) -> list[float]:
    """Preemptive-resume priority M/G/1 mean response per class (Kleinrock vol. 2, 3.65)."""
    out, sigma = [], 0.0
    for k, (l, m) in enumerate(zip(lams, means)):
        before = sigma
        sigma += l * m
        rk = sum(lams[i] * (1 + scvs[i]) * means[i] ** 2 / 2 for i in range(k + 1))
        out.append(m / (1 - before) + rk / ((1 - before) * (1 - sigma)))
    return out


def mva(demands: list[float], think: float, population: int) -> tuple[float, float]:
    """Exact MVA (Reiser & Lavenberg 1980) of a closed single-class network of single-server
    queues: (throughput, response time) at ``population``."""
    q = [0.0] * len(demands)
    X = R = 0.0
    for n in range(1, population + 1):
        r = [d * (1 + qk) for d, qk in zip(demands, q)]
        R = sum(r)
        X = n / (think + R)
        q = [X * rk for rk in r]
    return X, R


def harmonic(n: int) -> float:
    return sum(1 / k for k in range(1, n + 1))


def within_ci(estimate, exact: float, n: int = 10) -> bool:
    """The exact value lies in the estimate's confidence interval at the 99% level.

    The simulator reports 95% intervals (Student t over ``n`` replications); a correct
    simulator misses the truth 5% of the time, so a suite of ~100 such checks would fail
    about five of them by chance. The checks therefore widen the reported interval to
    99% (by the ratio of the t quantiles), which keeps them sharp and makes a chance
    failure rare.
    """
    from scipy import stats

    low, high = estimate.ci95
    centre, half = (low + high) / 2, (high - low) / 2
    half *= stats.t.ppf(0.995, n - 1) / stats.t.ppf(0.975, n - 1)
    return centre - half <= exact <= centre + half


NETWORK_C = {
    "name": "network-c",
    "arrivals": {"jobs": {"to": "N1", "rate": 1.0}},
    "nodes": {
        "N1": {"kind": "queue", "service": {"dist": "exponential", "rate": 3},
               "next": {"N2": 0.5, "N3": 0.5}},
        "N2": {"kind": "queue", "service": {"dist": "exponential", "rate": 2}, "next": "N4"},
        "N3": {"kind": "queue", "service": {"dist": "exponential", "rate": 2}, "next": "N4"},
        "N4": {"kind": "queue", "service": {"dist": "exponential", "rate": 4}, "next": "N5"},
        "N5": {"kind": "queue", "service": {"dist": "exponential", "rate": 3}, "next": {"N1": 0.2}},
    },
}
NETWORK_C_RESPONSE = 2.792208


def single_queue(rate: float, service, servers: int = 1, **extra) -> dict:
    """A model with one queue fed by one open class."""
    node = {"kind": "queue", "servers": servers, "service": service, **extra}
    return {"nodes": {"q": node}, "arrivals": {"a": {"to": "q", "rate": rate}}}
