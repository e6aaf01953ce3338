"""web_service.yaml (gateway -> app pool -> 4 db shards, open, Poisson): measured mean
and p95 end to end (server side) within 10% of the model calibrated at low load.

Window lengths, from the sampling noise of the model itself (simulated: many windows of
the ideal network, realized Poisson rate included; relative standard deviation of the
window's mean / p95 against the analytic values):

    load   30 s x1       60 s x1       60 s x2
    0.3    1.7% / 2.4%
    0.5    1.2% / 2.0%                 0.6% / 0.9%
    0.7    1.9% / 2.5%   1.4% / 1.7%   1.1% / 1.2%
    0.85   5.8% / 7.3%   4.8% / 6.7%   3.1% / 4.0%

So ±10% means something at 0.3-0.7 with 30 s windows (a perfect system fails by chance
less than 1% of the time); at 0.85 a 30 s window fails by chance 9% (mean) / 14% (p95)
of the time, 60 s x2 about 1%. The default suite runs 0.5 and 0.7 with 20 s windows (the
30 s figures scaled by sqrt(30/20): 1.5% / 2.4% at 0.5, 2.3% / 3.1% at 0.7, so ±10% is
still over 3 standard deviations); the full set (opt-in: 0.3/0.5/0.7/0.85, 60 s windows
x 2 repetitions, ~10 minutes) is where 0.85 is gated.
"""

from __future__ import annotations

import pytest

from loadtest.validate import validate

from .conftest import TOPOLOGIES

pytestmark = pytest.mark.loadtest


def check(report, loads):
    assert [lv.load for lv in report.levels] == loads
    for level in report.levels:
        assert level.valid, level.checks  # INVALID: the machine was too busy to tell
        for metric in ("mean_response_s", "p95_response_s"):
            row = level.row("end-to-end", metric)
            assert row.within, (level.load, metric, row)
    assert report.passed


@pytest.mark.alone  # the gated validation: run on a machine to itself
def test_web_service_subset(tmp_path):
    loads = [0.5, 0.7]
    report = validate(TOPOLOGIES / "web_service.yaml", loads, "20s", warmup="3s",
                      calibration="10s", out=tmp_path / "validation.html")
    check(report, loads)
    assert (tmp_path / "validation.json").exists()


@pytest.mark.loadtest_full
def test_web_service_full_set(tmp_path):
    loads = [0.3, 0.5, 0.7, 0.85]
    report = validate(TOPOLOGIES / "web_service.yaml", loads, "60s", warmup="5s",
                      repeats=2, calibration="20s", out=tmp_path / "validation.html")
    check(report, loads)
