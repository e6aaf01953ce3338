"""docs/calibration.md's examples run, and a report of very few traces is valid JSON."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

from qmodel.calibrate import from_traces
from qmodel.calibrate.traces.spans import Span

ROOT = Path(__file__).resolve().parents[2]


def test_calibration_doc_examples(monkeypatch):
    monkeypatch.chdir(ROOT)
    failures, tried = doctest.testfile(str(ROOT / "docs" / "calibration.md"),
                                       module_relative=False, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_two_traces_give_a_model_and_a_json_report(tmp_path):
    path = tmp_path / "two.json"
    path.write_text(json.dumps([
        {"traceId": "a1", "id": "01", "name": "get", "kind": "SERVER", "timestamp": 10**15,
         "duration": 5000, "localEndpoint": {"serviceName": "api"}},
        {"traceId": "a2", "id": "02", "name": "get", "kind": "SERVER",
         "timestamp": 10**15 + 40000, "duration": 7000, "localEndpoint": {"serviceName": "api"}},
    ]))
    cal = from_traces(path)
    doc = json.loads(cal.to_json())
    assert doc["data"]["classes"]["get"]["interarrival_cv"] is None
    assert cal.model.spec.nodes["api"].servers == 1 and len(cal.frame()) >= 2
    assert isinstance(Span("t", "s", None, "api", "x", "server", 0.0, 1.0).duration, float)
