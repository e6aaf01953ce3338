"""A branch that is a chain of stations (qmodel.solvers.branch_laws.chain_law): fixed
times shift, PH times convolve, one other law is added by quadrature; checked against
closed forms and Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qmodel.distributions import Deterministic, Erlang, Exponential, Lognormal, Uniform
from qmodel.solvers.branch_laws import chain_law
from qmodel.solvers.numeric_law import NumericLaw
from qmodel.solvers.phase_type import PhaseType, exponential
from qmodel.solvers.time_laws import TimeLaw, quantiles


def test_phase_types_alone_stay_a_phase_type():
    law, exact = chain_law([Exponential(1.0), exponential(2.0), Erlang(2, 1.0)], [True] * 3)
    assert isinstance(law, PhaseType) and exact
    assert law.mean() == pytest.approx(1.0 + 0.5 + 1.0, rel=1e-12)


def test_fixed_times_shift_the_law():
    law, exact = chain_law([Deterministic(1.0), Exponential(2.0), Deterministic(0.5)],
                           [True] * 3)
    assert isinstance(law, TimeLaw) and exact
    t = np.array([1.0, 1.5, 2.0, 4.0])
    expected = np.where(t < 1.5, 1.0, np.exp(-(t - 1.5) / 2.0))
    np.testing.assert_allclose(law.sf(t), expected, rtol=1e-9, atol=1e-12)
    assert NumericLaw(law).mean() == pytest.approx(3.5, rel=1e-8)


def test_another_law_is_added_by_quadrature():
    rng = np.random.default_rng(1)
    parts = [Lognormal(1.0, 0.5), Exponential(0.5), Deterministic(0.2)]
    law, exact = chain_law(parts, [True] * 3)
    assert exact
    samples = sum(np.asarray(p.sample(rng, 400_000), dtype=float) for p in parts)
    numeric = NumericLaw(law)
    assert numeric.mean() == pytest.approx(1.7, rel=1e-4)
    for p in (0.05, 0.5, 0.95, 0.99):
        hit = np.mean(samples <= numeric.quantile(p))
        assert abs(hit - p) < 4 * math.sqrt(p * (1 - p) / samples.size) + 1e-3, p


def test_two_other_laws_fall_back_to_a_fit_and_say_so():
    law, exact = chain_law([Uniform(0.0, 1.0), Lognormal(1.0, 0.5), Exponential(1.0)],
                           [True] * 3)
    assert not exact and isinstance(law, PhaseType)
    assert law.mean() == pytest.approx(2.5, rel=1e-9)  # the means still add up
    assert chain_law([Exponential(1.0)], [False])[1] is False
    two, _ = chain_law([Deterministic(2.0)], [True])
    assert float(quantiles(two, [0.5])[0]) == pytest.approx(2.0, rel=1e-12)
