"""Fitting a service-time distribution to observed times, and choosing among candidates.

Candidates, each by maximum likelihood with the origin fixed at 0: exponential (the
mean), gamma (``scipy.stats.gamma.fit(floc=0)``), lognormal (the mean and standard
deviation of the logs) and the two-phase hyperexponential (EM for a mixture of two
exponentials, from a split at the mean). Each gets its log-likelihood, AIC (2k - 2 ln L)
and Kolmogorov-Smirnov distance D to the sample. The choice is the fewest parameters
among the candidates within 2 of the lowest AIC (Burnham & Anderson's "substantial
support"), so exponential data give the exponential rather than a gamma with cv 0.98;
times whose coefficient of variation is below :data:`DETERMINISTIC_CV` are deterministic.

What a model file is given is the sample mean (unbiased whatever the family) with the
chosen family's shape: ``{dist: gamma, mean: .., cv: ..}``. The mean's 95% interval is
Student's t on the sample mean (the central limit theorem; times taken as independent).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

DETERMINISTIC_CV = 0.01
PARSIMONY_AIC = 2.0
_PARAMS = {"exponential": 1, "gamma": 2, "lognormal": 2, "hyperexponential": 3}


def mean_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval on the mean of ``x`` (a point when fewer than two values).

    >>> [round(v, 3) for v in mean_interval(np.array([1.0, 2.0, 3.0]))]
    [-0.484, 4.484]
    """
    n = len(x)
    m = float(np.mean(x))
    if n < 2:
        return m, m
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return m - half, m + half


def candidates(x: np.ndarray) -> list[dict[str, Any]]:
    """Every family fitted to ``x`` (positive times), with ``params``, ``mean``, ``cv``,
    ``loglik``, ``aic``, ``ks`` (distance D) and ``ks_p``."""
    x = np.asarray(x, dtype=float)
    pos = x[x > 0]
    floor = pos.min() / 2 if len(pos) else 1e-9
    y = np.where(x > 0, x, floor)  # exact zeros (calls covering all of a span) for the logs
    m = float(np.mean(y))
    out = [_scored("exponential", {"mean": m}, y)]
    if len(y) >= 3 and np.ptp(y) > 0:
        a, _, scale = stats.gamma.fit(y, floc=0)
        out.append(_scored("gamma", {"shape": float(a), "scale": float(scale)}, y))
        logs = np.log(y)
        out.append(_scored("lognormal", {"mu": float(logs.mean()), "sigma": float(logs.std())}, y))
        out.append(_scored("hyperexponential", _h2_em(y), y))
    return out


def choose(x: np.ndarray, empirical: bool = False) -> dict[str, Any]:
    """The distribution for observed times ``x``: ``dist``, ``params``, ``mean``, ``cv``,
    ``distance`` (KS D of the choice), ``aic``, ``reason`` and ``candidates``.

    >>> rng = np.random.default_rng(1)
    >>> choose(rng.exponential(0.02, 3000))["dist"]
    'exponential'
    >>> choose(np.full(50, 0.004))["dist"]
    'deterministic'
    """
    x = np.asarray(x, dtype=float)
    n, m = len(x), float(np.mean(x))
    cv = float(np.std(x, ddof=1) / m) if n > 1 and m > 0 else 0.0
    if n == 0:
        raise ValueError("no observations to fit")
    if cv < DETERMINISTIC_CV or n < 3:
        why = f"spread ~0 (cv {cv:.3g} < {DETERMINISTIC_CV})" if n >= 3 else \
            f"only {n} observation(s)"
        return {"dist": "deterministic", "params": {"value": m}, "mean": m, "cv": 0.0,
                "sample_cv": cv, "distance": None, "aic": None, "reason": why, "n": n,
                "candidates": []}
    fits = candidates(x)
    best = min(f["aic"] for f in fits)
    near = [f for f in fits if f["aic"] <= best + PARSIMONY_AIC]
    pick = min(near, key=lambda f: (_PARAMS[f["dist"]], f["aic"]))
    others = ", ".join(f"{f['dist']} {f['aic'] - best:+.1f}" for f in fits if f is not pick)
    reason = ("lowest AIC" if pick["aic"] == best else
              f"fewest parameters within {PARSIMONY_AIC:g} of the lowest AIC") + \
        f" (ΔAIC: {others}); KS D={pick['ks']:.3g}"
    chosen = dict(pick)
    if empirical:
        chosen = {"dist": "empirical", "params": {}, "mean": m, "cv": cv, "ks": 0.0,
                  "ks_p": 1.0, "aic": None, "loglik": None}
        reason = f"empirical as asked (best parametric fit: {pick['dist']}, {reason})"
    return {**chosen, "distance": chosen["ks"], "sample_cv": cv, "reason": reason, "n": n,
            "candidates": fits}


