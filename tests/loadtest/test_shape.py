"""``validate --shape`` without a system: the measured series' bins (Little's law, a hand
computed example), the profile file locust reads, the profile run's self-check, the
criteria's verdicts, and the CLI's refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.profile_file import MAX_PROFILE_FILE, read_profile_file, write_profile_file
from loadtest.samples import Samples, check_profile
from loadtest.series import measured_series
from loadtest.shape_compare import compare, run_metrics
from qmodel.model.model import Model
from qmodel.model.profiles import parse
from qmodel.sim.arrivals import thinned

from .conftest import write_model

SPIKE = {"profile": "spike", "base": "40/s", "peak": "130/s", "at": "8s", "duration": "4s",
         "length": "20s"}


def samples(intended, done, status=None) -> Samples:
    intended, done = np.asarray(intended, float), np.asarray(done, float)
    status = np.full(len(done), 200) if status is None else np.asarray(status)
    return Samples(intended, intended.copy(), done, status, np.zeros(len(done)))


def test_bins_by_hand():
    """Three requests over two 1 s bins: in flight [0.2, 0.7], [0.9, 1.4], [1.1, 1.3]
    (the last refused, a 429): it is in flight but neither completes nor counts."""
    s = samples([10.2, 10.9, 11.1], [10.7, 11.4, 11.3], [200, 200, 429])
    f = measured_series(s, 10.0, np.array([0.0, 1.0, 2.0]))
    assert f["arrivals_per_s"].tolist() == [2.0, 1.0]
    assert f["throughput_per_s"].tolist() == [1.0, 1.0]
    # bin 0: 0.5 + 0.1 = 0.6 request-seconds; bin 1: 0.4 + 0.2 = 0.6
    assert f["in_system"].round(9).tolist() == [0.6, 0.6]
    assert f["mean_response_s"].round(9).tolist() == [0.5, 0.5]
    assert f["p95_response_s"].round(9).tolist() == [0.5, 0.5]


def test_bins_keep_littles_law():
    """Requests that start and end inside the run: the area under the number in flight
    (the bins' in_system times their width, summed) is the sum of the response times."""
    rng = np.random.default_rng(4)
    arrive = np.sort(rng.uniform(0, 18, 2000))
    done = arrive + rng.exponential(0.3, 2000)
    f = measured_series(samples(arrive + 100, done + 100), 100.0, np.arange(0.0, 31.0, 2.0))
    assert (f["in_system"] * 2.0).sum() == pytest.approx((done - arrive).sum(), rel=1e-9)
    assert f["arrivals_per_s"].sum() * 2 == 2000 and f["throughput_per_s"].sum() * 2 == 2000


def test_profile_file_round_trip(tmp_path):
    for spec in (SPIKE, {"profile": "ramp", "from": 10, "to": 50, "start": 2, "end": 6},
                 {"profile": "sine", "mean": 100, "amplitude": 40, "period": "20s"}):
        profile = parse(spec)
        back = read_profile_file(write_profile_file(tmp_path / "p.json", profile))
        t = np.linspace(0, profile.length * 1.2, 997)
        assert back.rate_at(t) == pytest.approx(profile.rate_at(t))
        assert back.length == profile.length


@pytest.mark.parametrize(("content", "says"), [
    (b"{not json", "cannot read"), (b"[1]", "JSON object"),
    (b"{}" + b" " * MAX_PROFILE_FILE, "more than 1024 KiB"),
    (b'{"profile": "spike", "base": NaN}', "NaN is not a number"),
    (b'{"profile": "piecewise", "points": [[0, -5]]}', "points.0: must be a non-negative"),
    (b'{"profile": "file", "file": "/etc/passwd"}', "not name another file"),
    (b'{"profile": "piecewise", "points": [[0, 5]], "rm": 1}', "rm: unknown key")])
def test_a_bad_profile_file_is_refused(tmp_path, content, says):
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=says):
        read_profile_file(path)


