"""Held threads and clients of issue 15 measured on the reference system, against exact
cases (independent of the simulator):

- a gateway -> service -> db chain whose service holds a thread (and a pooled
  connection) while it calls the db: with threads and connections ample (never all
  busy) a visit to the service is its own time plus the db's response, which the same
  model with the db routed after the service (no calls) gives exactly (``qmodel.solve``,
  tandem of M/M/c stations), at the run's measured rate and service times. (The db's
  own response runs 5-10% over M/M/1 on a loaded machine: its delivered services have an
  SCV of ~1.13 and its arrivals ~1.07, the emulation's timing noise, not the calls';
  printed, not gated.);
- a client with a 60 ms timeout and 2 retries against a delay station (exponential 40 ms,
  infinite servers: attempts are independent): an attempt times out with p = exp(-T'/S)
  (T' = T less the client's measured overhead),
  so goodput = rate (1 - p^3) and amplification = 1 + p + p^2 (geometric trials). The
  server keeps working on abandoned attempts (``on_timeout: continue``): it serves every
  attempt. ``qmodel.simulate`` of the same model (at the run's rate) predicts both too;
- the same at three load levels on an M/M/4 with a retry budget, through ``qmodel
  validate`` against the simulator (slow).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rich.console import Console

from loadtest.clients import client_stats, read_client_rows, write_client_spec
from loadtest.loadgen import LoadSpec
from loadtest.predict import calibrate, with_rates
from loadtest.retrying import client_spec
from loadtest.samples import Samples
from loadtest.validate import Harness, class_path, measured_services, validate
from qmodel import load, simulate, solve

from .conftest import write_model

pytestmark = pytest.mark.loadtest

HELD = """
name: held_chain
time_unit: ms
arrivals: {web: {to: gateway, rate: 100/s}}
pools: {conn: {size: 24}}
nodes:
  gateway: {kind: queue, servers: 1, service: 2ms, next: service}
  service:
    kind: queue
    servers: 24
    service: 5ms
    calls: [{to: db, pool: conn}]
  db: {kind: queue, servers: 1, service: 5ms}
"""
# the exact equivalent: the db after the service instead of called by it
ROUTED = """
name: held_chain_routed
time_unit: ms
arrivals: {web: {to: gateway, rate: 100/s}}
nodes:
  gateway: {kind: queue, servers: 1, service: 2ms, next: service}
  service: {kind: queue, servers: 24, service: 5ms, next: db}
  db: {kind: queue, servers: 1, service: 5ms}
"""
RETRYING = """
name: retrying_client
time_unit: ms
arrivals:
  web:
    to: app
    rate: 60/s
    timeout: 60ms
    on_timeout: continue
    retries: {max: 2}
nodes:
  app: {kind: delay, service: 40ms}
