"""Round trip on the reference system: run ``web_service.yaml`` with OpenTelemetry spans on,
calibrate a model from nothing but the spans (``qmodel calibrate traces --outside
refsys --by operation``), and check it against what is known and what was measured.

- Routing: app -> db (over the four shards) within 2% of the model's 0.8 (binomial sd
  0.6% at ~4,800 jobs: a correct system fails by chance about 0.5% of the time).
- Service means: within 5% of the mean of the times the system *drew* for the same
  visits (the spans carry each draw), so the check is of the estimator and the emulation,
  not of sampling luck.
- Predictions: the calibrated model at the run's achieved rate within 10% of the measured
  end-to-end mean and p95 (server side, the reference system's own timings). The default
  suite calibrates and compares on one 30 s run at load 0.5; the full set (opt-in)
  calibrates at 0.5 and measures separate runs at 0.3, 0.5 and 0.7 with spans off.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import qmodel
from loadtest.predict import offered_peak, predict, with_rates
from loadtest.validate import TAIL_S, Harness, Run, _specs
from qmodel.calibrate import Calibration, from_traces
from qmodel.calibrate.traces import read_spans

from .conftest import TOPOLOGIES

pytestmark = pytest.mark.loadtest

WEB = TOPOLOGIES / "web_service.yaml"
WARMUP_S = 3.0


def measure(system, model, work: Path, load: float, duration_s: float, seed: int,
            valid: bool = True) -> Run:
    peak, _ = offered_peak(model)
    harness = Harness(model, system.url, work, WARMUP_S, Console(width=140), retries=1,
                      traced=system.otel_traces is not None)
    specs = _specs(model, "open", load, load / peak, WARMUP_S + duration_s + TAIL_S, seed)
    run = harness.measure_valid(specs, f"load {load}")
    assert run.valid or not valid, run.problems  # INVALID: the machine was too busy to tell
    return run


def calibrated(refsys, tmp_path: Path, load: float, duration_s: float, valid: bool = True
               ) -> tuple[Calibration, Run, Path]:
    """A traced run at ``load``, and the model calibrated from its spans; ``valid``: the
    run must pass its self-checks (its latencies are compared), with the loop-lag limit
    of a traced system (``samples.TRACED_LOOP_LAG_P99_LIMIT_S``: spans put the gateway's
    lag p99 at 2.0-2.5 ms on a quiet machine, against 0.5-0.6 ms without)."""
    model = qmodel.load(WEB)
    spans = tmp_path / "spans.jsonl"
    system = refsys(WEB, otel_traces=spans)
    run = measure(system, model, tmp_path / "traced", load, duration_s, seed=11, valid=valid)
    system.stop()  # flushes and merges every process's spans
    return from_traces(spans, outside=["refsys"], by="operation"), run, spans


def drawn_means(spans: Path) -> dict[str, float]:
    """The mean drawn service time per component label of the calibrated model."""
    draws = defaultdict(list)
    for span in read_spans(spans)[0]:
        if span.attributes.get("qmodel.span") == "visit":
            draws[f"{span.service} {span.name}"].append(
                float(span.attributes["qmodel.target_service_s"]))
    return {label: float(np.mean(v)) for label, v in draws.items()}


def routing_to_db(cal: Calibration) -> float:
    nxt = cal.model.to_dict()["nodes"]["app_serve_app"]["next"]
    return sum(p for target, p in nxt.items() if target.startswith("db_serve_db"))


def check_predictions(cal: Calibration, run: Run) -> None:
    cls = cal.model.network.classes[0].name
    result = predict(with_rates(cal.model, {cls: next(iter(run.achieved.values()))}))
    assert result.stable
    measured = run.measured["end_to_end"]["all"]
    for name, predicted in (("mean_response_s", result.system.mean_response_time),
                            ("p95_response_s", result.system.p95_response_time)):
        error = measured[name] / predicted - 1
        assert abs(error) <= 0.10, (name, measured[name], predicted, error)


@pytest.mark.alone  # gated on measured latency: beside the computed tests it went INVALID
def test_web_service_round_trip(refsys, tmp_path):
    cal, run, spans = calibrated(refsys, tmp_path, 0.5, 30.0)
    assert routing_to_db(cal) == pytest.approx(0.8, rel=0.02)
    assert cal.model.to_dict()["nodes"]["gateway_serve_gateway"]["next"] == {
        "app_serve_app": 1.0}
    drawn = drawn_means(spans)
    labels = {name: node.label for name, node in cal.model.spec.nodes.items()}
    assert sorted(labels.values()) == sorted(drawn)
    for name, label in labels.items():
        mean = cal.estimate(f"nodes.{name}.service.mean").value
        assert mean == pytest.approx(drawn[label], rel=0.05), (label, mean, drawn[label])
    check_predictions(cal, run)


@pytest.mark.loadtest_full
def test_web_service_round_trip_at_three_loads(refsys, tmp_path):
    """Measured: app->db 0.806; service means +0.0..+2.5% of the draws; mean / p95
    -0.8% / -3.7% at 0.3, -1.4% / -4.1% at 0.5, -1.6% / -6.2% at 0.7 (60 s windows)."""
    cal, _, _ = calibrated(refsys, tmp_path, 0.5, 60.0, valid=False)  # only its spans count
    system = refsys(WEB)
    model = qmodel.load(WEB)
    for i, load in enumerate((0.3, 0.5, 0.7)):
        check_predictions(cal, measure(system, model, tmp_path / f"level{i}", load, 60.0,
                                       seed=100 + i))
