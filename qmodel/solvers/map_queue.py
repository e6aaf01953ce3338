"""A MAP/M/c queue, exactly, by the matrix-geometric method (a quasi-birth-death process).

Arrivals are a Markovian arrival process ``(D0, D1)`` (an MMPP-2 is one: bursts, with
correlated gaps), service is exponential with rate ``mu`` on each of ``c`` servers, FCFS,
unlimited room. The state is (jobs present n, arrival phase); from level c on the
blocks repeat: up ``A0 = D1``, local ``A1 = D0 - c·mu·I``, down ``A2 = c·mu·I``, so the
stationary vector is ``pi_n = pi_c R^(n-c)`` for n >= c, where R is the minimal
non-negative solution of ``A0 + R A1 + R^2 A2 = 0`` (Neuts 1981). R comes from G, the
first-passage matrix down one level, by logarithmic reduction (Latouche & Ramaswami
1993: quadratic convergence, so it stays fast near saturation); the levels 0..c are a
sparse linear system, so thousands of servers cost milliseconds.

An arrival that finds n >= c jobs (arrival-stationary: ``pi_n D1 1 / lambda``) waits for
n - c + 1 service completions at rate c·mu, an Erlang; summed over n that mixture is a
matrix exponential, and its response adds its own exponential service
(:meth:`MapQueue.response_sf`); percentiles invert it numerically.

Sources: M. F. Neuts, *Matrix-Geometric Solutions in Stochastic Models* (1981);
G. Latouche & V. Ramaswami, *Introduction to Matrix Analytic Methods in Stochastic
Modeling* (1999), ch. 6 and 8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.linalg import expm
from scipy.optimize import brentq
from scipy.sparse.linalg import spsolve

from ..errors import UnstableError


@dataclass(frozen=True)
class MapQueue:
    """The stationary MAP/M/c queue: per-second ``rate`` of arrivals, jobs present
    (``mean_in_queue``, ``mean_in_system``), ``p_wait`` (an arrival waits), ``p_idle``
    (all servers idle, time-stationary) and mean times in seconds. ``boundary`` is
    ``pi_c``, ``r`` the rate matrix and ``arrive`` ``D1 1 / lambda``: an arrival finds
    ``n >= c`` jobs with probability ``pi_c R^(n-c) arrive``."""

    rate: float
    servers: int
    mu: float
    mean_in_queue: float
    mean_in_system: float
    p_wait: float
    p_idle: float
    boundary: NDArray
    r: NDArray
    arrive: NDArray

    @property
    def utilization(self) -> float:
        return self.rate / (self.servers * self.mu)

    @property
    def mean_wait(self) -> float:
        return self.mean_in_queue / self.rate

    @property
    def mean_response(self) -> float:
        return self.mean_wait + 1.0 / self.mu

    def response_sf(self, t: float) -> float:
        """P(response > t), in closed form. A waiting arrival's wait has density
        ``theta pi_c e^(-Bt) arrive`` with ``theta = c·mu`` and ``B = theta (I - R)`` (the
        Erlang mixture summed), so P(W > t) = pi_c (I-R)^-1 e^(-Bt) arrive, and the
        response adds the job's own exponential service: the convolution is the corner
        of one matrix exponential (Van Loan 1978), every exponent decaying."""
        if t <= 0:
            return 1.0
        m, mu, theta = len(self.r), self.mu, self.servers * self.mu
        b = theta * (np.eye(m) - self.r)
        h = np.zeros((m + 1, m + 1))
        h[:m, :m], h[:m, m], h[m, m] = -b, self.arrive, -mu
        e = expm(h * t)
        waited = (self.boundary @ np.linalg.solve(np.eye(m) - self.r, e[:m, :m] @ self.arrive)
                  + theta * self.boundary @ e[:m, m])
        return float(min(1.0, max(0.0, (1.0 - self.p_wait) * math.exp(-mu * t) + waited)))

    def response_quantile(self, p: float) -> float:
        """The response time exceeded with probability 1 - p (0 < p < 1)."""
        hi = self.mean_response
        while self.response_sf(hi) > 1.0 - p:
            hi *= 2.0
        return float(brentq(lambda t: self.response_sf(t) - (1.0 - p), 0.0, hi,
                            xtol=1e-12 * hi, rtol=1e-10))


def mean_rate(d0: NDArray, d1: NDArray) -> float:
    """The long-run arrival rate of the MAP: phi D1 1, phi stationary for D0 + D1."""
    phi = _stationary(np.asarray(d0) + np.asarray(d1))
    return float(phi @ np.asarray(d1) @ np.ones(len(phi)))


def solve_map_mc(d0: NDArray, d1: NDArray, servers: int, mu: float,
                 name: str | None = None) -> MapQueue:
    """Solve the MAP/M/c queue; :class:`UnstableError` (naming ``name``) when
    lambda >= c·mu.

    >>> q = solve_map_mc(np.array([[-2.0]]), np.array([[2.0]]), 1, 4.0)  # M/M/1, rho 0.5
    >>> round(q.mean_in_system, 9), round(q.mean_response, 9), round(q.p_wait, 9)
    (1.0, 0.5, 0.5)
    """
    d0, d1 = np.asarray(d0, float), np.asarray(d1, float)
    m, c = len(d0), int(servers)
    lam = mean_rate(d0, d1)
    if lam >= c * mu:
        raise UnstableError(lam / (c * mu), name, "arrivals at or above c·mu")
    eye = np.eye(m)
    r = rate_matrix(d1, d0 - c * mu * eye, c * mu * eye)
    levels = _boundary(d0, d1, c, mu, r)
    pc = levels[c]
    inv = np.linalg.inv(eye - r)
    ones = np.ones(m)
    lq = float(pc @ r @ inv @ inv @ ones)
    busy = sum(n * levels[n].sum() for n in range(c)) + c * float(pc @ inv @ ones)
    arrive = d1 @ ones / lam
    p_wait = float(pc @ inv @ arrive)  # an arrival finds all servers busy
    return MapQueue(lam, c, mu, lq, float(lq + busy), p_wait, float(levels[0].sum()), pc, r,
                    arrive)


def rate_matrix(a0: NDArray, a1: NDArray, a2: NDArray, tol: float = 1e-14,
                max_steps: int = 200) -> NDArray:
    """R of a positive recurrent QBD (up ``a0``, local ``a1``, down ``a2``) by
    logarithmic reduction for G, then ``R = A0 (-A1 - A0 G)^-1``.

    >>> r = rate_matrix(np.array([[1.0]]), np.array([[-3.0]]), np.array([[2.0]]))
    >>> round(float(r[0, 0]), 12)  # M/M/1 at rho 1/2: R = rho
    0.5
    """
    m = len(a1)
    eye = np.eye(m)
    solve = np.linalg.solve
    b0, b2 = solve(-a1, a0), solve(-a1, a2)
    g, t = b2.copy(), b0.copy()
    for _ in range(max_steps):
        u = b0 @ b2 + b2 @ b0
        b0, b2 = solve(eye - u, b0 @ b0), solve(eye - u, b2 @ b2)
        g = g + t @ b2
        t = t @ b0
        if np.max(np.abs(1.0 - g.sum(axis=1))) < tol:
            break
    return a0 @ np.linalg.inv(-a1 - a0 @ g)


def _boundary(d0: NDArray, d1: NDArray, c: int, mu: float, r: NDArray) -> list[NDArray]:
    """pi_0 .. pi_c from the balance equations of levels 0..c (``x Q = 0``, level c's
    return from c + 1 folded in as ``pi_c R · c·mu``), one replaced by the normalisation."""
    m = len(d0)
    servers = np.minimum(np.arange(c + 1), c) * mu
    q = (sp.kron(sp.identity(c + 1), sp.csr_matrix(d0))
         - sp.kron(sp.diags(servers), sp.identity(m))
         + sp.kron(sp.diags(np.ones(c), 1), sp.csr_matrix(d1))
         + sp.kron(sp.diags(servers[1:], -1), sp.identity(m))).tolil()
    q[c * m:, c * m:] = q[c * m:, c * m:].toarray() + c * mu * r
    norm = np.ones((c + 1) * m)
    norm[c * m:] = np.linalg.solve(np.eye(m) - r, np.ones(m))
    system = sp.vstack([sp.csr_matrix(norm), q.T.tocsr()[1:]]).tocsc()
    rhs = np.zeros((c + 1) * m)
    rhs[0] = 1.0
    x = np.maximum(spsolve(system, rhs), 0.0)
    return [x[n * m:(n + 1) * m] for n in range(c + 1)]


def _stationary(q: NDArray) -> NDArray:
    """The stationary distribution of an irreducible generator ``q``."""
    m = len(q)
    a = np.vstack([q.T, np.ones(m)])
    b = np.zeros(m + 1)
    b[-1] = 1.0
    return np.linalg.lstsq(a, b, rcond=None)[0]