"""


def measure(tmp_path, refsys, path, rate: float, duration_s: float, client=None):
    model = load(path)
    system = refsys(path)
    harness = Harness(model, system.url, tmp_path, 2.0, Console(width=140), retries=1)
    client_file = "" if client is None else str(write_client_spec(tmp_path / "client.json",
                                                                   client))
    spec = LoadSpec("open", 2.0 + duration_s + 1.0, rate=rate, path=class_path(model, "web"),
                    client_file=client_file)
    run = harness.measure_valid({"web": spec}, "held")
    assert run.valid, run.problems  # INVALID: the machine was too busy to tell
    return model, run, harness


@pytest.mark.alone  # gated on measured latency (and timeouts): a machine to itself
@pytest.mark.loadtest_full  # opt-in (suite time); test_held.py covers the emulation by default
def test_held_chain_is_own_time_plus_the_db_response(tmp_path, refsys):
    """ρ = 0.5 at the db (100/s x 5 ms): end-to-end mean and p95 within 10% of the routed
    model; the service's visit, held through the call, is its own wait and time plus the
    db's measured response (within 5%: the hand-offs), and its busy threads are the rate
    times that visit (Little's law over the holding time)."""
    path = write_model(tmp_path, "held", HELD)
    model, run, _ = measure(tmp_path, refsys, path, 100.0, 13.0)
    measured = run.measured
    routed = load(write_model(tmp_path, "routed", ROUTED))
    exact = solve(calibrate(with_rates(routed, run.achieved), measured_services(measured)))
    e2e = measured["end_to_end"]["all"]
    service, db = measured["components"]["service"], measured["components"]["db"]
    pairs = {  # measured, exact
        "end-to-end mean": (e2e["mean_response_s"], exact.system.mean_response_time),
        "end-to-end p95": (e2e["p95_response_s"], exact.system.p95_response_time),
        "service visit": (service["mean_response_s"], exact.node("service").mean_response
                          + exact.node("db").mean_response),
        "db (not gated)": (db["mean_response_s"], exact.node("db").mean_response),
    }
    errors = {k: m / p - 1 for k, (m, p) in pairs.items()}
    print({k: f"{m * 1e3:.2f} ms vs {p * 1e3:.2f} ms ({errors[k]:+.1%})"
           for k, (m, p) in pairs.items()})
    assert abs(errors["end-to-end mean"]) < 0.10 and abs(errors["end-to-end p95"]) < 0.10, \
        errors
    own = service["mean_wait_s"] + service["mean_service_s"]
    assert service["mean_response_s"] == pytest.approx(own + db["mean_response_s"], rel=0.05)
    assert service["busy_servers"] == pytest.approx(
        run.achieved["web"] * service["mean_response_s"], rel=0.05)
    assert service["mean_service_s"] < 0.0065  # its own time only: 5 ms and the real work


@pytest.mark.alone  # gated on measured latency (and timeouts): a machine to itself
@pytest.mark.loadtest_full  # opt-in (suite time); test_held.py covers the emulation by default
def test_client_timeouts_and_retries_goodput_and_amplification(tmp_path, refsys):
    path = write_model(tmp_path, "retrying", RETRYING)
    model = load(path)
    client = client_spec(model.network.classes[0].client)
    model, run, _ = measure(tmp_path, refsys, path, 60.0, 10.0, client)
    since, until = run.window
    stats = client_stats(read_client_rows(tmp_path / "run1-web.csv"), since, until)
    # the client's clock runs from its send: its own overhead (HTTP, the gateway; the
    # client time less the server's of requests answered at the first attempt) eats
    # into the 60 ms
    samples = Samples.read(tmp_path / "run1-web.csv").window(since, until)
    latency = samples.done - samples.intended
    first = (samples.status == 200) & (latency < 0.060)
    overhead = float(np.mean((latency - samples.server_s)[first]))
    p = math.exp(-(0.060 - overhead) / 0.040)
    rate = stats["offered_per_s"]
    expected = {"goodput_per_s": rate * (1 - p ** 3), "amplification": 1 + p + p * p,
                "timeouts per request": p + p * p + p ** 3}
    got = {"goodput_per_s": stats["goodput_per_s"], "amplification": stats["amplification"],
           "timeouts per request": stats["timeouts"] / stats["requests"]}
    print(stats, expected, f"overhead {overhead * 1e3:.2f} ms")
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=0.10), (key, got, expected)
    # continue: the server served every attempt, abandoned ones included (wasted work)
    served = run.measured["components"]["app"]["count"]
    assert served == pytest.approx(stats["attempts"], rel=0.05)
    sim = simulate(with_rates(model, run.achieved), replications=3, customers=6000, seed=1,
                   progress=False).classes["web"].client
    assert stats["goodput_per_s"] == pytest.approx(float(sim.goodput), rel=0.10)
    assert stats["amplification"] == pytest.approx(float(sim.retry_amplification), rel=0.10)


QUEUE = """
name: retrying_queue
time_unit: ms
arrivals:
  web:
    to: app
    rate: 100/s
    timeout: 50ms
    on_timeout: continue
    retries: {max: 2, backoff: {base: 10ms, jitter: full}, budget: {ratio: 0.2}}
nodes:
  app: {kind: queue, servers: 4, service: 20ms}
"""


