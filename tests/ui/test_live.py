"""Live charts: a worker's snapshots reach the page while it runs (``Job.updates``), and a
simulation reports its estimates after each replication."""

from __future__ import annotations

import time

import pytest

from qmodel_ui import charts, work
from qmodel_ui.jobs import Job

MM1 = """
nodes: {app: {kind: queue, service: 10ms}}
arrivals: {web: {to: app, rate: 50/s}}
"""


def test_a_simulation_reports_each_replication_while_it_runs():
    job = Job(("live",), work.simulate, (MM1, 4, 3, 2000))
    deadline = time.monotonic() + 120
    while not job.poll() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.status == "done", job.value
    assert [p["replications"] for p in job.updates] == [1, 2, 3, 4]
    final = job.value["result"]["system"]["mean_response_time"]
    last = job.updates[-1]
    assert last["mean_response_s"] == pytest.approx(final["value"])
    assert last["mean_response_s_ci95"] == pytest.approx(tuple(final["ci95"]))
    assert last["throughput_per_s"] == pytest.approx(50, rel=0.1)
    fig = charts.convergence(job.updates, "ms", 1000.0)
    response = fig.data[0]
    assert list(response.x) == [1, 2, 3, 4]
    assert response.y[-1] == pytest.approx(final["value"] * 1000)
    low, high = final["ci95"]
    assert response.error_y.array[-1] == pytest.approx((high - final["value"]) * 1000)
    assert response.error_y.arrayminus[-1] == pytest.approx((final["value"] - low) * 1000)


def test_one_replication_sends_no_snapshot():
    job = Job(("one",), work.simulate, (MM1, 1, 3, 500))
    deadline = time.monotonic() + 120
    while not job.poll() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.status == "done" and job.updates == []


def test_job_records_refuse_batches_too_large_to_keep():
    from qmodel import QModelError
    from qmodel_ui import recording

    big = """
nodes: {q: {kind: queue, service: 1ms}}
batches: {b: {to: q, size: 30000}}
"""
    with pytest.raises(QModelError, match="the batches hold 30,000 jobs; job records are "
                                          "kept for at most 20,000"):
        recording.job_records(big, 1, 0, progress=lambda f: None)
