"""The event budget: a run that cannot finish stops, partial, saying why; a model whose
worst-case request explodes is refused up front; a normal run is not touched."""

from __future__ import annotations

import pytest

from qmodel import Model, ModelError, load
from qmodel.model.request_size import MAX_VISITS_PER_REQUEST
from qmodel.sim import simulate
from qmodel.sim.budget import default_budget

from ..model.test_request_size import retrying

NEVER_ENDS = {"nodes": {"q": {"kind": "delay", "service": "1e6s"}},
              "arrivals": {"a": {"to": "q", "rate": "1000/s"}}}
"""Requests that take 11 days each at 1,000/s: none ends in any run a user waits for."""


@pytest.mark.parametrize("method", ["simpy", "fast"])
def test_a_run_that_cannot_finish_stops_at_its_budget(method):
    r = simulate(Model.from_dict(NEVER_ENDS), replications=3, seed=1, max_events=20_000,
                 method=method, progress=False)
    assert r.partial and r.to_dict()["partial"] is True
    assert r.replications == 1  # the next replications would stop too: not run
    assert r.notes[-1].startswith("stopped after 20,000 events (the event budget, max_events)")
    assert "each request makes about 1 visit;" in r.notes[-1]
    assert "interrupted" not in " ".join(r.notes)


def test_a_run_whose_jobs_pile_up_stops_before_it_takes_gigabytes(monkeypatch):
    # the real limit (500,000 jobs: 0.4 GB and 4 s on this model) made small for the test
    for where in ("qmodel.sim.engine", "qmodel.sim.budget"):
        monkeypatch.setattr(f"{where}.MAX_JOBS_PRESENT", 5_000)
    monkeypatch.setattr("qmodel.sim.budget.CHECK_EVERY", 1_024)
    r = simulate(Model.from_dict(NEVER_ENDS), replications=3, seed=1, method="simpy",
                 progress=False)
    assert r.partial and r.replications == 1
    assert r.notes[-1].startswith("stopped after the jobs in the system reached 5,")
    assert "at once (over 5,000, which would take gigabytes)" in r.notes[-1]


def test_the_note_names_retries_hedges_and_calls():
    r = simulate(retrying(10, 3), replications=2, customers=2_000, seed=1, max_events=5_000,
                 progress=False)
    assert r.partial and r.replications == 1
    # 4 attempts x 2 copies x (1 + 10 calls x 2 attempts) = 168
    assert "each request makes about 11 visits, up to 168 with every retry, hedged copy " \
           "and call: lower retries, hedge copies or call counts," in r.notes[-1]


def test_replications_on_an_executor_stop_too():
    r = simulate(Model.from_dict(NEVER_ENDS), replications=2, seed=1, max_events=5_000,
                 executor="serial", progress=False)
    assert r.partial and r.replications == 2 and "stopped after 5,000 events" in r.notes[-1]


def test_a_normal_run_is_unchanged_by_the_default_budget():
    model = retrying(1, 1)
    default = simulate(model, replications=2, customers=1_000, seed=7, progress=False)
    unbounded = simulate(model, replications=2, customers=1_000, seed=7, progress=False,
                         max_events=10**12)
    assert not default.partial and default.to_dict() == unbounded.to_dict()


def test_a_request_that_explodes_is_refused_before_running():
    hostile = load("tests/model/hostile/behaviour_extremes_within_limits.yaml")
    with pytest.raises(ModelError) as err:
        simulate(hostile, replications=1, customers=2_000, seed=1)
    assert err.value.problems[0].path == "arrivals.web"
    assert "one request may set off 12,222,111 visits" in str(err.value)
    assert f"at most {MAX_VISITS_PER_REQUEST:,}" in str(err.value)


def test_the_default_budget_follows_the_run_asked_for():
    net = Model.from_dict(NEVER_ENDS).network
    assert default_budget(net, 100_000, None) == 20 * 100_000 * 3
    assert default_budget(net, None, 600.0) == 20 * 1000 * 600 * 3
    assert default_budget(net, None, 3600.0) == 100_000_000  # the largest default
    closed = Model.from_dict({"users": {"u": {"population": 5, "to": "q"}},
                              "nodes": {"q": {"kind": "queue", "service": "1s"}}}).network
    assert default_budget(closed, None, 60.0) == 100_000_000  # no think time: unknown


FAST = {"nodes": {"app": {"kind": "queue", "service": "0.5ns"}},
        "arrivals": {"web": {"to": "app", "rate": "1e9/s"}}}
"""A billion requests a second: an hour of it is about 10^13 events."""


@pytest.mark.parametrize(("run", "path", "asks"), [
    ({"horizon": "1h"}, "horizon", "a shorter horizon"),
    ({"customers": 200_000_000}, "customers", "fewer customers"),
])
def test_a_run_far_over_the_budget_is_refused_before_it_starts(run, path, asks):
    with pytest.raises(ModelError) as err:
        simulate(Model.from_dict(FAST), replications=1, seed=1, progress=False, **run)
    problem = err.value.problems[0]
    assert problem.path == path and f"ask for {asks}, or give max_events" in problem.message
    assert "over 100,000,000 (ten to thirty minutes" in problem.message


def test_a_large_batch_is_refused_by_its_size_too():
    # a million jobs of 100 visits each (the queue sends 99% back to itself)
    batch = {"nodes": {"q": {"kind": "queue", "service": "1ms", "next": {"q": 0.99}}},
             "batches": {"b": {"to": "q", "size": 1_000_000}}}
    with pytest.raises(ModelError) as err:
        simulate(Model.from_dict(batch), replications=1, seed=1, progress=False)
    assert err.value.problems[0].path == "batches"


def test_an_explicit_budget_runs_what_the_default_refuses():
    r = simulate(Model.from_dict(FAST), replications=1, seed=1, horizon="1h",
                 max_events=20_000, progress=False)
    assert r.partial and "stopped after 20,000 events" in r.notes[-1]
