"""``qmodel validate --target`` against a real service nobody here wrote: gunicorn with
c = 4 sync workers running ``loadtest.targets.work`` (exponential service, mean 20 ms):
an M/M/4, FCFS at the listen backlog. Client-side mean and p95 within 10% of the model
calibrated at low load (``GET /noop`` against the target and against the harness's echo
server: the client's share is delay, gunicorn's share is service; the demand from the
class's latency). Measured: rho 0.5, 20 s: mean -4.8%, p95 -6.7%; 40 s windows: rho 0.5
+6.6% / +3.6%, rho 0.7 -4.5% / -5.8% (docs/loadtest.md).

The work app draws its uniforms stratified in blocks of 100 per worker
(``WORK_STRATIFY=100``: exponential marginal, a block's mean within ~1% of 20 ms), so
the calibration's estimate of the demand is not 1/sqrt(n) noise (5.8% for the 300
requests of a 10 s calibration with independent draws). Sampling noise of the gated
figures, from simulating this M/M/4 with the same per-worker stratified draws (300
windows each; relative std of the window's mean / p95 against Erlang C, and the bias
the stratification leaves):

    rho   20 s window           60 s window
    0.5   1.8% / 2.3% (0.0%)    1.0% / 1.2% (0.0%)
    0.7   4.4% / 6.3% (-0.5%)   2.6% / 3.5% (-0.8% / -1.4%)

(independent draws: 3.5% / 4.2% at 0.5 in 20 s, 6.5% / 8.4% at 0.7.) With the
calibration's own ~1.5% the half-load test (rho 0.5, 20 s) has ~2.5% / 3% of noise: ±10%
is over 3 standard deviations. Both it and the full set (0.3/0.5/0.7, 60 s windows, 30 s
calibration) are opt-in (the default suite is at its time limit); the default suite
drives the same target through ``--target`` in the error-rate test and the dashboard's
Validate page test.
"""

from __future__ import annotations

import time

import pytest

from loadtest.targets.gunicorn import GunicornTarget
from loadtest.validate import validate

from .conftest import write_model

pytestmark = pytest.mark.loadtest

MODEL = """
name: work-mm4
time_unit: ms
arrivals:
  web: {to: app, rate: 100/s}
nodes:
  app: {kind: queue, servers: 4, service: {dist: exponential, mean: 20ms}}
"""
REQUESTS = """
requests:
  overhead: {method: GET, path: /noop}
  web:
    method: POST
    path: '/work?id={id}'
    headers: {Content-Type: application/json}
    body: '{"key": "{key}", "op": "{choice:get=3|put=1}"}'
  metrics:
    app:
      throughput: {metric: work_requests_total, labels: {endpoint: work}}
      utilization: {metric: work_busy_seconds_total, per: 4}
      service: work_request_duration_seconds
"""
ENV = {"WORK_MEAN": "20ms", "WORK_DIST": "exponential", "WORK_STRATIFY": "100",
       "WORK_SEED": "1", "WORK_METRICS": "1"}


def files(tmp_path):
    return write_model(tmp_path, "model", MODEL), write_model(tmp_path, "requests", REQUESTS)


def check(report, loads):
    assert [round(lv.load, 6) for lv in report.levels] == loads
    for level in report.levels:
        assert level.valid, level.checks  # INVALID: the machine was too busy to tell
        for metric in ("mean_response_s", "p95_response_s"):
            row = level.row("end-to-end (client)", metric)
            assert row.gate and row.within, (level.load, metric, row)
    assert report.passed


@pytest.mark.loadtest_full  # ~60 s: opt-in; the default suite runs the target path in
def test_gunicorn_mm4_at_half_load_with_its_metrics(tmp_path):  # the error-rate stop below
    """One level (rho 0.5, 20 s window after a 10 s calibration); the mapped Prometheus
    metrics compared, the unmapped one listed."""
    model, requests = files(tmp_path)
    with GunicornTarget(workers=4, env=ENV) as target:
        report = validate(model, [0.5], "20s", warmup="3s", calibration="10s",
                          target=target.url, requests=requests,
                          metrics=f"{target.url}/metrics", out=tmp_path / "v.html")
    check(report, [0.5])
    cal = report.calibration
    assert cal["kind"] == "target" and cal["overhead_measured"]
    assert 0 < cal["overhead_s"] < 0.010 and 0.018 < cal["demand_s"]["web"] < 0.025
    level = report.levels[0]
    assert level.measured["unmapped"] == ["work_in_progress"]
    throughput = level.row("app", "throughput_per_s")
    assert abs(throughput.rel_error_at_measured) < 0.05, throughput
    # the handler's busy seconds and histogram leave out gunicorn's own per-request work
    # (accept, parse, answer), which the calibrated service includes: measured 5-8% under
    utilization = level.row("app", "utilization")
    assert -0.15 < utilization.rel_error_at_measured < 0.05, utilization
    service = level.row("app", "mean_service_s")
    assert -0.15 < service.rel_error < 0.05, service
    assert (tmp_path / "v.json").exists()


def test_a_level_failing_above_the_error_rate_is_stopped(tmp_path):
    """The service answers 500 after its 350th /work request: the calibration (30/s for
    8 s, ~240) passes, the first level breaks down after ~1 s, is stopped early and the
    next is not run. No retries: an INVALID calibration run again would use up the
    350."""
    model, requests = files(tmp_path)
    with GunicornTarget(workers=4, env=ENV | {"WORK_FAIL_AFTER": "350",
                                             "WORK_METRICS": "0"}) as target:
        started = time.monotonic()
        report = validate(model, [0.5, 0.7], "30s", warmup="2s", calibration="5s",
                          target=target.url, requests=requests, out=None, retries=0)
        elapsed = time.monotonic() - started
    assert len(report.levels) == 1
    level = report.levels[0]
    assert "error rate" in level.stopped and "exceeded 5.0%" in level.stopped
    assert level.passed is None and not report.passed
    assert any("not run: 0.7" in n for n in report.notes)
    answers = sum(level.client["web"]["statuses"].values())
    assert answers < 0.5 * 100 * 30  # it stopped sending long before its 30 s
    assert elapsed < 40


@pytest.mark.loadtest_full
def test_gunicorn_mm4_full_set(tmp_path):
    model, requests = files(tmp_path)
    loads = [0.3, 0.5, 0.7]
    with GunicornTarget(workers=4, env=ENV) as target:
        report = validate(model, loads, "60s", warmup="5s", calibration="30s",
                          target=target.url, requests=requests,
                          metrics=f"{target.url}/metrics", out=tmp_path / "v.html")
    check(report, loads)
