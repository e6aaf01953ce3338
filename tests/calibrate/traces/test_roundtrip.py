"""Known answer: simulate a known network, write its jobs as real OTLP JSON (OpenTelemetry
SDK spans, the OTLP encoder, hex ids), calibrate from the file and compare every
parameter and the solved predictions with the original's."""

from __future__ import annotations

import json

import pytest

import qmodel
from qmodel.calibrate import from_traces
from qmodel.calibrate.modelfile import model_text, write_model
from qmodel.calibrate.report import report_html
from tests.calibrate.spanmaker import spans_from_visits, write_otlp_lines

# topologies/web_service.yaml with the shards as one 2-server queue: a service has one
# name in its spans, so shards by hash are not told apart (docs/calibration.md)
KNOWN = {"time_unit": "ms", "arrivals": {"web": {"to": "gateway", "rate": "200/s"}},
         "nodes": {"gateway": {"kind": "queue", "servers": 2, "service": "2ms", "next": "app"},
                   "app": {"kind": "queue", "servers": 8,
                           "service": {"dist": "exponential", "mean": "25ms"},
                           "next": {"db": 0.8}},
                   "db": {"kind": "queue", "servers": 2, "service": "6ms"}}}
MEANS = {"gateway": 0.002, "app": 0.025, "db": 0.006}
SERVERS = {"gateway": 2, "app": 8, "db": 2}


@pytest.fixture(scope="module")
def otlp(tmp_path_factory):
    model = qmodel.Model.from_dict(KNOWN)
    run = qmodel.simulate(model, replications=1, customers=5000, seed=3, trace=True, warmup=0)
    spans = spans_from_visits(run.trace)
    path = tmp_path_factory.mktemp("otlp") / "spans.jsonl"
    return write_otlp_lines(spans, path, integers=False)


@pytest.fixture(scope="module")
def calibrated(otlp):
    return from_traces(otlp)


def test_the_file_is_what_the_collector_writes(otlp):
    first = json.loads(otlp.read_text().splitlines()[0])
    span = first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and int(span["traceId"], 16) >= 0  # hex, not base64
    assert isinstance(span["startTimeUnixNano"], str) and span["kind"].startswith("SPAN_KIND_")


def test_routing_within_2_percent(calibrated):
    assert calibrated.estimate("nodes.gateway.next.app").value == pytest.approx(1.0, abs=0.02)
    route = calibrated.estimate("nodes.app.next.db")
    assert route.value == pytest.approx(0.8, rel=0.02)
    assert route.low < 0.8 < route.high
    assert calibrated.model.spec.nodes["db"].next == {}


def test_service_means_within_5_percent_and_intervals_cover(calibrated):
    for node, mean in MEANS.items():
        e = calibrated.estimate(f"nodes.{node}.service.mean")
        assert e.value == pytest.approx(mean, rel=0.05), node
        assert e.low <= mean <= e.high, node


def test_exponential_data_give_an_exponential_or_a_gamma_with_cv_1(calibrated):
    for node in MEANS:
        fit = calibrated.estimate(f"nodes.{node}.service.mean").fit
        assert fit["dist"] in ("exponential", "gamma"), node
        assert fit["cv"] == pytest.approx(1.0, abs=0.1), node
        assert {c["dist"] for c in fit["candidates"]} == {"exponential", "gamma", "lognormal",
                                                         "hyperexponential"}


def test_servers_inferred_from_concurrency(calibrated):
    for node, c in SERVERS.items():
        assert calibrated.model.spec.nodes[node].servers == c, node


def test_arrival_rate_and_predictions_close_to_the_original(calibrated):
    rate = calibrated.estimate("arrivals.GET.rate")
    assert rate.low < 200 < rate.high
    assert "interarrival" not in calibrated.model.to_dict()["arrivals"]["GET"]  # Poisson-like
    original = qmodel.solve(qmodel.Model.from_dict(KNOWN))
    again = qmodel.solve(calibrated.model)
    assert again.system.mean_response_time == pytest.approx(
        original.system.mean_response_time, rel=0.05)
    for node in MEANS:
        assert again.node(node).utilization == pytest.approx(original.node(node).utilization,
                                                             rel=0.06), node


