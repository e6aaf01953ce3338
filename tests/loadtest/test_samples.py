"""The load generator's self-checks, on synthetic sample streams."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.loadgen import LoadSpec, locust_command
from loadtest.samples import Samples, check_closed, check_open, latency, write_samples
from loadtest.shapes import rate_factor


def poisson(rate: float, seconds: float, seed: int = 1, lateness: float = 0.0005) -> Samples:
    rng = np.random.default_rng(seed)
    intended = 1000.0 + np.cumsum(rng.exponential(1 / rate, int(rate * seconds * 1.2)))
    intended = intended[intended < 1000.0 + seconds]
    sent = intended + rng.exponential(lateness, len(intended))
    done = sent + rng.exponential(0.02, len(sent))
    n = len(intended)
    return Samples(intended, sent, done, np.full(n, 200), done - sent - 0.001,
                   [{"cpu_percent": 20.0}])


def test_a_poisson_stream_passes():
    check = check_open(poisson(200, 60), 200, 1003, 1059)
    assert check.valid, check.problems
    assert abs(check.interarrival_cv - 1) < 0.05


def test_bursts_fail_the_cv_check():
    s = poisson(200, 60)
    s.sent = np.floor(s.sent * 4) / 4  # everything leaves in 250 ms bursts
    check = check_open(s, 200, 1003, 1059)
    assert not check.valid
    assert any("CV" in p for p in check.problems)


def test_a_wrong_rate_fails():
    check = check_open(poisson(150, 60), 200, 1003, 1059)
    assert any("rate" in p for p in check.problems)


def test_rate_tolerance_widens_for_small_windows():
    check = check_open(poisson(20, 10), 20, 1001, 1009)
    assert check.rate_tolerance > 0.03


def test_late_sends_and_busy_client_fail():
    s = poisson(200, 60, lateness=0.02)
    s.meta = [{"cpu_percent": 95.0}]
    problems = " ".join(check_open(s, 200, 1003, 1059).problems)
    assert "send delay" in problems and "CPU" in problems


def test_closed_loop_check_uses_the_response_time_law():
    rng = np.random.default_rng(3)
    users, think, rows = 20, 0.5, []
    for _ in range(users):
        t = 1000.0 + rng.exponential(think)
        while t < 1060:
            r = rng.exponential(0.05)
            rows.append((t, t, t + r))
            t += r + rng.exponential(think)
    a = np.array(sorted(rows))
    s = Samples(a[:, 0], a[:, 1], a[:, 2], np.full(len(a), 200), a[:, 2] - a[:, 1], [])
    assert check_closed(s, users, think, 1005, 1059).valid
    assert not check_closed(s, users * 2, think, 1005, 1059).valid


def test_samples_round_trip_and_latency_from_intended(tmp_path):
    out = tmp_path / "run.csv"
    write_samples(out, [(1.0, 1.5, 2.0, 200, 0.4), (2.0, 2.0, 2.1, 429, 0.0)],
                  {"cpu_percent": 10.0})
    write_samples(tmp_path / "run.csv.worker1", [(1.5, 1.5, 1.6, 202, 0.05)], {})
    s = Samples.read(out)
    assert list(s.intended) == [1.0, 1.5, 2.0] and len(s.meta) == 2
    doc = latency(s)
    assert doc["statuses"] == {200: 1, 202: 1, 429: 1}
    assert doc["client"]["mean_s"] == pytest.approx((1.0 + 0.1) / 2)  # from intended


@pytest.mark.parametrize("shape,at,expected", [
    ("constant", 0.5, 1.0), ("step", 0.1, 0.2), ("step", 0.99, 1.0), ("spike", 0.5, 3.0),
    ("spike", 0.2, 1.0), ("stress", 1.0, 2.0), ("soak", 0.7, 1.0)])
def test_shapes(shape, at, expected):
    assert rate_factor(shape, at * 100, 100) == pytest.approx(expected)


def test_high_rates_are_split_over_processes():
    command = locust_command("http://127.0.0.1:1", LoadSpec("open", 10, rate=4000),
                             __import__("pathlib").Path("/tmp/x.csv"))
    assert command[command.index("--processes") + 1] == "3"
    assert command[command.index("-u") + 1] == "3"


def test_a_starved_system_fails_its_own_check():
    from loadtest.samples import check_system

    quiet = {"processes": {"gateway": {"runqueue_wait_s_per_s": 0.01, "loop_lag_p99_s": 0.001}}}
    assert check_system(quiet).valid
    busy = {"processes": {"gateway": {"runqueue_wait_s_per_s": 0.35, "loop_lag_p99_s": 0.001},
                          "worker w": {"runqueue_wait_s_per_s": float("nan"),
                                       "loop_lag_p99_s": 0.02}}}
    problems = " ".join(check_system(busy).problems)
    assert "gateway waited 0.35 s/s" in problems and "lag p99 20.0 ms" in problems
    assert check_system(None).valid  # no probe (an older system): nothing to say


def test_a_traced_system_is_allowed_its_spans_loop_lag_but_not_a_busy_machine():
    from loadtest.samples import TRACED_LOOP_LAG_P99_LIMIT_S, check_system

    traced = {"processes": {"gateway": {"runqueue_wait_s_per_s": 0.05, "loop_lag_p99_s": 0.0025}}}
    assert not check_system(traced).valid
    assert check_system(traced, TRACED_LOOP_LAG_P99_LIMIT_S).valid
    traced["processes"]["gateway"]["runqueue_wait_s_per_s"] = 0.4
    assert "waited 0.40 s/s" in " ".join(check_system(traced, TRACED_LOOP_LAG_P99_LIMIT_S).problems)
