"""Headroom against closed-form boundaries, and on a network against solve."""

from __future__ import annotations

import math

import pytest

import qmodel
from qmodel import ModelError
from qmodel.experiments import headroom
from qmodel.experiments.loads import scaled

from .models import mm1


def test_mm1_mean_slo_closed_form():
    """M/M/1: R = 1/(mu - lam) < T  <=>  lam < mu - 1/T = 100 - 20 = 80/s."""
    result = headroom(mm1(rate="50/s", service="10ms"), slo="mean < 50ms")
    assert result.rate == pytest.approx(80.0, rel=1e-7)
    assert result.factor == pytest.approx(1.6, rel=1e-7) and result.headroom == \
        pytest.approx(0.6, rel=1e-6)
    assert result.limiting == "mean < 50ms" and result.bottleneck == "cpu"


def test_mm1_p95_slo_closed_form():
    """M/M/1 response time is Exp(mu - lam): p95 = ln 20 / (mu - lam) < T."""
    result = headroom(mm1(rate="50/s", service="10ms"), slo="p95 < 100ms")
    assert result.rate == pytest.approx(100.0 - math.log(20.0) / 0.1, rel=1e-7)


def test_the_first_clause_to_break_is_reported():
    result = headroom(mm1(rate="50/s", service="10ms"), slo="mean < 50ms and utilization < 0.7")
    assert result.rate == pytest.approx(70.0, rel=1e-7)
    assert result.limiting == "utilization < 0.7"


def test_network_boundary_meets_the_slo_just_barely(web):
    result = headroom(web)                      # the model's own slo: p95 < 200ms
    at = qmodel.solve(web.with_changes({"arrivals.web.rate": f"{result.rate}/s"}))
    assert at.system.p95_response_time == pytest.approx(0.2, rel=1e-6)
    assert result.bottleneck == "app"
    assert scaled(web, result.factor)["arrivals.web.rate"] == pytest.approx(result.rate)


def test_headroom_needs_an_slo_and_open_classes():
    with pytest.raises(ModelError, match="needs an SLO"):
        headroom(mm1())
