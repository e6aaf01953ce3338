"""Naiad-style iterations behind a global barrier: the median iteration time barely moves
with the number of workers N while the 95th percentile climbs (Murray et al., SOSP 2013,
Fig. 6b); the iteration is the maximum of N worker times, H_N/mu for exponential ones
(David & Nagaraja 2003); simulation against qmodel.solvers.forkjoin."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.distributions import Exponential
from qmodel.sim import simulate
from qmodel.solvers import forkjoin

from .helpers import close, load

PROGRESS = 0.0002                      # the progress-tracking round, 0.2 ms


def workers(model: qmodel.Model, n: int, **changes) -> qmodel.Model:
    return model.with_changes({"nodes.iteration.tasks": n, "nodes.iteration.slots": n,
                               **changes})


@pytest.fixture(scope="module")
def dataflow() -> qmodel.Model:
    return load("naiad_iterative")


def test_one_computation_is_solved_as_its_own_iterations(dataflow):
    # one job alone: an iteration is the maximum of N worker times, then the progress round
    r = qmodel.solve(dataflow)
    task = dataflow.network.station("iteration").service["computation"]
    assert r.system.method == "exact"
    assert float(r.system.mean_response_time) == \
        pytest.approx(forkjoin.expected_max([task] * 32) + PROGRESS, rel=1e-6)
    for p in (0.5, 0.95):
        assert float(r.node("iteration").percentile(p)) == \
            pytest.approx(forkjoin.quantile_of_max([task] * 32, p), rel=1e-9)
        assert r.node("iteration").percentile(p).method == "exact"
        # end to end: the iteration, then the fixed progress round (a shift)
        assert float(r.system.percentile(p)) == \
            pytest.approx(forkjoin.quantile_of_max([task] * 32, p) + PROGRESS, rel=1e-9)
        assert r.system.percentile(p).method == "exact"


def test_median_flat_while_the_95th_percentile_climbs(dataflow):
    task = dataflow.network.station("iteration").service["computation"]
    p50, p95 = {}, {}
    for n in (4, 64):
        sim = simulate(workers(dataflow, n), replications=3, customers=1_500, seed=n)
        p50[n], p95[n] = sim.system.percentile(0.5), sim.system.percentile(0.95)
        for p, got in ((0.5, p50[n]), (0.95, p95[n])):
            assert got == pytest.approx(forkjoin.quantile_of_max([task] * n, p) + PROGRESS,
                                        rel=0.05)
    assert p50[64] / p50[4] < 1.2
    assert p95[64] / p95[4] > 5


@pytest.mark.parametrize("n", [8, 32])
def test_exponential_workers_take_h_n_over_mu(dataflow, n):
    mu = 1 / 0.001
    model = workers(dataflow, n, **{"nodes.iteration.task_service": "1ms"})
    expected = forkjoin.expected_max_exponential(n, mu) + PROGRESS
    assert forkjoin.expected_max([Exponential(1 / mu)] * n) + PROGRESS == pytest.approx(
        expected, rel=1e-8)
    sim = simulate(model, replications=3, customers=2_000, seed=n)
    assert close(sim.system.mean_response_time, expected, 0.02)
