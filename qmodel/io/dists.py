"""Distributions both ways between qmodel and JMT's ``jmt.engine.random`` classes.

JMT names each distribution by a class and its parameter block (``ExponentialPar`` with
``lambda``, ``ErlangPar`` with ``alpha`` the phase rate and ``r`` the phases, …), as its
GUI writes them (``jmt.gui.common.distributions``). Times are seconds on both sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..distributions import (
    Deterministic,
    Distribution,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Pareto,
    Uniform,
    fit,
)
from ..errors import QModelError

ENGINE = "jmt.engine.random."


def to_jmt(dist: Distribution) -> tuple[str, list[tuple[str, str, float]], str]:
    """``(JMT name, [(parameter, java type, value)], note)`` for a qmodel distribution;
    ``note`` is empty when the mapping is exact, else says what was approximated.

    >>> to_jmt(Erlang(4, 0.02))[:2]
    ('Erlang', [('alpha', 'java.lang.Double', 200.0), ('r', 'java.lang.Long', 4)])
    """
    note = ""
    if isinstance(dist, HyperExponential) and len(dist.probs) != 2:
        note = (f"hyperexponential with {len(dist.probs)} phases: JMT has two; "
                "the balanced two-phase one with the same mean and cv is used")
        dist = HyperExponential.balanced(dist.mean, dist.scv)
    elif type(dist) not in _TO_JMT:
        note = (f"{dist.name} distribution: JMT has no equivalent; the distribution qmodel "
                f"fits to its mean and cv ({fit(dist.mean, dist.scv).name}) is used")
        dist = fit(dist.mean, dist.scv)
    name, params = _TO_JMT[type(dist)](dist)
    return name, params, note


_D = "java.lang.Double"
_TO_JMT: dict[type, Callable] = {
    Exponential: lambda d: ("Exponential", [("lambda", _D, 1.0 / d.mean)]),
    Deterministic: lambda d: ("Deterministic", [("t", _D, d.value)]),
    Erlang: lambda d: ("Erlang", [("alpha", _D, d.k / d.mean), ("r", "java.lang.Long", d.k)]),
    HyperExponential: lambda d: ("Hyperexponential", [
        ("p", _D, d.probs[0]), ("lambda1", _D, 1.0 / d.means[0]),
        ("lambda2", _D, 1.0 / d.means[1])]),
    Lognormal: lambda d: ("Lognormal", [
        ("mu", _D, math.log(d.mean) - math.log1p(d.cv**2) / 2),
        ("sigma", _D, math.sqrt(math.log1p(d.cv**2)))]),
    Gamma: lambda d: ("Gamma", [("alpha", _D, 1.0 / d.cv**2), ("beta", _D, d.mean * d.cv**2)]),
    Uniform: lambda d: ("Uniform", [("min", _D, d.low), ("max", _D, d.high)]),
    Pareto: lambda d: ("Pareto", [("alpha", _D, d.alpha), ("k", _D, d.scale)]),
}

CLASS_OF = {"Exponential": ("Exponential", "ExponentialPar"),
            "Deterministic": ("DeterministicDistr", "DeterministicDistrPar"),
            "Erlang": ("Erlang", "ErlangPar"),
            "Hyperexponential": ("HyperExp", "HyperExpPar"),
            "Lognormal": ("Lognormal", "LognormalPar"),
            "Gamma": ("GammaDistr", "GammaDistrPar"),
            "Uniform": ("Uniform", "UniformPar"),
            "Pareto": ("Pareto", "ParetoPar")}
"""The engine class and parameter class of each distribution JMT's GUI names."""


def from_jmt(engine_class: str, params: dict[str, float], where: str
             ) -> tuple[Distribution, str]:
    """The qmodel distribution for a JMT one and a note (empty when exact).

    >>> from_jmt("jmt.engine.random.Erlang", {"alpha": 200.0, "r": 4}, "x")
    (Erlang(k=4, mean_=0.02), '')
    """
    short = engine_class.removeprefix(ENGINE)
    reader = _FROM_JMT.get(short)
    if reader is None:
        raise QModelError(f"{where}: JMT distribution {short} has no qmodel equivalent "
                          f"(qmodel reads {', '.join(sorted(_FROM_JMT))})")
    try:
        return reader(params)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise QModelError(f"{where}: {short} with parameters {params} is not a valid "
                          f"distribution ({type(exc).__name__}: {exc})") from None


def _positive(*values: float) -> None:
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"parameters must be positive, got {values}")


def _exponential(p):
    _positive(p["lambda"])
    return Exponential(1.0 / p["lambda"]), ""


