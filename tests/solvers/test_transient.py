"""Analytic predictions over time for M_t/M/c: the exact transient against an
independent matrix exponential, the steady state and simulation; the fluid backlog of an
overload step and the pointwise stationary approximation on a slow sine against
simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.linalg import expm_multiply

import qmodel
from qmodel.model.profiles import RateProfile, parse
from qmodel.solvers.mmc import erlang_c
from qmodel.solvers.transient import MtMc, ctmc, fluid, psa, single_queue


def constant(rate: float, length: float) -> RateProfile:
    return RateProfile("piecewise", (0.0,), (rate,), length=length)


def reference_mean(lam: float, mu: float, c: int, cap: int, stop: float,
                   num: int) -> np.ndarray:
    """E[N](t) from empty at ``num`` instants in [0, stop], by scipy's expm_multiply
    (Al-Mohy & Higham) on the generator: independent of the uniformization tested."""
    n = np.arange(cap + 1)
    q = np.diag(np.full(cap, lam), 1) + np.diag(mu * np.minimum(n[1:], c), -1)
    q -= np.diag(q.sum(axis=1))
    p = expm_multiply(q.T, np.eye(cap + 1)[0], start=0, stop=stop, num=num, endpoint=True)
    return p @ n


@pytest.mark.parametrize("lam, mu, c", [(80.0, 100.0, 1), (250.0, 100.0, 3)])
def test_exact_transient_matches_a_matrix_exponential_and_the_steady_state(lam, mu, c):
    edges = np.array([0.0, 0.02, 0.05, 0.1])
    means, at_cap = ctmc(MtMc(constant(lam, 1.0), mu, c), edges, cap=120)
    fine = reference_mean(lam, mu, c, 120, 0.1, 401)  # every 0.25 ms
    for k, (i, j) in enumerate(((0, 80), (80, 200), (200, 400))):  # bin averages
        assert means[k] == pytest.approx(np.trapezoid(fine[i:j + 1], dx=0.00025)
                                         / (0.00025 * (j - i)), rel=0.002)
    a = lam / mu  # textbook M/M/c: L = a + C(c, a) a / (c - a), long reached by 10 s
    later, at_cap = ctmc(MtMc(constant(lam, 12.0), mu, c), np.array([0.0, 10.0, 12.0]),
                         cap=120)
    assert later[1] == pytest.approx(a + erlang_c(c, a) * a / (c - a), rel=0.002)
    assert at_cap < 1e-8


@pytest.fixture(scope="module")
def spike() -> qmodel.sim.TimeSeries:
    """150/s against 100/s for 10 s: a backlog of ~500 jobs, drained in 10 s."""
    m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
                                "arrivals": {"web": {"to": "app", "rate": parse(
                                    {"profile": "spike", "base": 50, "peak": 150, "at": 10,
                                     "duration": 10, "length": 40})}}})
    return qmodel.simulate(m, bins="1s", replications=4, seed=2)


def test_exact_transient_against_simulation(spike):
    f = spike.frame
    inside = (f.in_system_low <= f.ctmc_in_system) & (f.ctmc_in_system <= f.in_system_high)
    assert inside.mean() >= 0.8  # 95% intervals of 4 replications, per bin
    peak = f.ctmc_in_system.max()
    assert spike.peak["in_system"] == pytest.approx(peak, rel=0.15)
    assert 475 < peak < 480  # the last spike bin: 0.5 + 50 x 9.5, plus the randomness


def test_fluid_backlog_of_an_overload_against_simulation(spike):
    f = spike.frame
    # grows at 150 - 100 = 50/s for 10 s, drains at 100 - 50 = 50/s
    assert f.fluid_in_system.max() == pytest.approx(1 + 50 * (9.5 - np.log(3) / 100), abs=0.5)
    overload = f[(f.time_s >= 11) & (f.end_s <= 20)]
    growth = np.polyfit(overload.time_s, overload.in_system, 1)[0]
    draining = f[(f.time_s >= 21) & (f.end_s <= 28)]
    drain = np.polyfit(draining.time_s, draining.in_system, 1)[0]
    assert growth == pytest.approx(50, rel=0.15) and drain == pytest.approx(-50, rel=0.15)
    assert spike.peak["in_system"] == pytest.approx(f.fluid_in_system.max(), rel=0.15)
    busy = f[f.fluid_in_system > 100]
    assert (busy.ctmc_in_system / busy.fluid_in_system).tolist() == pytest.approx([1] * len(busy), rel=0.05)
    assert f.fluid_in_system.iloc[-1] == pytest.approx(0.5, abs=1e-3)  # lam/mu once drained


def test_psa_on_a_slow_sine_against_simulation():
    m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "50ms",
                                                  "servers": 10}},
                                "arrivals": {"web": {"to": "app", "rate": {
                                    "profile": "sine", "mean": "100/s", "amplitude": "40/s",
                                    "period": "20s"}}}})
    f = qmodel.simulate(m, bins="2s", replications=3, seed=3).frame
    # load between 3 and 7 erlangs on 10 servers, relaxing in ~50 ms: PSA holds
    assert f.psa_in_system.min() < 3.5 and f.psa_in_system.max() > 6.5
    assert np.abs(f.in_system / f.psa_in_system - 1).mean() < 0.1
    assert np.corrcoef(f.in_system, f.psa_in_system)[0, 1] > 0.9


def test_psa_fluid_values():
    q = MtMc(constant(50.0, 1.0), 100.0, 1)
    out = psa(q, np.array([0.0, 1.0]))
    assert out["in_system"][0] == pytest.approx(1.0)  # rho / (1 - rho)
    assert out["p95_response_s"][0] == pytest.approx(np.log(20) / 50)  # M/M/1: Exp(mu - lam)
    over = MtMc(constant(150.0, 1.0), 100.0, 1)
    assert np.isnan(psa(over, np.array([0.0, 1.0]))["in_system"][0])
    # x' = 150 - 100 x reaches 1 at ln(3)/100 s, then grows at 50/s: mean over 2 s
    assert fluid(over, np.array([0.0, 2.0]))[0] == pytest.approx(1 + 50 * (1 - np.log(3) / 100),
                                                                  abs=0.01)


def test_only_single_mmc_queues():
    def why(**node):
        return single_queue(qmodel.Model.from_dict({
            "nodes": {"app": {"kind": "queue", "service": "10ms"} | node},
            "arrivals": {"web": {"to": "app", "rate": {"profile": "step", "from": 1, "to": 2,
                                                       "at": 1}}}}).network)
    assert isinstance(why(), MtMc)
    assert "exponential service" in why(service={"dist": "deterministic", "value": "10ms"})
    assert "exponential service" in why(capacity=5)
