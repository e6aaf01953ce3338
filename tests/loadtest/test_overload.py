"""Overload at 1.2x capacity: the system sheds (429) as configured, stays up, and
recovers when the load drops; the report says the model predicted instability."""

from __future__ import annotations

import pytest

from loadtest.validate import validate

from .conftest import write_model

pytestmark = pytest.mark.loadtest

MODEL = """
name: overload
time_unit: ms
arrivals: {web: {to: app, rate: 100/s}}
nodes:
  app: {kind: queue, servers: 2, service: 10ms, capacity: 12, on_full: reject}
"""


def test_sheds_stays_up_and_recovers(tmp_path):
    model = write_model(tmp_path, "overload", MODEL)
    seen = []
    report = validate(model, [1.2, 0.5], "8s", warmup="2s", calibration="3s", retries=0,
                      out=tmp_path / "overload.html", on_level=seen.append)
    overload, after = report.levels
    assert seen == report.levels  # each level was handed on as it was compared
    assert not overload.predicted_stable and "saturated" in " ".join(overload.instability)
    shed = overload.client["web"]["statuses"].get(429, 0)
    assert shed > 0.05 * overload.client["web"]["requests"]
    assert overload.measured["components"]["app"]["utilization"] > 0.9
    # recovered: back to what the model says for 0.5 (M/M/2/12 loses ~0.05% of arrivals;
    # a loaded machine's bursts may shed a few more, never the overload's sixth)
    assert after.predicted_stable
    statuses = after.client["web"]["statuses"]
    assert statuses.get(429, 0) <= 0.03 * after.client["web"]["requests"], statuses
    assert after.measured["components"]["app"]["utilization"] < 0.65
    assert after.row("end-to-end", "mean_response_s").rel_error < 0.25
    assert "predicts instability" in (tmp_path / "overload.html").read_text()
