"""The mean wait of a GI/G/1 queue and its probability of waiting from the cumulants of
its increments ``U`` (a service time minus the next inter-arrival time), by Spitzer's
identities: ``E[W] = sum_n E[(U_1 + ... + U_n)^+] / n`` and ``P(W = 0) = exp(-sum_n
P(U_1 + ... + U_n > 0) / n)``, each ``n``-fold sum taken as a translated gamma with its
exact mean, variance and third cumulant (a normal when nearly symmetric, and beyond
``SPITZER_TERMS`` terms, summed in closed form). Used for the queue of batches of
:mod:`.microbatch`.

Sources: F. Spitzer, "A combinatorial lemma and its application to probability theory",
Trans. AMS 82, 1956; S. Asmussen, *Applied Probability and Queues*, 2nd ed. (2003); H.
Seal, "Approximations to risk theory's F(x, t) by means of the gamma distribution", ASTIN
Bulletin 9, 1977.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

SPITZER_TERMS = 2**14
_NORMAL_SKEW = 1e-3   # below this skewness an n-fold sum is taken as normal

Cumulants = tuple[float, float, float]


def gig1_wait(u: Cumulants) -> float:
    """Mean wait of a GI/G/1 queue whose increments ``U`` (a service time minus the next
    inter-arrival time) have the cumulants ``u``, mean below 0: Spitzer's identity, each
    ``n``-fold sum of ``U`` a translated gamma (a normal when nearly symmetric or the
    third cumulant is not finite), summed until the terms are negligible, those beyond
    ``SPITZER_TERMS`` as normal ones in closed form.

    D/M/1 (the sums are translated gammas: exact), mean service 1, arrivals every 2:
    ``sigma / (1 - sigma)`` with ``sigma = exp(-2 (1 - sigma))``

    >>> round(gig1_wait((-1.0, 1.0, 2.0)), 4)
    0.255
    """
    mean, var, _ = u
    if var == 0:
        return 0.0
    if not math.isfinite(var):
        return math.inf
    head, done = 0.0, 0
    while done < SPITZER_TERMS:      # in blocks of doubling length, until negligible
        n = np.arange(done + 1, 2 * done + 65, dtype=float)
        terms = _positive_part(n * mean, n * var, n * u[2]) / n
        head += float(terms.sum())
        done = int(n[-1])
        if terms[-1] * done <= 1e-12 * head:
            break
    return head + _normal_tail(mean, var, done + 0.5)


def gig1_wait_probability(u: Cumulants) -> float:
    """Probability that a GI/G/1 customer waits, for increments with the cumulants ``u``
    (mean below 0): Spitzer's ``P(W = 0) = exp(-sum_n P(U_1 + ... + U_n > 0) / n)``, each
    sum a translated gamma as in :func:`gig1_wait`, those beyond ``SPITZER_TERMS`` normal.

    D/M/1 (exact with translated gammas), mean service 1, arrivals every 2: ``sigma``,
    the root of ``sigma = exp(-2 (1 - sigma))``

    >>> round(gig1_wait_probability((-1.0, 1.0, 2.0)), 4)
    0.2032
    """
    mean, var, _ = u
    if var == 0 or not math.isfinite(var):
        return 0.0 if var == 0 else 1.0
    head, done = 0.0, 0
    while done < SPITZER_TERMS:
        n = np.arange(done + 1, 2 * done + 65, dtype=float)
        terms = _positive_probability(n * mean, n * var, n * u[2]) / n
        head += float(terms.sum())
        done = int(n[-1])
        if terms[-1] * done <= 1e-12 * max(head, 1e-300):
            break
    a = -mean / math.sqrt(var)      # the normal terms beyond: 2 int_{a sqrt(N)} Phi(-x)/x
    tail = 2 * integrate.quad(lambda x: special.ndtr(-x) / x, a * math.sqrt(done + 0.5),
                              math.inf)[0]
    return -math.expm1(-(head + tail))


def _positive_part(k1: np.ndarray, k2: np.ndarray, k3: np.ndarray) -> np.ndarray:
    """``E[Y^+]`` for ``Y`` with cumulants ``k1, k2, k3``: a gamma translated (and mirrored
    when ``k3 < 0``) to match them, or a normal when the skewness is below
    ``_NORMAL_SKEW`` or not finite."""
    sd = np.sqrt(k2)
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = k3 / k2**1.5
    normal = ~np.isfinite(skew) | (np.abs(skew) < _NORMAL_SKEW)
    out = np.empty_like(k1)
    z = k1[normal] / sd[normal]
    out[normal] = sd[normal] * (z * special.ndtr(z) + np.exp(-z**2 / 2) / math.sqrt(2 * math.pi))
    g = ~normal
    sign = np.sign(k3[g])
    shape = 4 / skew[g]**2
    scale = np.abs(k3[g]) / (2 * k2[g])
    mean = sign * k1[g]                       # of Z = sign Y = shift + Gamma(shape, scale)
    h = np.maximum(shape * scale - mean, 0.0)  # -shift
    x = h / scale
    z_plus = np.where(h > 0, shape * scale * special.gammaincc(shape + 1, x)
                      - h * special.gammaincc(shape, x), mean)
    out[g] = np.where(sign > 0, z_plus, z_plus - mean)   # E[(-Z)^+] = E[Z^+] - E[Z]
    return out


def _positive_probability(k1: np.ndarray, k2: np.ndarray, k3: np.ndarray) -> np.ndarray:
    """``P(Y > 0)`` for ``Y`` with cumulants ``k1, k2, k3``, fitted as in
    :func:`_positive_part`."""
    sd = np.sqrt(k2)
    with np.errstate(invalid="ignore", divide="ignore"):
        skew = k3 / k2**1.5
    normal = ~np.isfinite(skew) | (np.abs(skew) < _NORMAL_SKEW)
    out = np.empty_like(k1)
    out[normal] = special.ndtr(k1[normal] / sd[normal])
    g = ~normal
    sign = np.sign(k3[g])
    shape = 4 / skew[g]**2
    scale = np.abs(k3[g]) / (2 * k2[g])
    h = shape * scale - sign * k1[g]            # Y > 0 iff sign (Gamma - h) > 0
    above = np.where(h > 0, special.gammaincc(shape, np.maximum(h, 0.0) / scale), 1.0)
    out[g] = np.where(sign > 0, above, 1.0 - above)
    return out


def _normal_tail(mean: float, var: float, start: float) -> float:
    """``sum_{n > start} E[Y_n^+] / n`` for ``Y_n`` normal with mean ``n mean`` and
    variance ``n var``, as an integral over ``n``: ``var / |mean| ((1 + x^2) Phi(-x) - x
    phi(x))`` with ``x = |mean| sqrt(start / var)``."""
    x = -mean * math.sqrt(start / var)
    tail = (1 + x * x) * special.ndtr(-x) - x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    return max(0.0, float(var / -mean * tail))