def test_model_file_loads_back_with_comments(calibrated, tmp_path):
    path = write_model(calibrated, tmp_path / "model.yaml")
    text = path.read_text()
    assert text.startswith("# Written by qmodel calibrate traces")
    assert "# exclusive span time" in text and "calibration:" in text
    loaded = qmodel.load(path)
    assert loaded.to_dict() == calibrated.model.to_dict()
    assert model_text(calibrated) == text


def test_servers_given_and_by_operation(otlp):
    cal = from_traces(otlp, servers={"app_call_app": 10}, by="operation")
    nodes = cal.model.spec.nodes
    assert set(nodes) == {"gateway_GET", "app_call_app", "db_call_db"}
    assert nodes["app_call_app"].label == "app call app"
    assert nodes["app_call_app"].servers == 10 and nodes["db_call_db"].servers == 2
    assert "servers of app_call_app: 10, given" in cal.assumptions
    with pytest.raises(qmodel.ModelError, match="--servers: no component 'app_call_app'; "
                                                "components: gateway, app, db"):
        from_traces(otlp, servers={"app": 10, "app_call_app": 2}, by="service")


def test_report_json_and_html(calibrated):
    doc = json.loads(calibrated.to_json())
    assert doc["data"]["components"]["app"]["fit"]["dist"] == \
        calibrated.estimate("nodes.app.service.mean").fit["dist"]
    page = report_html(calibrated)
    assert page.count("<h2>") >= 6 and "plotly" in page and "FCFS" in page


SHAPED = {"time_unit": "ms",
          "arrivals": {"web": {"to": "gateway", "rate": "100/s", "interarrival": {"cv": 0.3}}},
          "nodes": {"gateway": {"kind": "queue", "servers": 1, "next": "app",
                                "service": {"dist": "deterministic", "value": "1ms"}},
                    "app": {"kind": "queue", "servers": 4, "next": {"db": 0.6},
                            "service": {"dist": "gamma", "mean": "20ms", "cv": 0.5}},
                    "db": {"kind": "queue", "servers": 2,
                           "service": {"dist": "hyperexponential", "mean": "5ms", "cv": 2}}}}


def test_shapes_and_smooth_arrivals_are_recognised(tmp_path):
    """Deterministic, gamma cv 0.5 and H2 cv 2 services behind smooth (cv 0.3) arrivals,
    written with numeric span kinds."""
    model = qmodel.Model.from_dict(SHAPED)
    run = qmodel.simulate(model, replications=1, customers=3000, seed=5, trace=True, warmup=0)
    path = write_otlp_lines(spans_from_visits(run.trace), tmp_path / "s.jsonl", integers=True)
    assert '"kind": 2' in path.read_text()[:5000]
    cal = from_traces(path)
    for node, (dist, mean, cv) in {"gateway": ("deterministic", 0.001, 0.0),
                                   "app": ("gamma", 0.020, 0.5),
                                   "db": ("hyperexponential", 0.005, 2.0)}.items():
        e = cal.estimate(f"nodes.{node}.service.mean")
        assert e.fit["dist"] == dist, (node, e.fit["reason"])
        assert e.low <= mean * (1 + 1e-6) and mean * (1 - 1e-6) <= e.high, node
        assert e.fit["cv"] == pytest.approx(cv, abs=0.1), node
    assert cal.estimate("nodes.app.next.db").value == pytest.approx(0.6, abs=0.02)
    shape = cal.estimate("arrivals.GET.interarrival.cv")
    assert shape.low < 0.3 < shape.high
    assert cal.model.spec.arrivals["GET"].interarrival is not None
    assert qmodel.solve(cal.model).system.mean_response_time == pytest.approx(
        qmodel.solve(model).system.mean_response_time, rel=0.05)
