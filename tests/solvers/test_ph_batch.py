"""Batched phase-type quantiles and matrix exponentials against one-at-a-time references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

from qmodel.solvers.ph_batch import expm, ph_quantiles
from qmodel.solvers.phase_type import erlang, exponential, fit_two_moments, hyperexponential


def test_batched_expm_matches_scipy_on_sub_generators():
    rng = np.random.default_rng(3)
    rates = rng.uniform(0.0, 1.0, size=(5, 4, 4))
    stack = rates - np.eye(4) * (rates.sum(axis=-1, keepdims=True) + 0.5)  # rows sum < 0
    stack *= np.array([0.01, 1.0, 10.0, 100.0, 1e3])[:, None, None]
    for a, e in zip(stack, expm(stack)):
        np.testing.assert_allclose(e, sla.expm(a), rtol=1e-11, atol=1e-13)


def test_batched_quantiles_match_the_phase_type_one_at_a_time():
    phs = [exponential(2.0), erlang(3, 1.5), hyperexponential([0.2, 0.8], [0.1, 5.0]),
           fit_two_moments(1.0, 4.0)]
    m = max(ph.n_phases for ph in phs)
    alpha = np.zeros((len(phs), m))
    t_matrix = np.zeros((len(phs), m, m))
    for k, ph in enumerate(phs):  # pad with phases that are never entered
        n = ph.n_phases
        alpha[k, :n], t_matrix[k, :n, :n] = ph.alpha, ph.T
        t_matrix[k, n:, n:] = -np.eye(m - n)
    probs = (0.5, 0.95, 0.999)
    values = ph_quantiles(alpha, t_matrix, probs)
    for k, ph in enumerate(phs):
        assert values[k] == pytest.approx([ph.quantile(p) for p in probs], rel=1e-10)
