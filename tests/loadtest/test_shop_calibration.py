"""A system qmodel did not write (issue 13): the shop (frontend and backend under uvicorn,
traced by OpenTelemetry's ASGI and httpx instrumentations) calibrated from its own spans,
predicted, and checked against an independent measured run, client side.

Tolerances come from the sampling noise of one measured window of the ideal network
(``python -m loadtest.targets.shop.noise``; docs/calibration.md, "A system qmodel did not
write"): so that a correct system passes more than 99% of the time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from scipy import stats

from loadtest.targets.shop import ShopConfig
from loadtest.targets.shop.app import BLOCK, Stratified
from loadtest.targets.shop.check import check, summary
from loadtest.targets.shop.otlpfile import OtlpJsonLinesExporter
from qmodel.calibrate import from_traces

pytestmark = pytest.mark.loadtest

# Relative error allowed between the predicted and the measured client-side mean / p95
# of one window: about three standard deviations of that window's sampling noise, from
# the ideal network simulated for 300 windows (iid draws and the realized Poisson rate:
# an upper bound, the shop's draws are stratified). 12 s at rho 0.5: 6.9% / 8.3%;
# 57 s: rho 0.3 2.6% / 3.6%, 0.5 3.3% / 4.3%, 0.7 5.9% / 8.6%.
DEFAULT_TOLERANCE = {"mean_s": 0.20, "p95_s": 0.25}
FULL_TOLERANCE = {0.3: {"mean_s": 0.08, "p95_s": 0.11}, 0.5: {"mean_s": 0.10, "p95_s": 0.13},
                  0.7: {"mean_s": 0.18, "p95_s": 0.26}}


def test_stratified_draws_are_exponential_with_the_nominal_mean_and_call_fraction():
    draws = Stratified(seed=3, mean_s=0.02, p_call=0.6)
    times = np.array([draws.service() for _ in range(50 * BLOCK)])
    calls = [draws.call() for _ in range(50 * BLOCK)]
    # one sd of the mean: 1.4% iid; stratified 0.14% (the top stratum's spread / 100 / sqrt(50))
    assert times.mean() == pytest.approx(0.02, rel=0.005)
    assert stats.kstest(times, "expon", args=(0, 0.02)).pvalue > 0.01
    assert sum(calls) == 0.6 * len(calls)


def test_exported_lines_are_otlp_json_that_calibration_reads(tmp_path):
    ends = {}
    for service in ("frontend", "backend"):
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(
            OtlpJsonLinesExporter(tmp_path / f"{service}.jsonl")))
        ends[service] = provider
    front = ends["frontend"].get_tracer("t")
    back = ends["backend"].get_tracer("t")
    t0 = 1_800_000_000 * 10**9
    for i in range(20):
        start = t0 + i * 10**8
        with front.start_as_current_span("POST /order", kind=SpanKind.SERVER,
                                         start_time=start, end_on_exit=False) as server:
            with front.start_as_current_span("POST", kind=SpanKind.CLIENT,
                                             start_time=start + 10**7,
                                             end_on_exit=False) as client:
                inner = back.start_span("POST /stock", kind=SpanKind.SERVER,
                                        start_time=start + 11 * 10**6)
                inner.end(start + 15 * 10**6)
                client.end(start + 16 * 10**6)
            server.end(start + 17 * 10**6)
    for provider in ends.values():
        provider.shutdown()
    line = (tmp_path / "frontend.jsonl").read_text().splitlines()[0]
    assert '"traceId":"' in line and "==" not in line  # hex ids, not base64
    cal = from_traces(sorted(tmp_path.glob("*.jsonl")))
    assert cal.estimate("nodes.frontend.next.backend").value == 1.0
    assert cal.estimate("nodes.frontend.service.mean").value == pytest.approx(0.011, abs=1e-6)
    assert cal.estimate("nodes.backend.service.mean").value == pytest.approx(0.004, abs=1e-6)


def _assert_valid(report: dict) -> None:
    invalid = [r for r in [report["calibration_run"], *report["runs"]] if r["problems"]]
    if invalid:
        pytest.fail("INVALID runs (machine busy? run again on a quiet one): " + " | ".join(
            f"rho {r['rho']:g}: " + "; ".join(r["problems"]) for r in invalid))


def _assert_calibration(report: dict) -> None:
    cal = report["calibration"]
    route = cal["p_call"]
    assert route["calibrated"] == pytest.approx(route["drawn"], abs=0.005)   # counted
    assert route["calibrated"] == pytest.approx(route["nominal"], abs=0.02)  # stratified
    backend = cal["backend"]
    assert backend["calibrated_mean_s"] == pytest.approx(backend["drawn_mean_s"], rel=0.05)
    parts = cal["frontend_parts"]
    # before its call the frontend does its drawn work; after it, with no slot held, it
    # reads the answer and responds: that is in its exclusive time too (see the docs)
    assert parts["before_call_mean_s"] == pytest.approx(parts["drawn_mean_s"], rel=0.05)
    assert cal["frontend"]["calibrated_mean_s"] == pytest.approx(
        parts["before_call_mean_s"] + parts["after_call_mean_s"], rel=0.02)
    for service in ("frontend", "backend"):  # the slots deliver the draws
        assert cal[service]["held_mean_s"] == pytest.approx(cal[service]["drawn_mean_s"],
                                                            rel=0.03), service


def _assert_predictions(report: dict, tolerance: dict) -> None:
    for c in report["comparisons"]:
        for key, allowed in tolerance.get(c["rho"], tolerance).items():
            assert math.isfinite(c["predicted_client"][key]), c
            assert abs(c["error"][key]) <= allowed, (
                f"rho {c['rho']:g} {key}: measured {c['measured_client'][key] * 1e3:.2f} ms, "
                f"predicted {c['predicted_client'][key] * 1e3:.2f} ms "
                f"({c['error'][key]:+.1%}, allowed {allowed:.0%})")


@pytest.mark.alone  # gated on measured latency: beside the computed tests it went INVALID
def test_calibrated_from_its_spans_predicts_a_measured_run_at_half_load(tmp_path):
    """Default suite, ~40 s: 10 s calibration run and a 15 s measured run at rho 0.5; an
    INVALID measured run is run once more (CI saw a send-delay p99 of 10.2 ms against the
    10 ms limit), and an INVALID second one fails the test."""
    report = check(ShopConfig(), tmp_path, [0.5], calibration_rho=0.5, calibration_s=10.0,
                   duration_s=15.0, retries=1)
    print(summary(report))
    _assert_valid(report)
    _assert_calibration(report)
    _assert_predictions(report, DEFAULT_TOLERANCE)


@pytest.mark.loadtest_full
def test_full_set_rho_03_05_07(tmp_path):
    """Opt-in, ~5 min: 30 s calibration run at rho 0.5, 60 s measured runs at 0.3/0.5/0.7."""
    report = check(ShopConfig(), tmp_path, [0.3, 0.5, 0.7], calibration_rho=0.5,
                   calibration_s=30.0, duration_s=60.0, retries=1)
    print(summary(report))
    _assert_valid(report)
    _assert_calibration(report)
    _assert_predictions(report, FULL_TOLERANCE)
