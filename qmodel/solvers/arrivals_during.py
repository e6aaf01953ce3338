"""Poisson arrivals during one service time: ``a_k = P(N = k) = E[e^{-lam S} (lam S)^k / k!]``.

The building block of the M/G/1-type embedded Markov chains (Gross & Harris, *Fundamentals
of Queueing Theory*, M/G/1/K; Tijms, *A First Course in Stochastic Models*, ch. 9). Closed
forms where they exist: a Poisson pmf (fixed service), a geometric (exponential), a negative
binomial (Erlang, gamma), mixtures of these (hyperexponential, empirical, class mixtures);
numerical integration over the service law's quantile function for the others (lognormal,
uniform, Pareto). Terms are computed in log space, so large counts and loads neither
overflow nor turn into NaN.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln, ndtri, xlogy

from ..distributions import (
    Deterministic,
    Distribution,
    Empirical,
    Erlang,
    Exponential,
    Gamma,
    HyperExponential,
    Lognormal,
    Mixture,
    Pareto,
    Uniform,
)


@functools.singledispatch
def arrival_probabilities(service: Distribution, lam: float, n: int) -> NDArray:
    """``a_0 .. a_{n-1}``: the probabilities of ``k`` Poisson(``lam``) arrivals during one
    draw of ``service``.

    >>> a = arrival_probabilities(Exponential(1.0), 1.0, 3)  # geometric: (1/2)^(k+1)
    >>> a.round(12).tolist()
    [0.5, 0.25, 0.125]
    """
    raise NotImplementedError(f"no arrival probabilities for {type(service).__name__}")


@arrival_probabilities.register
def _(service: Deterministic, lam: float, n: int) -> NDArray:
    return _poisson(np.arange(n), lam * service.value)


@arrival_probabilities.register
def _(service: Exponential, lam: float, n: int) -> NDArray:
    return _negative_binomial(np.arange(n), 1.0, lam * service.mean)


@arrival_probabilities.register
def _(service: Erlang, lam: float, n: int) -> NDArray:
    return _negative_binomial(np.arange(n), service.k, lam * service.mean / service.k)


@arrival_probabilities.register
def _(service: Gamma, lam: float, n: int) -> NDArray:
    shape = 1.0 / service.scv
    return _negative_binomial(np.arange(n), shape, lam * service.mean / shape)


@arrival_probabilities.register
def _(service: HyperExponential, lam: float, n: int) -> NDArray:
    k = np.arange(n)
    return sum(p * _negative_binomial(k, 1.0, lam * m)
               for p, m in zip(service.probs, service.means))


@arrival_probabilities.register
def _(service: Empirical, lam: float, n: int) -> NDArray:
    values, counts = np.unique(service.samples, return_counts=True)
    return counts / counts.sum() @ _poisson(np.arange(n)[None, :], lam * values[:, None])


@arrival_probabilities.register
def _(service: Mixture, lam: float, n: int) -> NDArray:
    return sum(p * arrival_probabilities(d, lam, n) for p, d in zip(service.probs, service.parts))


@arrival_probabilities.register
def _(service: Lognormal, lam: float, n: int) -> NDArray:
    sigma = math.sqrt(math.log1p(service.cv**2))
    mu = math.log(service.mean) - sigma**2 / 2.0
    return _integrated(lambda u: math.exp(mu + sigma * ndtri(u)), lam, n)


@arrival_probabilities.register
def _(service: Uniform, lam: float, n: int) -> NDArray:
    return _integrated(lambda u: service.low + u * (service.high - service.low), lam, n)


@arrival_probabilities.register
def _(service: Pareto, lam: float, n: int) -> NDArray:
    return _integrated(lambda u: service.scale * (1.0 - u) ** (-1.0 / service.alpha), lam, n)


def _poisson(k: NDArray, mean: float | NDArray) -> NDArray:
    """Poisson pmf ``e^-mean mean^k / k!``."""
    return np.exp(xlogy(k, mean) - mean - gammaln(k + 1.0))


def _negative_binomial(k: NDArray, shape: float, x: float) -> NDArray:
    """Arrivals during a Gamma(``shape``) time with ``x = lam * scale``: ``C(k + shape - 1,
    k) (1 + x)^-shape (x / (1 + x))^k``."""
    log_binomial = gammaln(k + shape) - gammaln(shape) - gammaln(k + 1.0)
    return np.exp(log_binomial - shape * np.log1p(x) + xlogy(k, x) - k * np.log1p(x))


def _integrated(quantile: Callable[[float], float], lam: float, n: int) -> NDArray:
    """``E[poisson_k(lam S)]`` for all ``k < n`` at once, by adaptive quadrature over
    ``u`` with ``S = quantile(u)``: a finite range whatever the law's support and scale."""
    from scipy.integrate import quad_vec  # loaded on first use

    k = np.arange(n)
    log_factorial = gammaln(k + 1.0)

    def pmf(u: float) -> NDArray:
        mean = lam * quantile(u)
        return np.exp(xlogy(k, mean) - mean - log_factorial)

    a, _ = quad_vec(pmf, 0.0, 1.0, epsabs=1e-14, epsrel=1e-10, norm="max")
    return np.clip(a, 0.0, 1.0)
