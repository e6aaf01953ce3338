"""Per-job records from a per-visit trace (:func:`qmodel.sim.trace.per_job`)."""

from __future__ import annotations

import numpy as np
import pytest

import qmodel
from qmodel.sim.trace import per_job


@pytest.fixture(scope="module")
def feedback():
    """app sends half its jobs back to itself, the rest to db: visits to app are
    geometric with mean 2, and a job's time is the sum of its visits' (no delay between)."""
    m = qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": "10ms", "next": {"app": 0.5, "db": 0.5}},
                  "db": {"kind": "queue", "service": "5ms"}},
        "arrivals": {"web": {"to": "app", "rate": "20/s"}}})
    run = qmodel.simulate(m, replications=1, customers=3000, seed=4, trace=True,
                          progress=False)
    return run.trace, per_job(run.trace)


def test_a_jobs_response_is_its_visits_end_to_end(feedback):
    trace, jobs = feedback
    done = jobs[jobs["path"].str.endswith("db")]
    spans = trace.assign(t=trace["end_s"] - trace["arrival_s"]).groupby("job")["t"].sum()
    assert np.allclose(done["response_s"], spans.loc[done["job"]].to_numpy(), atol=1e-9)
    waits = (trace["start_s"] - trace["arrival_s"]).groupby(trace["job"]).sum()
    assert np.allclose(done["wait_s"], waits.loc[done["job"]].to_numpy(), atol=1e-9)
    assert (jobs["response_s"].diff().dropna() <= 0).all()  # slowest first


def test_visits_follow_the_routing(feedback):
    _, jobs = feedback
    done = jobs[jobs["path"].str.endswith("db")]
    app_visits = done["visits"] - 1
    mean, half = app_visits.mean(), 1.96 * app_visits.std() / np.sqrt(len(app_visits))
    assert abs(mean - 2.0) < max(half, 0.05), (mean, half)  # geometric, mean 1 / 0.5
    assert done["path"].str.count("db").eq(1).all()
    long = done.loc[done["visits"].idxmax(), "path"]
    assert done["visits"].max() <= 13 or long.endswith(")")  # spelled out to 12 hops
