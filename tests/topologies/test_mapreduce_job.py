"""MapReduce / Spark batch job: makespan within the ARIA bounds (Verma, Cherkasova &
Campbell, ICAC 2011), the wave effect, the straggler tail, slots for a deadline; the
renewal approximation of qmodel.solvers.forkjoin against simulation."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.distributions import Gamma
from qmodel.sim import simulate
from qmodel.solvers import forkjoin

from .helpers import close, load


@pytest.fixture(scope="module")
def job() -> qmodel.Model:
    # one job every 5 hours: a job almost never meets the previous one's last tasks, so
    # its visit to `map` is the stage makespan
    return load("mapreduce_job").with_changes({"arrivals.jobs.rate": "0.2/h"})


@pytest.fixture(scope="module")
def sim(job):
    return simulate(job, replications=3, customers=800, seed=1)


def test_map_makespan_lies_within_the_aria_bounds(job, sim):
    task = job.network.station("map").service["jobs"]
    low, high = forkjoin.aria_bounds_expected(100, 40, task)
    mean, _, method = forkjoin.makespan_moments(100, 40, task)
    stage = sim.node("map")
    makespan = stage.mean_response - stage.mean_wait        # first task start to last end
    assert low <= makespan <= high
    assert method == forkjoin.RENEWAL_METHOD
    assert makespan == pytest.approx(mean, rel=0.05)


def test_stragglers_stretch_the_tail(job, sim):
    task = job.network.station("map").service["jobs"]
    p95 = forkjoin.makespan_quantile(100, 40, task, 0.95)
    assert close(sim.node("map").percentile(0.95), p95, 0.08)
    # without stragglers (same mean, cv 0.3) the stage is far shorter and tighter
    tight = Gamma(20.0, 0.3)
    assert forkjoin.makespan_quantile(100, 40, tight, 0.95) < p95 / 4
    assert p95 / forkjoin.makespan_moments(100, 40, task)[0] > 1.8


def test_one_task_over_a_multiple_of_the_slots_costs_most_of_a_wave(job):
    task = {"dist": "gamma", "mean": "20s", "cv": 0.05}
    times = {}
    for n in (80, 81):                                       # k = 40 slots
        model = job.with_changes({"nodes.map.tasks": n, "nodes.map.task_service": task})
        times[n] = simulate(model, replications=2, customers=400, seed=2).node(
            "map").mean_response
        assert times[n] == pytest.approx(
            forkjoin.makespan_moments(n, 40, Gamma(20.0, 0.05))[0], rel=0.03)
    assert times[81] - times[80] > 0.6 * 20.0               # 1.25% more work, 30% longer


def test_fewest_slots_for_a_deadline(job):
    task = job.network.station("map").service["jobs"]
    k = forkjoin.slots_for_deadline(100, task, 300.0)
    assert forkjoin.makespan_moments(100, k, task)[0] <= 300.0
    assert forkjoin.makespan_moments(100, k - 1, task)[0] > 300.0
    sim = simulate(job.with_changes({"nodes.map.slots": k}), replications=3,
                   customers=600, seed=3)
    stage = sim.node("map")
    # the renewal approximation is documented within 10% for task cv = 2 (this mix: 1.8)
    assert stage.mean_response - stage.mean_wait == pytest.approx(
        forkjoin.makespan_moments(100, k, task)[0], rel=0.06)


def test_solve_reports_the_aria_bounds_and_simulation_lies_within(job, sim):
    aria = qmodel.solve(job).aria["jobs"]
    task = job.network.station("map").service["jobs"]
    assert (aria.stages["map"].low, aria.stages["map"].high) == pytest.approx(
        forkjoin.aria_bounds_expected(100, 40, task), rel=1e-6)
    for name in ("map", "reduce"):
        node = sim.node(name)
        makespan = node.mean_response - node.mean_wait
        assert aria.stages[name].low <= makespan <= aria.stages[name].high, name
    assert aria.rest == pytest.approx(30.0, rel=1e-6)       # the shuffle's mean
    assert aria.low <= sim.classes["jobs"].mean_response_time <= aria.high
