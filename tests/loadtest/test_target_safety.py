"""``qmodel validate --target``: what is refused before any traffic (exit 2, no
traceback), and the Prometheus window arithmetic. No load is generated here."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from loadtest import target as target_module
from loadtest.prom import figures, parse, quantile, unmapped
from loadtest.target import check_target, parse_loads
from qmodel.cli.main import app
from qmodel.model.model import Model
from qmodel.model.requests import MetricRef, read_requests

from .conftest import write_model

MODEL = """
arrivals: {web: {to: app, rate: 100/s}}
nodes: {app: {kind: queue, servers: 4, service: 20ms}}
"""
runner = CliRunner()


@pytest.fixture
def no_traffic(monkeypatch):
    """Fail the test if anything tries to start locust."""
    def refuse(*_a, **_k):
        raise AssertionError("traffic was sent")
    monkeypatch.setattr(target_module, "run_locust", refuse)


def validate(*args: str):
    return runner.invoke(app, ["validate", *args])


def test_a_non_loopback_target_needs_allow_host(tmp_path, no_traffic):
    model = write_model(tmp_path, "m", MODEL)
    result = validate(str(model), "--target", "http://10.1.2.3:9000", "--load", "0.5",
                      "--out", str(tmp_path / "v.html"))
    assert result.exit_code == 2, result.output
    assert "10.1.2.3 is not a loopback address" in result.output
    assert "--allow-host 10.1.2.3" in result.output and "Traceback" not in result.output
    result = validate(str(model), "--target", "http://127.0.0.1:9", "--metrics",
                      "http://example.org/metrics", "--load", "0.5")
    assert result.exit_code == 2 and "--metrics" in result.output
    assert check_target("http://[::1]:80") == "::1"
    assert check_target("http://localhost:80") == "localhost"
    assert check_target("http://svc.internal:80", ["svc.internal"]) == "svc.internal"
    with pytest.raises(ValueError, match="http:// or https://"):
        check_target("ftp://127.0.0.1/")


def test_caps_on_rate_and_duration(tmp_path, no_traffic):
    model = write_model(tmp_path, "m", MODEL)
    result = validate(str(model), "--target", "http://127.0.0.1:9", "--load", "5000/s")
    assert result.exit_code == 2 and "exceeds the cap of 2000/s" in result.output
    result = validate(str(model), "--target", "http://127.0.0.1:9", "--load", "0.5",
                      "--duration", "2h")
    assert result.exit_code == 2 and "--max-duration" in result.output
    result = validate(str(model), "--load", "50/s")
    assert result.exit_code == 2 and "need --target" in result.output


def test_a_bad_request_map_is_exit_2_with_its_field_path(tmp_path, no_traffic):
    model = write_model(tmp_path, "m", MODEL)
    requests = tmp_path / "requests.yaml"
    requests.write_text("requests:\n  web: {path: work, success: [200, 700]}\n  api: {}\n")
    result = validate(str(model), "--target", "http://127.0.0.1:9", "--requests",
                      str(requests), "--load", "0.5")
    assert result.exit_code == 2, result.output
    assert "requests.web.path: must start with '/', got 'work'" in result.output
    assert "requests.web.success.1: must be a status code between 100 and 599" in result.output
    assert "Traceback" not in result.output
    requests.write_text("requests:\n  api: {}\n")
    result = validate(str(model), "--target", "http://127.0.0.1:9", "--requests",
                      str(requests), "--load", "0.5")
    assert result.exit_code == 2
    assert "requests.api: unknown job class 'api'; the model's classes: web" in result.output
    inline = write_model(tmp_path, "inline", MODEL + "requests: {web: {path: '/{nope}'}}\n")
    result = runner.invoke(app, ["check", str(inline)])
    assert result.exit_code == 2 and "requests.web.path: unknown placeholder" in result.output


def test_loads_as_utilizations_or_rates():
    model = Model.from_yaml(MODEL)
    assert parse_loads([0.5, "50/s"], model, 0.5) == [(0.5, 1.0, "0.5"), (0.25, 0.5, "50/s")]


SCRAPE = """# HELP req_total Requests.
# TYPE req_total counter
req_total{{endpoint="work"}} {n}
req_total{{endpoint="noop"}} 1000
# HELP busy Busy workers.
# TYPE busy gauge
busy {busy}
# HELP lat Latency.
# TYPE lat histogram
lat_bucket{{le="0.01"}} {a}
lat_bucket{{le="0.02"}} {b}
lat_bucket{{le="+Inf"}} {n}
lat_sum {s}
lat_count {n}
# HELP other Other.
# TYPE other gauge
other 1
"""


def test_prometheus_window_figures():
    scrapes = [parse(SCRAPE.format(n=100, busy=1, a=50, b=90, s=1.0), 10.0),
               parse(SCRAPE.format(n=150, busy=3, a=60, b=130, s=1.8), 12.0),
               parse(SCRAPE.format(n=300, busy=2, a=100, b=250, s=4.0), 20.0)]
    counter = figures(scrapes, 10, 20, MetricRef(metric="req_total",
                                                 labels={"endpoint": "work"}))
    assert counter["kind"] == "counter" and counter["rate"] == pytest.approx(20.0)
    gauge = figures(scrapes, 10, 20, MetricRef(metric="busy", per=4))
    assert gauge["mean"] == pytest.approx(0.5)
    hist = figures(scrapes, 10, 20, MetricRef(metric="lat"))
    # window: 200 answers, 50 under 10 ms, 160 under 20 ms, 40 above; sum 3 s
    assert hist["mean"] == pytest.approx(3.0 / 200)
    assert hist["p95"] == pytest.approx(0.02)  # beyond the last finite bucket: its bound
    assert quantile(0.5, [0.01, 0.02, float("inf")], [50, 160, 200]) == pytest.approx(
        0.01 + 0.01 * 50 / 110)
    assert figures(scrapes[:1], 10, 20, MetricRef(metric="busy"))["missing"]
    assert "nope was not in the scrape" in figures(scrapes, 10, 20,
                                                   MetricRef(metric="nope"))["missing"]
    rmap = read_requests({"web": {}, "metrics": {"app": {"throughput": "req_total",
                                                         "response": "lat"}}}, ["web"])
    assert unmapped(scrapes, rmap.metrics) == ["busy", "other"]
