"""The ``layered`` method on layered examples (tests/solvers/data/lqn_*.yaml) against
qmodel's simulation of the same files, within the tolerance the method states
(qmodel/solvers/layered.py), and on LQNS's regression model 92-open against the values
LQNS and its simulator lqsim published for it.

Default: short simulations of three of them (4 x 1000 requests, the tolerance plus the
95% interval); opt-in (``-m full``): every one, 4 x 40,000 requests, the runs the stated
tolerance was measured on (about ten minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import qmodel

DATA = Path(__file__).parent / "data"
TOLERANCE = 0.06
"""The largest error measured on these examples (docs/model-format.md, the table)."""


def load(name: str, rate: float | None = None) -> qmodel.Model:
    raw = yaml.safe_load((DATA / f"{name}.yaml").read_text())
    if rate is not None:
        arrival = next(iter(raw["arrivals"].values()))
        arrival["rate"] = f"{rate}/s"
    return qmodel.Model.from_dict(raw)


def assert_agrees(model: qmodel.Model, customers: int, seed: int) -> None:
    layered = qmodel.solve(model, method="layered")
    sim = qmodel.simulate(model, replications=4, customers=customers, seed=seed)
    for name, node in layered.nodes.items():
        predicted = float(node.mean_response)
        low, high = sim.node(name).mean_response.ci95
        slack = TOLERANCE * predicted
        assert low - slack <= predicted <= high + slack, (name, predicted, (low, high))


SHORT = [("lqn_three_tier", None), ("lqn_mixed", None), ("lqn_shared", None)]


@pytest.mark.parametrize("name, rate", SHORT)
def test_agrees_with_a_short_simulation(name, rate):
    assert_agrees(load(name, rate), 1000, seed=3)


@pytest.mark.slow
@pytest.mark.full
@pytest.mark.parametrize("name, rate", SHORT + [
    ("lqn_92_open", None), ("lqn_two_tier", None), ("lqn_three_tier", 4.0),
    ("lqn_three_tier", 6.0)])
def test_agrees_with_simulation_within_the_stated_tolerance(name, rate):
    assert_agrees(load(name, rate), 40_000, seed=11)


def test_92_open_is_what_lqns_publishes():
    # lqns 5.26 (layeredqueuing/V5, models/regression/lqns-results/92-open.p): the
    # waiting time of each call (W) and choose's service time (X), in ms. A task with
    # infinite threads calls four single-threaded tasks with exponential demands in
    # sequence: a tandem of M/M/1 queues, exact (Jackson) here and in LQNS.
    r = qmodel.solve(load("lqn_92_open"), method="layered")
    waits = {"WSP": 3.53637, "WSD": 0.616577, "DBP": 1.28972, "DBD": 1.23682}
    for name, wait in waits.items():
        assert float(r.nodes[name].mean_wait) * 1e3 == pytest.approx(wait, rel=1e-5)
    assert float(r.system.mean_response_time) * 1e3 == pytest.approx(52.5995, rel=1e-5)


@pytest.mark.slow
@pytest.mark.full
def test_92_open_simulates_as_lqsim_measured():
    # lqsim 5.16 (models/regression/sim-results/92-open.p): choose 52.4882 ms, 95%
    # half-width 0.557855 ms; ours within the two intervals together
    sim = qmodel.simulate(load("lqn_92_open"), replications=4, customers=40_000, seed=11)
    estimate = sim.system.mean_response_time
    half = (estimate.ci95[1] - estimate.ci95[0]) / 2
    assert abs(float(estimate) * 1e3 - 52.4882) <= half * 1e3 + 0.557855
