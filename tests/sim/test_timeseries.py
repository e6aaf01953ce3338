"""Simulation over time: non-homogeneous Poisson arrivals, metrics per bin (checked
against Little's law and M/M/1), the peak and the recovery after a spike, the output."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import qmodel
from qmodel.errors import ModelError, UnsupportedError
from qmodel.model.profiles import parse
from qmodel.sim.arrivals import thinned
from qmodel.sim.bins import binned, run_logged

SPIKE = {"profile": "spike", "base": "50/s", "peak": "150/s", "at": "20s", "duration": "5s"}


def model(rate, service="10ms", **node) -> qmodel.Model:
    return qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "service": service, **node}},
        "arrivals": {"web": {"to": "app", "rate": rate}}})


@pytest.fixture(scope="module")
def spike() -> qmodel.sim.TimeSeries:
    return qmodel.simulate(model(SPIKE), bins="1s", replications=4, seed=11)


def test_thinning_gives_poisson_counts_at_the_profile_rate():
    profile = parse({"profile": "step", "from": 20, "to": 200, "at": 5, "length": 10})
    counts = []
    for seed in range(40):
        gaps = thinned(profile, np.random.default_rng(seed))
        times, t = [], 0.0
        while t < 10:
            t += next(gaps)
            times.append(t)
        counts.append(np.histogram(times, [0, 5, 10])[0])
    mean, var = np.mean(counts, axis=0), np.var(counts, axis=0, ddof=1)
    # Poisson: mean = variance = rate x 5 s (100 and 1000); 40 runs, 5 standard errors
    for k, expected in enumerate((100, 1000)):
        assert mean[k] == pytest.approx(expected, abs=5 * np.sqrt(expected / 40))
        assert var[k] / mean[k] == pytest.approx(1, abs=0.6)


def test_bins_obey_littles_law_exactly():
    """The area under the number in system equals the completed jobs' response times plus
    the time the unfinished ones (the last arrivals, FCFS) have spent so far."""
    m = model({"profile": "ramp", "from": 20, "to": 120, "start": 5, "end": 15})
    horizon = 20.0
    log = run_logged(m.network, np.random.SeedSequence(3), horizon)
    edges = np.linspace(0, horizon, 41)
    series = binned(log, edges)
    area = float(np.sum(series["in_system"] * np.diff(edges)))
    unfinished = log.arrivals[len(log.exits):]
    assert area == pytest.approx(log.responses.sum() + np.sum(horizon - unfinished), rel=1e-9)
    assert series["arrivals_per_s"].sum() * 0.5 == len(log.arrivals)


def test_a_constant_rate_settles_at_the_mm1_values():
    ts = qmodel.simulate(model({"profile": "piecewise", "points": [[0, "50/s"]],
                                "length": "100s"}), bins="10s", replications=3, seed=5)
    late = ts.frame.iloc[1:]
    # M/M/1, rho = 0.5: L = 1 job, W = 20 ms, p95 = ln(20) x 20 ms (each within ~4 SE)
    assert late["in_system"].mean() == pytest.approx(1.0, rel=0.15)
    assert late["mean_response_s"].mean() == pytest.approx(0.02, rel=0.15)
    assert late["p95_response_s"].mean() == pytest.approx(np.log(20) * 0.02, rel=0.15)
    assert late["throughput_per_s"].mean() == pytest.approx(50, rel=0.05)
    assert ts.recovery is None  # the load never changes


def test_spike_peak_and_recovery(spike):
    f = spike.frame
    during = f[(f.time_s >= 20) & (f.end_s <= 25)]
    assert np.all(during.rate_per_s == 150)
    assert np.all((during.arrivals_per_s_low < 150) & (150 < during.arrivals_per_s_high))
    # overload 150/s against 100/s: the backlog peaks when the spike ends (~250 jobs)
    assert spike.peak["time_s"] in (24.0, 25.0)
    assert 180 < spike.peak["in_system"] < 320
    rec = spike.recovery
    assert rec["load_back_s"] == 25 and rec["recovered"]
    # the backlog of ~250 drains at 100 - 50 = 50/s: about 5 s
    assert 3 <= rec["recovery_s"] <= 10
    assert rec["steady_p95_s"] == pytest.approx(np.log(20) * 0.02, rel=0.3)


def test_series_files_and_figure(spike, tmp_path):
    spike.write(tmp_path / "s.csv")
    assert len(pd.read_csv(tmp_path / "s.csv")) == 50
    spike.write(tmp_path / "s.parquet")
    assert pd.read_parquet(tmp_path / "s.parquet")["p95_response_s"].notna().all()
    doc = json.loads(spike.write(tmp_path / "s.json").read_text())
    assert doc["recovery"]["recovered"] and len(doc["series"]) == 50
    spike.write(tmp_path / "s.html")
    assert "plotly" in (tmp_path / "s.html").read_text()[:5000].lower()
    names = [trace.name for trace in spike.figure().data]
    assert len(names) == 13 and {"exact (CTMC)", "fluid", "PSA", "p95 (PSA)"} <= set(names)
    with pytest.raises(ModelError, match="--out: must end in .csv"):
        spike.write(tmp_path / "s.xlsx")


@pytest.mark.parametrize("options, message", [
    ({"bins": "1s", "customers": 100}, "customers: not used with bins"),
    ({"bins": "fast"}, "bins: must be a duration"),
    ({"bins": "1ms", "horizon": "1h"}, "3,600,000 bins"),
])
def test_bad_bin_options(options, message):
    with pytest.raises(ModelError, match=message):
        qmodel.simulate(model(SPIKE), **options)


def test_bins_need_a_horizon_without_a_profile():
    with pytest.raises(ModelError, match="horizon: is required"):
        qmodel.simulate(model("50/s"), bins="1s")
    done = []
    ts = qmodel.simulate(model("50/s"), bins="1s", horizon="2s", replications=2, seed=1,
                         progress=done.append)
    assert ts.frame.rate_per_s.tolist() == [50, 50]
    assert done == [0.5, 1.0]  # a callable progress counts the replications


def test_a_profile_without_bins_runs_its_length_on_simpy():
    m = model({"profile": "step", "from": 10, "to": 20, "at": 5})
    r = qmodel.simulate(m, replications=2, seed=1)
    assert "the run is its 10 s" in r.notes[0] and "simpy" in r.notes[0]
    with pytest.raises(UnsupportedError, match="a rate profile .* needs the simpy engine"):
        qmodel.simulate(m, method="fast")
