"""``validate --soak`` for real: one steady load held on the reference system; a system
the model calls steady must not be reported drifting (latency or memory)."""

from __future__ import annotations

import json

import pytest

from loadtest.soak import validate_soak

from .conftest import write_model

pytestmark = pytest.mark.loadtest

ONE_QUEUE = """name: soak
nodes:
  app: {kind: queue, service: 10ms}
arrivals:
  web: {to: app, rate: 50/s}
"""


def test_a_steady_system_is_reported_steady(tmp_path):
    path = write_model(tmp_path, "soak", ONE_QUEUE)
    report = validate_soak(path, "30s", load=0.5, bins="3s", calibration="5s", warmup="3s",
                           seed=2, out=tmp_path / "soak.json")
    assert report.valid, report.checks  # INVALID: the machine was too busy to tell
    names = [t.name for t in report.trends]
    assert names == ["mean response", "p95 response", "resident memory"], names
    assert not report.drifting and report.passed, [str(t) for t in report.trends]
    assert report.expected_mean_s == pytest.approx(0.02, rel=0.3)  # M/M/1 at 0.5: 2 x 10 ms
    doc = json.loads((tmp_path / "soak.json").read_text())
    assert doc["passed"] and len(doc["series"]) == 8


@pytest.mark.slow
@pytest.mark.loadtest_full  # opt-in: `slow` alone is not deselected by scripts/test.sh
def test_an_overloaded_system_drifts_as_the_model_says(tmp_path):
    path = write_model(tmp_path, "soak", ONE_QUEUE)
    report = validate_soak(path, "30s", load=1.3, bins="3s", calibration="5s", warmup="3s",
                           seed=3)
    assert report.valid, report.checks
    assert report.expected_mean_s is None and not report.expected_steady
    assert report.trends[0].drifting and report.passed
