"""Phase-type (PH) distributions: moments, cdf, quantiles and the elementary laws
(exponential, Erlang, hyper- and hypoexponential, mixtures, two-moment fits). PHs built
from other PHs (sums, order statistics, walks) are in :mod:`.ph_compose`, many PHs at
once in :mod:`.ph_batch`.

A PH distribution is the time to absorption of a continuous-time Markov chain with
transient phases: it starts in phase ``i`` with probability ``alpha[i]`` (when
``alpha`` sums to less than 1 the remainder is an atom at zero) and moves with the
sub-generator ``T``; the exit rates are ``-T @ 1``.

Sources: M. F. Neuts, *Matrix-Geometric Solutions in Stochastic Models* (1981);
H. C. Tijms, *A First Course in Stochastic Models* (2003), appendix B (two-moment fits).

Quantiles and the cdf use the matrix exponential, so they are meant for small PHs:
keep the number of phases at or below :data:`MAX_EXACT_PHASES` (a few milliseconds
per evaluation). For larger compositions, such as a walk through hundreds of
stations, use :func:`.ph_compose.network_moments` and :func:`fit_two_moments` instead
of :func:`.ph_compose.network`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import breadth_first_order
from scipy.special import gammaincinv

from qmodel.solvers.checks import non_negative, positive

#: Phase count up to which a full PH is cheap enough for cdf/quantile evaluations.
MAX_EXACT_PHASES = 64
#: Most Erlang phases :func:`fit_two_moments` uses for low variability.
MAX_ERLANG_PHASES = 50

_TOL = 1e-9
_QUANTILE_RTOL = 1e-11
_EPS = float(np.finfo(float).eps)
_MAX_NEWTON_STEPS = 200


class PhaseType:
    """A phase-type distribution ``PH(alpha, T)``; immutable once built.

    >>> ph = PhaseType([1.0], [[-2.0]])          # exponential with rate 2
    >>> ph.mean(), ph.variance(), ph.n_phases
    (0.5, 0.25, 1)
    >>> round(float(ph.cdf(0.5)), 6)             # 1 - exp(-1)
    0.632121
    """

    __slots__ = ("_alpha", "_T", "_exit", "_lu", "_expm_cache")

    def __init__(self, alpha: ArrayLike, T: ArrayLike):
        alpha_arr = _check_alpha(alpha)
        T_arr = _check_subgenerator(T, alpha_arr.size)
        self._alpha = _frozen(alpha_arr)
        self._T = _frozen(T_arr)
        self._exit = _frozen(np.maximum(-T_arr.sum(axis=1), 0.0))
        _check_absorbing(T_arr, self._exit)
        self._lu: tuple[NDArray, NDArray] | None = None
        self._expm_cache: dict[float, NDArray] = {}

    @property
    def alpha(self) -> NDArray:
        """Initial probabilities over the phases (read-only)."""
        return self._alpha

    @property
    def T(self) -> NDArray:  # noqa: N802 - the sub-generator is called T everywhere
        """Sub-generator matrix (read-only)."""
        return self._T

    @property
    def exit_rates(self) -> NDArray:
        """Absorption rate out of each phase, ``-T @ 1`` (read-only)."""
        return self._exit

    @property
    def n_phases(self) -> int:
        """Number of transient phases."""
        return int(self._alpha.size)

    @property
    def atom(self) -> float:
        """Probability mass at zero, ``1 - sum(alpha)``."""
        return max(0.0, 1.0 - float(self._alpha.sum()))

    def __repr__(self) -> str:
        return f"PhaseType(n_phases={self.n_phases}, mean={self.mean():.6g}, scv={self.scv():.6g})"

    # -- moments ---------------------------------------------------------------------

    def moment(self, k: int) -> float:
        """Raw moment ``E[X^k] = k! alpha (-T)^-k 1``.

        >>> erlang(2, 1.0).moment(2)                # Erlang-2, rate 1: k(k+1)/rate^2
        6.0
        """
        if int(k) != k or k < 0:
            raise ValueError(f"moment order must be a non-negative integer, got {k}")
        if k == 0:
            return 1.0
        if self.n_phases == 0:
            return 0.0
        v = np.ones(self.n_phases)
        for _ in range(int(k)):
            v = sla.lu_solve(self._minus_t_lu(), v)
        return float(math.factorial(int(k)) * (self._alpha @ v))

    def mean(self) -> float:
        """Mean ``E[X]``."""
        return self.moment(1)

    def variance(self) -> float:
        """Variance ``E[X^2] - E[X]^2`` (clipped at 0 against rounding)."""
        return max(0.0, self.moment(2) - self.mean() ** 2)

    def scv(self) -> float:
        """Squared coefficient of variation; 0 for the point mass at zero (deterministic)."""
        m = self.mean()
        return self.variance() / m**2 if m > 0 else 0.0

    def laplace(self, s: float) -> float:
        """Laplace-Stieltjes transform ``E[exp(-s X)]`` for ``s >= 0``.

        >>> exponential(2.0).laplace(1.0)            # rate / (rate + s)
        0.6666666666666666
        """
        if not s >= 0:
            raise ValueError(f"the transform argument must be >= 0, got {s}")
        if self.n_phases == 0:
            return 1.0
        inner = np.linalg.solve(s * np.eye(self.n_phases) - self._T, self._exit)
        return self.atom + float(self._alpha @ inner)

    # -- distribution ----------------------------------------------------------------

    def sf(self, t: ArrayLike) -> float | NDArray:
        """Survival function ``P(X > t)``; scalar in, scalar out.

        >>> round(float(erlang(2, 1.0).sf(1.0)), 6)  # (1 + t) exp(-t)
        0.735759
        """
        return _shape_like(t, self._survival_and_density(t)[0])

    def cdf(self, t: ArrayLike) -> float | NDArray:
        """Cumulative distribution ``P(X <= t)``, including the atom at zero."""
        return _shape_like(t, 1.0 - self._survival_and_density(t)[0])

    def pdf(self, t: ArrayLike) -> float | NDArray:
        """Density of the continuous part (the atom at zero is not included)."""
        return _shape_like(t, self._survival_and_density(t)[1])

    def quantile(self, p: ArrayLike) -> float | NDArray:
        """Smallest ``t`` with ``P(X <= t) >= p``; 0 when the atom at zero covers ``p``.

        Safeguarded Newton iteration on ``log P(X > t)`` inside a Markov-inequality
        bracket; stops once ``P(X > t)`` is within 1e-11 (relative) of ``1 - p`` or
        within the rounding noise of the matrix exponential (about
        ``eps * max|T_ii| * t``, which matters only for very stiff PHs).

        >>> round(float(exponential(2.0).quantile(0.5)), 9)  # ln 2 / 2
        0.34657359
        >>> mixture([0.5], [exponential(1.0)]).quantile(0.4)  # atom of 0.5 at zero
        0.0
        """
        ps = np.asarray(p, dtype=float)
        if np.any((ps < 0) | (ps > 1)) or np.any(np.isnan(ps)):
            raise ValueError(f"quantile probabilities must lie in [0, 1], got {p}")
        out = np.array([self._quantile_one(float(q)) for q in ps.ravel()])
        return _shape_like(p, out)

    def _quantile_one(self, p: float) -> float:
        if p <= self.atom:
            return 0.0
        if p >= 1.0:
            return math.inf
        target = math.log1p(-p)
        lo, hi = self._quantile_bracket(p)
        t = min(max(self._gamma_guess(p), lo), hi)
        older_step = last_step = math.inf
        for _ in range(_MAX_NEWTON_STEPS):
            surv, dens = (float(x[0]) for x in self._survival_and_density(t))
            gap = math.log(surv) - target if surv > 0 else -math.inf  # > 0: left of it
            lo, hi = (t, hi) if gap > 0 else (lo, t)
            step = gap * surv / dens if dens > 0 and math.isfinite(gap) else math.inf
            noise = 8 * _EPS * self._rate_scale * t / max(surv, _EPS)  # expm error
            if abs(gap) <= max(_QUANTILE_RTOL, noise):
                return min(max(t + step, lo), hi)
            if not lo < t + step < hi or abs(step) > 0.5 * older_step:
                step = math.sqrt(lo * hi) - t  # geometric bisection
            older_step, last_step = last_step, abs(step)
            t += step
            if abs(step) <= _QUANTILE_RTOL * t:
                return t
        return t

    def _quantile_bracket(self, p: float) -> tuple[float, float]:
        """``0 < lo <= quantile <= hi``.

        ``hi`` from Markov's inequality; ``lo`` because the time to absorption is at
        least the first sojourn, which is stochastically above ``Exp(max|T_ii|)``.
        """
        s0 = 1.0 - self.atom
        lo = -math.log1p(-(p - self.atom) / s0) / (0.5 * self._rate_scale)
        hi = self.mean() / (1.0 - p)
        return min(lo, hi), hi

    def _gamma_guess(self, p: float) -> float:
        """Quantile of the gamma law with the moments of the continuous part."""
        s0 = 1.0 - self.atom
        mean, second = self.mean() / s0, self.moment(2) / s0
        shape = mean**2 / max(second - mean**2, 1e-300)
        return float(gammaincinv(shape, (p - self.atom) / s0)) * mean / shape

    def _survival_and_density(self, t: ArrayLike) -> tuple[NDArray, NDArray]:
        """``P(X > t)`` and the density at every ``t`` (flattened), in original order."""
        ts = np.atleast_1d(np.asarray(t, dtype=float)).ravel()
        surv = np.where(ts < 0, 1.0, 0.0)
        dens = np.zeros_like(ts)
        surv[np.isnan(ts)] = np.nan
        dens[np.isnan(ts)] = np.nan
        todo = np.flatnonzero((ts >= 0) & np.isfinite(ts))
        if self.n_phases == 0 or todo.size == 0:
            return surv, dens
        order = todo[np.argsort(ts[todo], kind="stable")]
        v, t_prev = self._alpha.copy(), 0.0
        for i in order:
            if ts[i] > t_prev:
                v = v @ self._expm(ts[i] - t_prev)
                t_prev = ts[i]
            surv[i] = min(1.0, max(0.0, v.sum()))
            dens[i] = max(0.0, v @ self._exit)
        return surv, dens

    def _expm(self, dt: float) -> NDArray:
        """``exp(T dt)``, cached per step so evenly spaced grids cost one exponential."""
        key = float(f"{dt:.12g}")
        if key not in self._expm_cache:
            if len(self._expm_cache) > 64:
                self._expm_cache.clear()
            self._expm_cache[key] = _expm_scaled(self._T * key)
        return self._expm_cache[key]

    @property
    def _rate_scale(self) -> float:
        return 2.0 * float(np.abs(np.diag(self._T)).max())

    def _minus_t_lu(self) -> tuple[NDArray, NDArray]:
        if self._lu is None:
            self._lu = sla.lu_factor(-self._T)
        return self._lu


# -- constructors -------------------------------------------------------------------


def exponential(rate: float) -> PhaseType:
    """Exponential distribution with the given rate (mean ``1/rate``).

    >>> exponential(4.0).mean()
    0.25
    """
    return PhaseType([1.0], [[-positive("rate", rate)]])


def erlang(k: int, rate: float) -> PhaseType:
    """Erlang-``k``: ``k`` exponential phases, each with ``rate`` (mean ``k/rate``).

    Same parametrisation as ``scipy.stats.erlang(k, scale=1/rate)``.

    >>> erlang(3, 6.0).mean(), round(erlang(3, 6.0).scv(), 12)
    (0.5, 0.333333333333)
    """
    if int(k) != k or k < 1:
        raise ValueError(f"Erlang phase count must be a positive integer, got {k}")
    return _erlang_chain([1.0], int(k), positive("rate", rate))


def hyperexponential(probs: Sequence[float], rates: Sequence[float]) -> PhaseType:
    """Mixture of exponentials: rate ``rates[i]`` with probability ``probs[i]``.

    Probabilities summing to less than 1 leave an atom at zero.

    >>> hyperexponential([0.5, 0.5], [1.0, 3.0]).mean()  # 0.5 * 1 + 0.5 / 3
    0.6666666666666666
    """
    rates_arr = np.asarray(rates, dtype=float)
    if rates_arr.ndim != 1 or rates_arr.size != np.size(probs):
        raise ValueError("probs and rates must be 1-D sequences of the same length")
    for r in rates_arr:
        positive("rate", r)
    return PhaseType(probs, np.diag(-rates_arr))


def hypoexponential(rates: Sequence[float]) -> PhaseType:
    """Exponential phases in series, with rates ``rates`` in turn (a sum of exponentials).

    >>> hypoexponential([1.0, 2.0]).mean()  # 1 + 1/2
    1.5
    """
    rates_arr = np.array([positive("rate", r) for r in rates])
    alpha = np.zeros(rates_arr.size)
    alpha[:1] = 1.0
    return PhaseType(alpha, np.diag(-rates_arr) + np.diag(rates_arr[:-1], 1))


def zero() -> PhaseType:
    """Point mass at zero (a PH with no phases).

    >>> zero().mean(), zero().cdf(0.0), zero().n_phases
    (0.0, 1.0, 0)
    """
    return PhaseType(np.zeros(0), np.zeros((0, 0)))


def fit_two_moments(mean: float, scv: float) -> PhaseType:
    """A PH with the given mean and squared coefficient of variation (Tijms' recipe).

    * ``mean == 0``: point mass at zero;
    * ``scv >= 1/MAX_ERLANG_PHASES``, ``scv < 1``: mixture of Erlang(k-1) and Erlang(k)
      with a common rate (``1/k <= scv <= 1/(k-1)``), matching both moments exactly;
    * ``scv < 1/MAX_ERLANG_PHASES``, including 0 (deterministic): Erlang-50, whose SCV
      0.02 is the closest a 50-phase PH can get -- the mean is exact, the SCV is not;
    * ``scv == 1``: exponential;
    * ``scv > 1``: two-phase hyperexponential with balanced means.

    Source: Tijms, *A First Course in Stochastic Models* (2003), two-moment fits.

    >>> ph = fit_two_moments(2.0, 0.4)
    >>> round(ph.mean(), 12), round(ph.scv(), 12), ph.n_phases
    (2.0, 0.4, 3)
    >>> round(fit_two_moments(1.0, 4.0).scv(), 12)
    4.0
    """
    mean = non_negative("mean", mean)
    scv = non_negative("scv", scv)
    if mean == 0.0:
        return zero()
    if scv == 1.0:
        return exponential(1.0 / mean)
    if scv > 1.0:
        r = math.sqrt((scv - 1.0) / (scv + 1.0))
        p1 = 0.5 * (1.0 + r)
        p2 = 1.0 - p1
        if p2 == 0.0:  # scv past ~1e16: p1 rounds to 1; 1 - r = 2 / ((scv + 1)(1 + r))
            p2 = 1.0 / ((scv + 1.0) * (1.0 + r))
        return hyperexponential([p1, p2], [2.0 * p1 / mean, 2.0 * p2 / mean])
    if scv < 1.0 / MAX_ERLANG_PHASES:
        return erlang(MAX_ERLANG_PHASES, MAX_ERLANG_PHASES / mean)
    k = min(MAX_ERLANG_PHASES, max(2, math.ceil(1.0 / scv)))
    root = math.sqrt(max(0.0, k * (1.0 + scv) - k * k * scv))
    p = min(1.0, max(0.0, (k * scv - root) / (1.0 + scv)))  # weight of Erlang(k-1)
    return _erlang_chain([1.0 - p, p], k, (k - p) / mean)


def mixture(weights: Sequence[float], phs: Sequence[PhaseType]) -> PhaseType:
    """``phs[i]`` with probability ``weights[i]``; leftover weight is an atom at zero.

    >>> round(mixture([0.25, 0.75], [exponential(1.0), erlang(2, 2.0)]).mean(), 12)
    1.0
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 1 or w.size != len(phs):
        raise ValueError("weights and phs must have the same length")
    if np.any(w < 0) or w.sum() > 1 + _TOL:
        raise ValueError(f"mixture weights must be >= 0 and sum to at most 1, got {weights}")
    alpha = np.concatenate([wi * ph.alpha for wi, ph in zip(w, phs, strict=True)] + [np.zeros(0)])
    T = sla.block_diag(*[ph.T for ph in phs]) if phs else np.zeros((0, 0))
    return PhaseType(alpha, np.asarray(T).reshape(alpha.size, alpha.size))


# -- helpers ------------------------------------------------------------------------


def _erlang_chain(start: Sequence[float], k: int, rate: float) -> PhaseType:
    """``k`` phases in series with a common rate; ``start[j]`` enters at phase ``j``."""
    alpha = np.zeros(k)
    alpha[: len(start)] = start
    T = np.diag(np.full(k, -rate)) + np.diag(np.full(k - 1, rate), 1)
    return PhaseType(alpha, T)


def _expm_scaled(A: NDArray) -> NDArray:
    """``expm(A)`` by explicit scaling and squaring, fast for stiff sub-generators.

    The squarings multiply non-negative matrices, so they are forward stable here.
    """
    norm = float(np.abs(A).sum(axis=0).max()) if A.size else 0.0
    squarings = max(0, math.ceil(math.log2(norm))) if norm > 1 else 0
    E = sla.expm(A / 2.0**squarings)
    for _ in range(squarings):
        E = E @ E
    return E


def _check_alpha(alpha: ArrayLike) -> NDArray:
    a = np.array(alpha, dtype=float).ravel()
    if not np.all(np.isfinite(a)) or np.any(a < -_TOL):
        raise ValueError(f"alpha must be finite and non-negative, got {alpha}")
    a = np.maximum(a, 0.0)
    total = a.sum()
    if total > 1 + _TOL:
        raise ValueError(f"alpha must sum to at most 1, got {total}")
    return a / total if total > 1 else a


def _check_subgenerator(T: ArrayLike, n: int) -> NDArray:
    M = np.array(T, dtype=float)
    if M.shape != (n, n):
        raise ValueError(f"T must be a {n}x{n} matrix to match alpha, got shape {M.shape}")
    if not np.all(np.isfinite(M)):
        raise ValueError("T must be finite")
    off = M - np.diag(np.diag(M))
    scale = np.abs(np.diag(M)).max() if n else 0.0
    if np.any(np.diag(M) >= 0) or np.any(off < -_TOL * scale):
        raise ValueError("T needs a negative diagonal and non-negative off-diagonal entries")
    if np.any(M.sum(axis=1) > _TOL * scale):
        raise ValueError("T rows must sum to <= 0 (exit rates are -T @ 1)")
    return np.diag(np.diag(M)) + np.maximum(off, 0.0)


def _check_absorbing(T: NDArray, exit_rates: NDArray) -> None:
    """Every phase must be able to reach absorption, or the time would be infinite."""
    n = T.shape[0]
    rows, cols = np.nonzero(T > 0)  # phase rows -> cols; the diagonal is negative
    exits = np.flatnonzero(exit_rates > 0)
    src = np.concatenate([cols, np.full(exits.size, n)])  # reversed edges; n = absorption
    dst = np.concatenate([rows, exits])
    graph = sp.csr_matrix((np.ones(src.size), (src, dst)), shape=(n + 1, n + 1))
    reached = breadth_first_order(graph, n, directed=True, return_predecessors=False)
    if reached.size < n + 1:
        raise ValueError("some phases can never be left: T is singular (no path to exit)")


def _frozen(a: NDArray) -> NDArray:
    a.setflags(write=False)
    return a


def _shape_like(template: ArrayLike, values: NDArray) -> float | NDArray:
    if np.ndim(template) == 0:
        return float(values.ravel()[0])
    return values.reshape(np.shape(template))