def test_check_profile_accepts_the_thinned_stream_and_refuses_a_constant_one():
    profile = parse(SPIKE)
    it = thinned(profile, np.random.default_rng(3))
    times = np.cumsum([next(it) for _ in range(1300)])
    times = 1000.0 + times[times < 20]
    check = check_profile(samples(times, times + 0.01), profile, 1000.0, 1000.0, 1020.0)
    assert check.valid, check.problems
    assert check.target_rate == pytest.approx(profile.mean_rate(20.0))
    flat = 1000.0 + np.cumsum(np.random.default_rng(3).exponential(1 / 58.0, 1160))
    bad = check_profile(samples(flat, flat + 0.01), profile, 1000.0, 1000.0, 1020.0)
    assert any("CV" in p for p in bad.problems), bad.problems


def frame(p95, in_system):
    n = len(p95)
    rates = [40.0] * n
    rates[4:6] = [130.0, 130.0]
    return pd.DataFrame({"time_s": np.arange(n, dtype=float), "end_s": np.arange(1, n + 1.0),
                         "rate_per_s": rates, "in_system": in_system, "p95_response_s": p95})


def test_run_metrics_and_verdicts():
    """Lead-in p95 0.05 s (steady), load back at 6 s, p95 back within 10% in bin 8-9:
    recovery 3 s; peaks read off the bins."""
    network = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
                               "arrivals": {"web": {"to": "app", "rate": {
                                   "profile": "spike", "base": "40/s", "peak": "130/s",
                                   "at": "4s", "duration": "2s", "length": "10s"}}}}).network
    measured = frame([.05, .05, .05, .05, .3, .6, .7, .2, .054, .05], [1, 1, 1, 1, 20, 50, 40,
                                                                      9, 1, 1])
    metrics = run_metrics(network, measured)
    assert metrics == {"peak_p95_s": 0.7, "recovery_s": 3.0, "queue_peak": 50.0}
    singles = [{"peak_p95_s": v, "recovery_s": r, "queue_peak": q}
               for v, r, q in ((.62, 3.0, 45.0), (.64, 4.0, 46.0), (.66, 3.0, 47.0),
                               (.68, 4.0, 48.0))]
    by = {c.name: c for c in compare(metrics, singles, 1.0)}
    assert by["peak p95"].predicted == pytest.approx(0.65) and by["peak p95"].passed
    assert by["peak p95"].rule == "15%"  # 0.0975 beats 2 sd of the singles (0.058)
    assert by["recovery"].rule == "2 bins" and by["recovery"].passed  # 3 vs 3.5
    assert by["queue peak"].passed  # 50 vs 46.5, within 15% (6.975)
    worse = compare(metrics | {"peak_p95_s": 0.76, "recovery_s": 6.0, "queue_peak": 54.0},
                    singles, 1.0)
    assert [c.passed for c in worse] == [False, False, False]


def test_noise_widens_a_tolerance_and_a_step_has_no_recovery():
    singles = [{"peak_p95_s": v, "recovery_s": None, "queue_peak": 10.0}
               for v in (0.5, 1.0, 1.5, 2.0)]
    by = {c.name: c for c in compare({"peak_p95_s": 2.0, "recovery_s": None,
                                      "queue_peak": 10.0}, singles, 1.0)}
    noise = 2 * np.std([0.5, 1.0, 1.5, 2.0], ddof=1) * np.sqrt(1.25)
    assert by["peak p95"].tolerance == pytest.approx(noise) and by["peak p95"].passed
    assert by["peak p95"].rule == "2 sd of a single run"
    assert by["recovery"].passed is None and by["recovery"].predicted is None


def test_cli_refuses_a_model_without_a_profile_and_bad_bins(tmp_path):
    runner = CliRunner()
    steady = write_model(tmp_path, "steady", "nodes: {app: {kind: queue, service: 10ms}}\n"
                         "arrivals: {web: {to: app, rate: 40/s}}\n")
    result = runner.invoke(app, ["validate", str(steady), "--shape"])
    assert result.exit_code == 2 and "needs an open class with" in result.output
    spike = write_model(tmp_path, "spike", "nodes: {app: {kind: queue, service: 10ms}}\n"
                        "arrivals: {web: {to: app, rate: {profile: spike, base: 40/s, "
                        "peak: 130/s, at: 8s, duration: 4s, length: 20s}}}\n")
    result = runner.invoke(app, ["validate", str(spike), "--shape", "--bins", "15s"])
    assert result.exit_code == 2 and "at most half the profile's length" in result.output
    result = runner.invoke(app, ["validate", str(spike), "--shape", "--url", "http://x"])
    assert result.exit_code == 2 and "not with --url" in result.output
