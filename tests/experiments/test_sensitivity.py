"""Elasticities against closed forms; one-sided differences; sorted output."""

from __future__ import annotations

import re

import pytest

from qmodel import Model
from qmodel.errors import QModelError
from qmodel.experiments import sensitivity

from .models import mm1


@pytest.mark.parametrize("rate", ["20/s", "50/s", "90/s"])
@pytest.mark.parametrize("metric", ["mean_response_time", "p95_response_time"])
def test_mm1_elasticities_match_closed_forms(rate, metric):
    """M/M/1, R = s / (1 - lam s) and p95 = ln 20 R: elasticity to lam is rho/(1 - rho),
    to the mean service time 1/(1 - rho)."""
    m = mm1(rate=rate, service="10ms")
    rho = float(rate.removesuffix("/s")) * 0.01
    table = sensitivity(m, metric, delta=1e-4,
                        parameters=["arrivals.jobs.rate", "nodes.cpu.service"])
    got = table.set_index("parameter")["elasticity"]
    assert got["arrivals.jobs.rate"] == pytest.approx(rho / (1 - rho), rel=1e-6)
    assert got["nodes.cpu.service"] == pytest.approx(1 / (1 - rho), rel=1e-6)
    assert list(table["parameter"]) == ["nodes.cpu.service", "arrivals.jobs.rate"]  # sorted


def test_defaults_cover_the_model_and_note_one_sided_steps(web):
    table = sensitivity(web, "mean_response_time")
    assert {"arrivals.web.rate", "nodes.app.servers", "nodes.db.shards",
            "nodes.app.service", "nodes.app.next.db"} <= set(table["parameter"])
    row = table.set_index("parameter").loc["nodes.db.servers"]       # 1 server: 0 invalid
    assert row["note"].startswith("one-sided") and row["high"] == 2
    assert table["elasticity"].abs().is_monotonic_decreasing
    assert table.attrs["base"] == pytest.approx(0.0347930104, rel=1e-8)
    # only what the file sets: not the probability 1 of the gateway's only route (next: app)
    assert set(table["parameter"]) == {
        "arrivals.web.rate", "nodes.gateway.servers", "nodes.gateway.service",
        "nodes.app.servers", "nodes.app.service", "nodes.app.next.db", "nodes.db.shards",
        "nodes.db.servers", "nodes.db.service"}


@pytest.mark.parametrize(("rate", "says"), [
    ("200/s", "the model is unstable there; sensitivity needs a stable model"),
    ("10/s", "the method gave none (needs simulation); choose another metric, or simulate"),
])
def test_a_metric_missing_at_the_operating_point_says_why(rate, says):
    """(Both said "needs a stable model", the second of a stable model.)"""
    m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms",
                                           "discipline": "mlfq", "mlfq": {"levels": 2,
                                                                          "quantum": "5ms"}}},
                         "arrivals": {"web": {"to": "app", "rate": rate}}})
    with pytest.raises(QModelError, match=re.escape(says)):
        sensitivity(m, "p95_response_time")