def spec(fit: dict[str, Any], mean: float, samples: np.ndarray | None = None,
         unit: float = 1e-3, max_samples: int = 2000, seed: int = 0) -> Any:
    """What a model file holds for ``fit`` with its mean set to ``mean`` seconds; times in
    units of ``unit`` seconds (ms by default) written with the unit."""
    def d(t: float) -> str:
        return f"{t / unit:.6g}{'ms' if unit == 1e-3 else 's'}"

    name, cv = fit["dist"], fit["cv"]
    if name == "deterministic":
        return {"dist": "deterministic", "value": d(mean)}
    if name == "exponential":
        return {"dist": "exponential", "mean": d(mean)}
    if name in ("gamma", "lognormal"):
        return {"dist": name, "mean": d(mean), "cv": float(f"{cv:.4g}")}
    if name == "hyperexponential":
        m1, m2 = fit["params"]["mean1"], fit["params"]["mean2"]
        p = float(f"{fit['params']['p']:.4g}")  # rounded first: the means keep the mean
        k = mean / (p * m1 + (1 - p) * m2)
        return {"dist": "hyperexponential", "probs": [p, float(f"{1 - p:.6g}")],
                "means": [d(m1 * k), d(m2 * k)]}
    if name == "empirical":
        x = np.asarray(samples, dtype=float)
        if len(x) > max_samples:
            x = np.random.default_rng(seed).choice(x, max_samples, replace=False)
        return {"dist": "empirical", "samples": [float(f"{t / unit:.5g}") for t in x]}
    raise ValueError(f"unknown distribution {name!r}")


def pdf(fit: dict[str, Any], t: np.ndarray) -> np.ndarray:
    """The fitted density at times ``t`` (seconds); zeros for deterministic/empirical."""
    name, p = fit["dist"], fit["params"]
    t = np.asarray(t, dtype=float)
    if name == "exponential":
        return stats.expon.pdf(t, scale=p["mean"])
    if name == "gamma":
        return stats.gamma.pdf(t, p["shape"], scale=p["scale"])
    if name == "lognormal":
        return stats.lognorm.pdf(t, p["sigma"], scale=math.exp(p["mu"]))
    if name == "hyperexponential":
        return p["p"] / p["mean1"] * np.exp(-t / p["mean1"]) + \
            (1 - p["p"]) / p["mean2"] * np.exp(-t / p["mean2"])
    return np.zeros_like(t)


def _cdf(name: str, p: dict[str, float]):
    if name == "exponential":
        return stats.expon(scale=p["mean"]).cdf
    if name == "gamma":
        return stats.gamma(p["shape"], scale=p["scale"]).cdf
    if name == "lognormal":
        return stats.lognorm(p["sigma"], scale=math.exp(p["mu"])).cdf
    return lambda t: 1 - p["p"] * np.exp(-t / p["mean1"]) - (1 - p["p"]) * np.exp(-t / p["mean2"])


def _scored(name: str, params: dict[str, float], x: np.ndarray) -> dict[str, Any]:
    ll = float(np.sum(np.log(np.maximum(pdf({"dist": name, "params": params}, x), 1e-300))))
    ks = stats.kstest(x, _cdf(name, params))
    mean, cv = _moments(name, params)
    return {"dist": name, "params": params, "mean": mean, "cv": cv, "loglik": ll,
            "aic": 2 * _PARAMS[name] - 2 * ll, "ks": float(ks.statistic),
            "ks_p": float(ks.pvalue)}


def _moments(name: str, p: dict[str, float]) -> tuple[float, float]:
    if name == "exponential":
        return p["mean"], 1.0
    if name == "gamma":
        return p["shape"] * p["scale"], 1 / math.sqrt(p["shape"])
    if name == "lognormal":
        return math.exp(p["mu"] + p["sigma"] ** 2 / 2), math.sqrt(math.expm1(p["sigma"] ** 2))
    m1 = p["p"] * p["mean1"] + (1 - p["p"]) * p["mean2"]
    m2 = 2 * (p["p"] * p["mean1"] ** 2 + (1 - p["p"]) * p["mean2"] ** 2)
    return m1, math.sqrt(max(m2 / m1**2 - 1, 0.0))


def _h2_em(x: np.ndarray, iterations: int = 300) -> dict[str, float]:
    """Maximum likelihood for a mixture of two exponentials by EM, started from the
    means of the values below and above the sample mean."""
    m = float(x.mean())
    lo, hi = x[x <= m], x[x > m]
    p = len(lo) / len(x) if len(hi) else 0.5
    m1 = float(lo.mean()) if len(lo) else m / 2
    m2 = float(hi.mean()) if len(hi) else 2 * m
    last = -np.inf
    for _ in range(iterations):
        a = p / m1 * np.exp(-x / m1)
        b = (1 - p) / m2 * np.exp(-x / m2)
        total = np.maximum(a + b, 1e-300)
        w = a / total
        ll = float(np.log(total).sum())
        p = float(np.clip(w.mean(), 1e-6, 1 - 1e-6))
        m1 = float(max((w * x).sum() / max(w.sum(), 1e-300), 1e-12))
        m2 = float(max(((1 - w) * x).sum() / max((1 - w).sum(), 1e-300), 1e-12))
        if ll - last < 1e-9 * abs(ll):
            break
        last = ll
    if m1 > m2:
        p, m1, m2 = 1 - p, m2, m1
    return {"p": p, "mean1": m1, "mean2": m2}