def _deterministic(p):
    if not math.isfinite(p["t"]) or p["t"] < 0:
        raise ValueError(f"t must be a non-negative time, got {p['t']}")
    return Deterministic(p["t"]), ""


def _erlang(p):
    k = int(p["r"])
    _positive(p["alpha"], k)
    return Erlang(k, k / p["alpha"]), ""


def _hyperexp(p):
    _positive(p["lambda1"], p["lambda2"])
    if not 0 <= p["p"] <= 1:
        raise ValueError(f"p must be a probability, got {p['p']}")
    return HyperExponential((p["p"], 1 - p["p"]), (1 / p["lambda1"], 1 / p["lambda2"])), ""


def _lognormal(p):
    _positive(p["sigma"])
    mean = math.exp(p["mu"] + p["sigma"] ** 2 / 2)
    return Lognormal(mean, math.sqrt(math.expm1(p["sigma"] ** 2))), ""


def _gamma(p):
    _positive(p["alpha"], p["beta"])
    return Gamma(p["alpha"] * p["beta"], 1 / math.sqrt(p["alpha"])), ""


def _uniform(p):
    if not 0 <= p["min"] < p["max"]:
        raise ValueError(f"need 0 <= min < max, got {p['min']}, {p['max']}")
    return Uniform(p["min"], p["max"]), ""


def _pareto(p):
    _positive(p["k"])
    if not p["alpha"] > 1:
        raise ValueError(f"alpha must be > 1 for a finite mean, got {p['alpha']}")
    return Pareto(p["alpha"], p["k"]), ""


def _mmpp2(p):
    """MMPP(2) gaps as a MAP: D0 = [[-(l0+s0), s0], [s1, -(l1+s1)]], D1 = diag(l0, l1);
    E[X^k] = k! pi_a (-D0)^-k 1 with pi_a the phase at an arrival."""
    l0, l1, s0, s1 = p["lambda0"], p["lambda1"], p["sigma0"], p["sigma1"]
    _positive(l0 + l1, s0, s1)
    d0 = np.array([[-(l0 + s0), s0], [s1, -(l1 + s1)]])
    d1 = np.diag([l0, l1])
    pi = np.array([s1, s0]) / (s0 + s1)          # stationary phase of D0 + D1
    pa = pi @ d1 / (pi @ d1).sum()
    inv = np.linalg.inv(-d0)
    m1 = float(pa @ inv @ np.ones(2))
    m2 = float(2 * pa @ inv @ inv @ np.ones(2))
    scv = m2 / m1**2 - 1
    d = fit(m1, scv)
    return d, (f"MMPP(2) has no qmodel equivalent: a renewal {d.name} with its gaps' mean "
               f"{m1:.6g} s and cv² {scv:.4g} is used (the gaps' correlation is lost)")


def _weibull(p):
    lam, k = p["alpha"], p["r"]
    _positive(lam, k)
    m1 = lam * math.gamma(1 + 1 / k)
    scv = math.gamma(1 + 2 / k) / math.gamma(1 + 1 / k) ** 2 - 1
    d = fit(m1, scv)
    return d, f"Weibull: qmodel has none; {d.name} with its mean and cv² {scv:.4g} is used"


def _coxian(p):
    """Phase 0 (rate lambda0), then with probability 1 - phi0 phase 1 (rate lambda1), as
    JMT's CoxianDistr samples it."""
    l0, l1, phi = p["lambda0"], p["lambda1"], p["phi0"]
    _positive(l0, l1)
    if not 0 <= phi <= 1:
        raise ValueError(f"phi0 must be a probability, got {phi}")
    go = 1 - phi
    m1 = 1 / l0 + go / l1
    m2 = 2 / l0**2 + go * (2 / (l0 * l1) + 2 / l1**2)
    scv = m2 / m1**2 - 1
    d = fit(m1, scv)
    return d, f"Coxian: qmodel has none; {d.name} with its mean and cv² {scv:.4g} is used"


def _normal(p):
    _positive(p["mean"])
    d = fit(p["mean"], (p["standardDeviation"] / p["mean"]) ** 2)
    return d, (f"Normal: qmodel has none (and times are not negative); {d.name} with its "
               "mean and cv is used")


_FROM_JMT = {"Exponential": _exponential, "DeterministicDistr": _deterministic,
             "Erlang": _erlang, "HyperExp": _hyperexp, "Lognormal": _lognormal,
             "GammaDistr": _gamma, "Uniform": _uniform, "Pareto": _pareto,
             "MMPP2Distr": _mmpp2, "Weibull": _weibull, "Normal": _normal,
             "CoxianDistr": _coxian}
