"""Choosing a service-time family on synthetic samples, and the mean's interval."""

from __future__ import annotations

import numpy as np
import pytest

from qmodel.calibrate import fit
from qmodel.distributions import HyperExponential

N = 3000


def _h2(rng, mean, scv, n):
    h = HyperExponential.balanced(mean, scv)
    phase = rng.random(n) < h.probs[0]
    return np.where(phase, rng.exponential(h.means[0], n), rng.exponential(h.means[1], n))


@pytest.mark.parametrize("family, draw, mean, cv", [
    ("gamma", lambda r: r.gamma(4.0, 0.005, N), 0.02, 0.5),
    ("lognormal", lambda r: r.lognormal(np.log(0.01), 0.8, N),
     0.01 * np.exp(0.32), np.sqrt(np.expm1(0.64))),
    ("hyperexponential", lambda r: _h2(r, 0.012, 9.0, N), 0.012, 3.0),
    ("exponential", lambda r: r.exponential(0.02, N), 0.02, 1.0),
])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_right_family_is_chosen_and_the_interval_covers_the_mean(family, draw, mean, cv,
                                                                     seed):
    x = draw(np.random.default_rng(seed))
    chosen = fit.choose(x)
    assert chosen["dist"] == family, chosen["reason"]
    assert chosen["cv"] == pytest.approx(cv, rel=0.15)
    lo, hi = fit.mean_interval(x)
    assert lo <= mean <= hi
    assert len(chosen["candidates"]) == 4 and chosen["distance"] < 0.03


def test_deterministic_and_empirical():
    assert fit.choose(np.full(100, 0.004) + 1e-9 * np.arange(100))["dist"] == "deterministic"
    x = np.random.default_rng(3).gamma(4.0, 0.005, 500)
    chosen = fit.choose(x, empirical=True)
    assert chosen["dist"] == "empirical" and "best parametric fit: gamma" in chosen["reason"]
    spec = fit.spec(chosen, float(x.mean()), x, max_samples=100)
    assert spec["dist"] == "empirical" and len(spec["samples"]) == 100


def test_model_specs_keep_the_sample_mean():
    x = _h2(np.random.default_rng(4), 0.012, 9.0, N)
    chosen = fit.choose(x)
    spec = fit.spec(chosen, 0.012)
    probs, means = spec["probs"], [float(m[:-2]) / 1e3 for m in spec["means"]]
    assert sum(probs) == pytest.approx(1) and \
        probs[0] * means[0] + probs[1] * means[1] == pytest.approx(0.012, rel=1e-4)
    gamma = fit.spec({"dist": "gamma", "cv": 0.5}, 0.02)
    assert gamma == {"dist": "gamma", "mean": "20ms", "cv": 0.5}
