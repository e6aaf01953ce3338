"""The stream path on Redis Streams: micro-batch latency within 15% of the model; a
closed-loop run within 10% of MVA."""

from __future__ import annotations

import pytest

from loadtest.validate import validate

from .conftest import TOPOLOGIES, require_redis

pytestmark = pytest.mark.loadtest


def test_micro_batch_latency_on_redis(tmp_path):
    require_redis()
    report = validate(TOPOLOGIES / "reference_pipeline.yaml", [0.4], "15s", warmup="3s",
                      calibration="6s", backend="redis", out=tmp_path / "stream.html")
    level = report.levels[0]
    assert level.valid, level.checks
    row = level.row("window", "mean_response_s")
    assert row.predicted is not None
    assert abs(row.rel_error) <= 0.15, row
    assert level.row("topic", "mean_response_s").rel_error is not None


def test_closed_loop_against_mva(tmp_path):
    report = validate(TOPOLOGIES / "three_tier_closed.yaml", [1.0], "30s", mode="closed",
                      warmup="3s", calibration="6s", out=tmp_path / "closed.html")
    level = report.levels[0]
    assert level.valid, level.checks
    assert "mva" in " ".join(level.methods).lower()
    for metric in ("throughput_per_s", "mean_response_s"):
        row = level.row("end-to-end", metric)
        assert abs(row.rel_error) <= 0.10, row
