"""The reference system as an ordinary target: started by the ``refsys`` fixture, then
validated through ``--target`` (request map, client-side latency gated, the overhead
from ``GET /health``) and through the built-in path (server-side ``/metrics`` gated).
Both paths must reach the same verdicts at 0.5 and 0.7 (30 s windows: the noise table
in test_validation_web.py). Opt-in: two validations, ~4 minutes."""

from __future__ import annotations

import pytest

from loadtest.validate import validate

from .conftest import TOPOLOGIES, write_model

pytestmark = pytest.mark.loadtest

REQUESTS = """
requests:
  overhead: {method: GET, path: /health}
  web:
    method: POST
    path: /events
    headers: {Content-Type: application/json}
    body: '{"key": "{key}", "payload": "{choice:alpha|beta|gamma|delta} {choice:alpha|beta}"}'
    success: [200]
"""


@pytest.mark.loadtest_full
def test_reference_system_as_a_target_gives_the_same_verdicts(tmp_path, refsys):
    model = TOPOLOGIES / "web_service.yaml"
    loads = [0.5, 0.7]
    requests = write_model(tmp_path, "requests", REQUESTS)
    system = refsys(model)
    as_target = validate(model, loads, "30s", warmup="3s", calibration="10s",
                         target=system.url, requests=requests, out=tmp_path / "t.html")
    built_in = validate(model, loads, "30s", warmup="3s", calibration="10s",
                        out=tmp_path / "b.html")
    for lv_t, lv_b in zip(as_target.levels, built_in.levels):
        assert lv_t.valid and lv_b.valid, (lv_t.checks, lv_b.checks)
        assert lv_t.row("end-to-end (client)", "mean_response_s").gate
        assert lv_t.passed == lv_b.passed, (lv_t.rows, lv_b.rows)
    assert as_target.passed == built_in.passed
