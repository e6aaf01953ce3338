"""MMPP-2 (bursty) arrivals: the format, the gaps' rate and SCV, and an MMPP/M/1 queue
simulated against the stationary solution of its Markov chain built here."""

from __future__ import annotations

import numpy as np
import pytest

import qmodel
from qmodel.errors import ModelError, UnsupportedError
from qmodel.model.mmpp import MMPP2
from qmodel.sim.arrivals import modulated

BURSTY = {"dist": "mmpp2", "ratio": 3, "sojourns": ["500ms", "250ms"]}


def model(interarrival) -> qmodel.Model:
    return qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": "10ms"}},
        "arrivals": {"web": {"to": "app", "rate": "50/s", "interarrival": interarrival}}})


def mmpp_m1_mean_jobs(process: MMPP2, mu: float, cap: int = 200) -> float:
    """L of MMPP/M/1 from the stationary vector of its (phase, jobs) chain, truncated."""
    (l1, l2), (r1, r2) = process.rates, process.switch
    n = cap + 1
    q = np.zeros((2 * n, 2 * n))
    for phase, lam, leave in ((0, l1, r1), (1, l2, r2)):
        for k in range(n):
            i = phase * n + k
            q[i, (1 - phase) * n + k] += leave
            if k < cap:
                q[i, i + 1] += lam
            if k:
                q[i, i - 1] += mu
    q -= np.diag(q.sum(axis=1))
    a = q.T.copy()
    a[-1] = 1.0  # pi Q = 0 with one balance equation replaced by sum(pi) = 1
    pi = np.linalg.solve(a, np.eye(2 * n)[-1])
    assert pi[[cap, -1]].max() < 1e-12  # the truncation is invisible
    return float(pi @ np.tile(np.arange(n), 2))


def test_rates_follow_the_class_rate():
    process = model(BURSTY).network.classes[0].interarrival
    assert process.rates == pytest.approx((30.0, 90.0)) and process.switch == (2.0, 4.0)
    assert process.mean_rate == pytest.approx(50.0)


def test_gaps_have_the_rate_and_scv_of_the_process():
    process = MMPP2((30.0, 90.0), (2.0, 4.0))
    it = modulated(process, np.random.default_rng(5))
    gaps = np.array([next(it) for _ in range(60_000)])
    assert 1 / gaps.mean() == pytest.approx(50, rel=0.03)
    assert gaps.var() / gaps.mean() ** 2 == pytest.approx(process.scv, rel=0.06)
    assert process.scv > 1.1  # burstier than Poisson


def test_mmpp_m1_against_its_markov_chain():
    m = model(BURSTY)
    exact = mmpp_m1_mean_jobs(m.network.classes[0].interarrival, 100.0)
    poisson = 1.0  # M/M/1 at rho = 0.5: the bursts must show
    assert exact > 1.3 * poisson
    r = qmodel.simulate(m, replications=4, customers=6000, seed=8)
    low, high = r.system.mean_jobs.ci95
    assert low <= exact <= high, (exact, r.system.mean_jobs)
    assert r.system.mean_response_time == pytest.approx(exact / 50, rel=0.1)  # Little
    solved = qmodel.solve(m)  # the matrix-geometric method, exact
    assert solved.method == "qbd" and solved.system.mean_jobs == pytest.approx(exact, rel=1e-9)
    low, high = r.system.p95_response_time.ci95
    assert low <= solved.system.p95_response_time <= high


@pytest.mark.parametrize("spec, message", [
    ({"dist": "mmpp2", "ratio": 3}, "interarrival.sojourns: is required"),
    ({"dist": "mmpp2", "ratio": 0, "sojourns": [1, 1]}, "interarrival.ratio: must be a "
                                                        "positive number"),
    ({"dist": "mmpp2", "ratio": 2, "sojourns": [1, "-2s"]}, "interarrival.sojourns.1: must "
                                                            "be a positive duration"),
    ({"dist": "mmpp2", "ratio": 2, "sojourns": [1]}, "interarrival.sojourns: must be two"),
    ({"dist": "mmpp2", "ratio": 2, "sojourns": [1, 1], "cv": 2}, "interarrival.cv: unknown "
                                                                 "key for mmpp2"),
    # hostile: inf / NaN, a stay beyond the time limits, the wrong type
    ({"dist": "mmpp2", "ratio": "inf", "sojourns": [1, 1]}, "interarrival.ratio: must be a "
                                                            "positive number"),
    ({"dist": "mmpp2", "ratio": float("nan"), "sojourns": [1, 1]}, "interarrival.ratio: must "
                                                                   "be a positive number"),
    ({"dist": "mmpp2", "ratio": 4, "sojourns": ["1e13s", 1]}, "interarrival.sojourns.0: a "
                                                              "duration must be 0 or between"),
    ({"dist": "mmpp2", "ratio": 4, "sojourns": 3}, "interarrival.sojourns: must be two"),
])
def test_bad_mmpp_specs(spec, message):
    with pytest.raises(ModelError, match=message):
        model(spec)


def test_analytic_methods_refuse_mmpp_where_qbd_does_not_apply():
    two = qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": "10ms", "next": "db"},
                  "db": {"kind": "queue", "service": "5ms"}},
        "arrivals": {"web": {"to": "app", "rate": "50/s", "interarrival": BURSTY}}})
    with pytest.raises(UnsupportedError, match="one queue and one class; simulate") as caught:
        qmodel.solve(two)
    with pytest.raises(UnsupportedError, match="MMPP-2 .* which it does not model"):
        qmodel.solve(model(BURSTY), method="open")
    assert "qbd" in str(caught.value) and "open: arrivals.web.interarrival" in str(caught.value)
    with pytest.raises(UnsupportedError, match="MMPP-2 .* need the simpy engine"):
        qmodel.simulate(model(BURSTY), method="fast")


def test_solve_gives_the_class_percentiles_too():
    r = qmodel.solve(model(BURSTY))
    assert r.classes["web"].p95_response_time == r.system.p95_response_time
    assert r.classes["web"].p95_response_time.method == "exact"
    assert "p95_response_time" in r.to_json()
