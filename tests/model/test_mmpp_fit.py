"""An MMPP-2 fitted to the gaps' cv and lag-1 autocorrelation: the statistics it was
fitted to, the gaps' law of ``{cv: c}`` (checked with the hyperexponential's own moments),
a simulated stream of its gaps, and the refusals with their limits."""

from __future__ import annotations

import numpy as np
import pytest

import qmodel
from qmodel.distributions import HyperExponential
from qmodel.errors import ModelError
from qmodel.model.mmpp_fit import fit_mmpp2, lag1_limit
from qmodel.sim.arrivals import modulated


def model(interarrival) -> qmodel.Model:
    return qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": "10ms"}},
        "arrivals": {"web": {"to": "app", "rate": "50/s", "interarrival": interarrival}}})


@pytest.mark.parametrize("cv, lag1", [(1.1, 0.05), (2.0, 0.01), (2.0, 0.2), (2.0, 0.37),
                                      (5.0, 0.3), (10.0, 0.49)])
def test_the_fit_has_the_statistics_asked_for_and_the_gaps_of_cv(cv, lag1):
    process = fit_mmpp2(50.0, cv, lag1)
    law = HyperExponential.balanced(1 / 50.0, cv * cv)  # what {cv: c} gives
    assert process.mean_rate == pytest.approx(50.0, rel=1e-9)
    assert process.scv == pytest.approx(cv * cv, rel=1e-9)
    assert process.lag1 == pytest.approx(lag1, rel=1e-8)
    assert process.moment(3) == pytest.approx(law.third_moment, rel=1e-8)
    assert process.rates[0] < process.rates[1]  # the slow state first


def test_simulated_gaps_have_the_fitted_cv_and_autocorrelation():
    process = fit_mmpp2(50.0, 2.0, 0.25)
    it = modulated(process, np.random.default_rng(3))
    gaps = np.array([next(it) for _ in range(200_000)])
    assert gaps.var() / gaps.mean() ** 2 == pytest.approx(4.0, rel=0.08)
    assert np.corrcoef(gaps[:-1], gaps[1:])[0, 1] == pytest.approx(0.25, abs=0.03)


def test_the_model_format_and_the_bursts_in_a_queue():
    fitted = model({"dist": "mmpp2", "cv": 2, "lag1": 0.2})
    renewal = model({"cv": 2})
    bursty, plain = qmodel.solve(fitted), qmodel.solve(renewal)
    assert bursty.method == "qbd" and plain.system.mean_jobs < bursty.system.mean_jobs


@pytest.mark.parametrize("spec, message", [
    ({"cv": 1.0, "lag1": 0.1}, "interarrival.cv: an MMPP-2's gaps vary more than Poisson's"),
    ({"cv": 2, "lag1": 0.375}, "interarrival.lag1: must be between 0 and 0.375 for cv 2"),
    ({"cv": 2, "lag1": 0}, "interarrival.lag1: must be between 0 and 0.375"),
    ({"cv": 2, "lag1": float("nan")}, "interarrival.lag1: must be between"),
    ({"cv": float("inf"), "lag1": 0.1}, "interarrival.cv: at most 1000"),
    ({"cv": float("nan"), "lag1": 0.1}, "interarrival.cv: .* must be above 1, got nan$"),
    ({"cv": 2}, "interarrival.lag1: is required"),
    ({"cv": "2", "lag1": 0.1}, "interarrival.cv: must be a number"),
    ({"cv": 2, "lag1": 0.1, "sojourns": [1, 1]}, "interarrival.cv: give either ratio"),
    ({"cv": 2, "lag1": 0.1, "k": 2}, "interarrival.k: unknown key for mmpp2 with cv and lag1"),
])
def test_refusals_name_the_field_and_the_limit(spec, message):
    with pytest.raises(ModelError, match=message):
        model({"dist": "mmpp2", **spec})


def test_the_limit_is_the_mmpp2_bound():
    assert lag1_limit(4.0) == 0.375 and lag1_limit(1.0) == 0.0
