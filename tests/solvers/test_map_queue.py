"""The MAP/M/c queue by the matrix-geometric method: against Erlang C when the arrivals
are Poisson, against the truncated (jobs, phase) Markov chain solved here for bursty
MMPP-2 arrivals, and stable at many servers and near saturation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve
from scipy.stats import gamma

from qmodel.errors import UnstableError
from qmodel.model.mmpp import MMPP2
from qmodel.solvers.map_queue import mean_rate, rate_matrix, solve_map_mc
from qmodel.solvers.mmc import erlang_c, scalar_response_quantile


def chain(d0: np.ndarray, d1: np.ndarray, c: int, mu: float, cap: int) -> np.ndarray:
    """pi[n, phase] of the MAP/M/c chain truncated at ``cap`` jobs, by a sparse solve."""
    m = len(d0)
    rows, cols, vals = [], [], []
    for n in range(cap + 1):
        for j in range(m):
            i = n * m + j
            for k in range(m):
                if k != j and d0[j, k]:
                    rows.append(i), cols.append(n * m + k), vals.append(d0[j, k])
                if n < cap and d1[j, k]:
                    rows.append(i), cols.append((n + 1) * m + k), vals.append(d1[j, k])
            if n:
                rows.append(i), cols.append((n - 1) * m + j), vals.append(min(n, c) * mu)
    size = (cap + 1) * m
    q = sp.csr_matrix((vals, (rows, cols)), shape=(size, size)).tolil()
    q.setdiag(-np.asarray(q.sum(axis=1)).ravel())
    a = q.T.tolil()
    a[0, :] = 1.0
    pi = spsolve(a.tocsc(), np.eye(size)[0]).reshape(cap + 1, m)
    assert pi[-1].sum() < 1e-13  # the truncation is invisible
    return pi


@pytest.mark.parametrize("lam, mu, c", [(0.5, 1.0, 1), (8.0, 1.0, 10), (95.0, 1.0, 100)])
def test_poisson_arrivals_give_erlang_c(lam, mu, c):
    q = solve_map_mc(np.array([[-lam]]), np.array([[lam]]), c, mu)
    p_wait = erlang_c(c, lam / mu)
    assert q.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert q.mean_wait == pytest.approx(p_wait / (c * mu - lam), rel=1e-9)
    assert q.mean_in_system == pytest.approx(lam * q.mean_response, rel=1e-12)  # Little
    for p in (0.5, 0.95, 0.99):
        expected = scalar_response_quantile(p, p_wait, mu, c * mu - lam)
        assert q.response_quantile(p) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("c, mu", [(1, 100.0), (2, 40.0), (3, 25.0)])
def test_bursty_arrivals_against_the_markov_chain(c, mu):
    process = MMPP2((30.0, 90.0), (2.0, 4.0))
    d0, d1 = process.generators
    q = solve_map_mc(d0, d1, c, mu)
    pi = chain(d0, d1, c, mu, cap=800)
    n = np.arange(len(pi))
    lam = mean_rate(d0, d1)
    assert lam == pytest.approx(process.mean_rate, rel=1e-12)
    assert q.mean_in_system == pytest.approx(float(n @ pi.sum(axis=1)), rel=1e-8)
    assert q.mean_in_queue == pytest.approx(float(np.maximum(n - c, 0) @ pi.sum(axis=1)),
                                            rel=1e-8)
    assert q.p_idle == pytest.approx(pi[0].sum(), rel=1e-8)
    arrive = pi @ np.diag(d1) / lam  # what an arrival finds: arrival-stationary
    assert q.p_wait == pytest.approx(arrive[c:].sum(), rel=1e-8)
    # the response law by another route: the Erlang mixture summed term by term
    theta = c * mu
    k = n[c:] - c + 1
    for t in (0.5 / mu, 3 / mu, 20 / mu):
        own = np.exp(-mu * t)  # P(S > t)
        waits = gamma.sf(t, k, scale=1 / theta)
        if c == 1:  # the wait and the service: Erlang(k + 1, mu)
            conv = gamma.sf(t, k + 1, scale=1 / mu) - waits
        else:  # P(S > t - E_k, E_k <= t) = e^(-mu t) (theta/(theta-mu))^k P(G_k <= t)
            conv = np.exp(-mu * t + k * math.log(theta / (theta - mu))
                          + gamma.logcdf(t, k, scale=1 / (theta - mu)))
        sf = arrive[:c].sum() * own + arrive[c:] @ (waits + conv)
        assert q.response_sf(t) == pytest.approx(sf, rel=1e-7, abs=1e-12)
    assert q.mean_in_system > 1.3 * lam / mu  # the bursts show against Poisson's L


def test_many_servers_and_near_saturation_stay_finite():
    process = MMPP2((3000.0, 9000.0), (2.0, 4.0))
    d0, d1 = process.generators
    big = solve_map_mc(d0, d1, 1000, process.mean_rate / 950)
    assert 0 < big.p_wait < 1 and big.utilization == pytest.approx(0.95)
    assert big.mean_in_system == pytest.approx(big.rate * big.mean_response, rel=1e-9)
    assert math.isfinite(big.response_quantile(0.999))
    tight = solve_map_mc(*MMPP2((30.0, 90.0), (2.0, 4.0)).generators, 1, 50.0 / 0.999)
    assert math.isfinite(tight.mean_in_system) and tight.mean_in_system > 999
    assert tight.response_quantile(0.99) > tight.mean_response
    with pytest.raises(UnstableError, match="app: unstable"):
        solve_map_mc(d0, d1, 1, 0.99 * process.mean_rate, "app")


def test_rate_matrix_solves_its_equation():
    process = MMPP2((30.0, 90.0), (2.0, 4.0))
    d0, d1 = process.generators
    a2 = 2 * 40.0 * np.eye(2)
    r = rate_matrix(d1, d0 - a2, a2)
    assert np.abs(d1 + r @ (d0 - a2) + r @ r @ a2).max() < 1e-10
    assert (r >= 0).all() and max(abs(np.linalg.eigvals(r))) < 1