@pytest.mark.slow
@pytest.mark.loadtest_full  # opt-in: `slow` alone is not deselected by scripts/test.sh
def test_goodput_and_amplification_at_three_loads_against_the_simulator(tmp_path):
    """M/M/4 with 20 ms services at ρ 0.3, 0.5, 0.7 (60, 100, 140/s); attempts time out
    after 50 ms (2.5 mean services: some even without waiting), two retries under a 20%
    budget (a unique stable state: at most 1.2 attempts per request, 168/s < 200/s)."""
    path = write_model(tmp_path, "queue", QUEUE)
    report = validate(path, [0.3, 0.5, 0.7], "10s", warmup="2s", calibration="5s",
                      out=tmp_path / "retries.html")
    for level in report.levels:
        assert level.valid, level.checks
        for metric in ("goodput_per_s", "amplification"):
            row = level.row("web (client)", metric)
            print(level.load, metric, row.measured, row.predicted, row.rel_error)
            assert row.within, (level.load, metric, row)


HELD_POOL = """
name: held_pool
time_unit: ms
arrivals: {web: {to: gateway, rate: 100/s}}
nodes:
  gateway: {kind: queue, servers: 1, service: 2ms, next: service}
  service:
    kind: queue
    servers: 3
    service: 3ms
    calls: [{to: db}]
  db: {kind: queue, servers: 2, service: 6ms}
"""


@pytest.mark.slow
@pytest.mark.loadtest_full  # opt-in: `slow` alone is not deselected by scripts/test.sh
def test_held_thread_pool_at_three_loads_against_the_simulator(tmp_path):
    """The issue's chain with a held pool that binds: 3 service threads, each held for its
    own 3 ms and the db's response (2 servers of 6 ms), so threads wait for the db and
    callers wait for threads; no product form, so the prediction is ``qmodel.simulate``'s.
    End-to-end mean and p95 within 10% at ρ 0.3 and 0.5 (measured +6.2%/+6.0% and
    -1.6%/-2.9%). At ρ 0.7 the system ran +30% over the simulator's mean (+20% at the
    measured service times) in the one run so far: an open gap of issue 15, reported here
    as an expected failure until it is understood."""
    path = write_model(tmp_path, "held_pool", HELD_POOL)
    report = validate(path, [0.3, 0.5, 0.7], "10s", warmup="2s", calibration="5s",
                      out=tmp_path / "held.html")
    high = []
    for level in report.levels:
        assert level.valid, level.checks
        for metric in ("mean_response_s", "p95_response_s"):
            row = level.row("end-to-end", metric)
            print(level.load, metric, row.measured, row.predicted, row.rel_error)
            if level.load < 0.7:
                assert abs(row.rel_error) <= 0.10, (level.load, metric, row)
            elif abs(row.rel_error) > 0.10:
                high.append(f"{metric} {row.rel_error:+.1%}")
    if high:
        pytest.xfail(f"issue 15 (open): at rho 0.7 the held pool runs over the simulator: "
                     f"{', '.join(high)}")


HEDGED = """
name: hedged_client
time_unit: ms
arrivals:
  web:
    to: app
    rate: 40/s
    hedge: {after: 40ms, copies: 1, cancel: true}
nodes:
  app: {kind: delay, service: 40ms}
"""


@pytest.mark.slow
@pytest.mark.loadtest_full  # opt-in: `slow` alone is not deselected by scripts/test.sh
def test_hedged_requests_take_the_first_answer(tmp_path, refsys):
    """A copy after 40 ms to an exponential 40 ms delay station: copies per request
    1 + P(S > 40 ms) = 1 + 1/e, response min(S1, 40 ms + S2) with mean
    40 (1 - 1/e) + 20/e ms = 32.6 ms (40 ms unhedged), plus the client's own overhead
    (HTTP and the gateway: the measured client time less the server's time, of the
    requests answered before a copy was sent)."""
    path = write_model(tmp_path, "hedged", HEDGED)
    client = client_spec(load(path).network.classes[0].client)
    _, run, _ = measure(tmp_path, refsys, path, 40.0, 12.0, client)
    stats = client_stats(read_client_rows(tmp_path / "run1-web.csv"), *run.window)
    samples = Samples.read(tmp_path / "run1-web.csv").window(*run.window)
    latency = samples.done - samples.intended
    overhead = float(np.mean((latency - samples.server_s)[latency < 0.040]))
    exact = 0.040 * (1 - math.exp(-1)) + 0.020 * math.exp(-1)
    print(stats, latency.mean(), exact, overhead)
    assert stats["amplification"] == pytest.approx(1 + math.exp(-1), rel=0.10)
    assert latency.mean() == pytest.approx(exact + overhead, rel=0.10)
    assert stats["successes"] == stats["requests"]
