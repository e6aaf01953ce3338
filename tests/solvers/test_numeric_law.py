"""Laws known by their survival function (qmodel.solvers.numeric_law): moments and
quantiles from it, a PH tabulated as one, the two-moment fit used for composition."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel.distributions import Uniform
from qmodel.solvers.numeric_law import NumericLaw, phase_type_part
from qmodel.solvers.phase_type import erlang, hyperexponential, zero
from qmodel.solvers.time_laws import time_law


@pytest.mark.parametrize("ph", [erlang(3, 2.0), hyperexponential([0.9, 0.1], [10.0, 0.5])])
def test_a_tabulated_phase_type_matches_its_matrix_exponential(ph):
    t = np.array([0.0, 0.01, 0.3, 1.0, 2.5, 7.0, 20.0])
    np.testing.assert_allclose(phase_type_part(ph).sf(t), ph.sf(t), rtol=1e-10, atol=1e-14)
    law = NumericLaw(phase_type_part(ph))
    assert law.mean() == pytest.approx(ph.mean(), rel=1e-6)
    assert law.moment(2) == pytest.approx(ph.moment(2), rel=1e-5)
    assert law.quantile(0.95) == pytest.approx(float(ph.quantile(0.95)), rel=1e-6)


def test_moments_quantiles_and_fit_of_a_uniform():
    law = NumericLaw(time_law(Uniform(1.0, 3.0)))
    assert law.mean() == pytest.approx(2.0, rel=1e-9)
    assert law.variance() == pytest.approx(1 / 3, rel=1e-8)
    assert law.moment(3) == pytest.approx((3**4 - 1) / 4 / 2, rel=1e-8)
    assert law.quantile(0.25) == pytest.approx(1.5, rel=1e-12)
    fit = law.phase_type()
    assert fit.mean() == pytest.approx(2.0, rel=1e-8) and law.n_phases == fit.n_phases
    with pytest.raises(ValueError):
        law.quantile(1.5)


def test_the_zero_phase_type_is_zero():
    assert float(phase_type_part(zero()).sf(np.array([0.0, 1.0])).sum()) == 0.0
