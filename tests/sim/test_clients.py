"""Clients that time out, retry and hedge, against closed forms: M/M/1 response-time
tails, independent attempts at an infinite-server station, the minimum of two shifted
exponentials, and the retry budget's own bound."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import simpy
from scipy.integrate import quad

import qmodel
from qmodel import Model
from qmodel.model.behaviour_spec import ClientFields, Retries
from qmodel.sim import api
from qmodel.sim.clients import Policy
from qmodel.sim.streams import Streams

MU = 100.0  # 10 ms exponential service


def within(est, exact: float, slack: float = 0.02) -> bool:
    low, high = est.ci95
    return low - slack * abs(exact) <= exact <= high + slack * abs(exact)


def client(web: dict, node: dict | None = None, seed: int = 1, **options):
    node = node or {"kind": "delay", "service": "10ms"}
    model = Model.from_dict({"nodes": {"db": node},
                             "arrivals": {"web": {"to": "db", "rate": "50/s", **web}}})
    options = {"replications": 4, "customers": 4000, **options}
    return qmodel.simulate(model, seed=seed, **options).classes["web"]


MM1 = {"kind": "queue", "service": "10ms"}


@pytest.fixture(scope="module")
def continued():
    return client({"timeout": "20ms"}, MM1)


def test_timeouts_on_an_mm1_are_its_response_tail(continued):
    # The server finishes abandoned attempts, so the queue is an M/M/1 at rho 0.5 and an
    # attempt times out with P(R > tau) = exp(-(mu - lambda) tau).
    c = continued.client
    p = math.exp(-(MU - 50) * 0.020)
    assert within(c.timeout_rate, 50 * p, 0.03)
    assert within(c.failure_rate, 50 * p, 0.03)  # no retries: a timeout is a failure
    assert within(c.goodput, 50 * (1 - p), 0.03)
    assert c.retry_amplification == pytest.approx(1.0)
    # Wasted work: the full service S of every timed-out attempt, E[S; R > tau] per
    # arrival, with R = W + S, P(W > x) = rho e^{-(mu - lambda) x} (FCFS M/M/1).
    tau, rho = 0.020, 0.5

    def density(s: float) -> float:
        return s * MU * math.exp(-MU * s) * rho * math.exp(-(MU - 50) * (tau - s))

    per_arrival = math.exp(-MU * tau) * (tau + 1 / MU) + quad(density, 0, tau)[0]
    assert within(c.wasted_work, 50 * per_arrival, 0.03)


def test_cancelling_timed_out_attempts_wastes_only_their_partial_service(continued):
    cancelled = client({"timeout": "20ms", "on_timeout": "cancel"}, MM1).client
    assert 0 < cancelled.wasted_work < 0.6 * continued.client.wasted_work
    # Withdrawn attempts shorten the queue: fewer time out than with continue.
    assert cancelled.timeout_rate < continued.client.timeout_rate
    assert client({}, MM1).client is None  # no behaviours: the result is as it was


def test_retries_of_independent_attempts_amplify_by_the_geometric_sum():
    # Infinite servers: attempts do not interact, each times out with p = exp(-mu tau).
    p = math.exp(-MU * 0.010)
    c = client({"timeout": "10ms", "retries": {"max": 3}}).client
    assert within(c.retry_amplification, 1 + p + p**2 + p**3, 0.01)
    assert within(c.failure_rate, 50 * p**4, 0.1)
    assert within(c.offered_rate, 50.0, 0.02)


def test_hedging_with_cancel_is_the_minimum_of_two_shifted_responses():
    # R = min(R1, d + R2), R1, R2 ~ Exp(mu): E[R] = (1 - e^{-mu d})/mu + e^{-mu d}/(2 mu).
    d = 0.005
    web = client({"hedge": {"after": "5ms"}})
    tail = math.exp(-MU * d)
    assert within(web.mean_response_time, (1 - tail) / MU + tail / (2 * MU), 0.02)
    assert within(web.client.retry_amplification, 1 + tail, 0.01)
    assert web.client.timeout_rate == 0


def test_a_quantile_hedge_is_estimated_by_a_pilot_run():
    model = Model.from_dict({"nodes": {"db": {"kind": "delay", "service": "10ms"}},
                             "arrivals": {"web": {"to": "db", "rate": "50/s",
                                                  "hedge": {"after": "p50"}}}})
    r = qmodel.simulate(model, replications=2, customers=2000, seed=3)
    note = next(n for n in r.notes if "pilot run" in n)
    ms = float(note.split("= ")[1].split(" ms")[0])
    assert ms == pytest.approx(1000 * math.log(2) / MU, rel=0.08)  # the median of Exp(mu)
    # about half of the requests send a copy
    assert within(r.classes["web"].client.retry_amplification, 1.5, 0.05)


def test_the_retry_budget_caps_retries_per_first_attempt():
    # 5 ms timeouts on a 10 ms exponential: 61% of attempts time out; unbudgeted, three
    # retries would amplify by 1.6; the budget allows 10% of first attempts.
    web = {"timeout": "5ms", "retries": {"max": 3, "budget": {"ratio": 0.1, "window": "1s"}}}
    c = client(web, customers=2500).client
    assert 1.05 < float(c.retry_amplification) <= 1.1 + 1e-9
    c = client({**web, "retries": {**web["retries"], "budget": {
        "ratio": 0.1, "min": "5/s", "window": "1s"}}}, customers=2500).client
    assert float(c.retry_amplification) <= 1 + 0.1 + 5 / 50 + 1e-9


def test_backoff_waits_between_attempts():
    # A rejected attempt (a full single-slot station) is retried after a 10 ms wait.
    node = {"kind": "queue", "service": "10ms", "capacity": 1}
    plain = client({"retries": {"max": 1}}, node, customers=2000)
    waited = client({"retries": {"max": 1, "backoff": {"base": "10ms"}}}, node, customers=2000)
    assert waited.client.retry_amplification > 1.1
    assert waited.mean_response_time > plain.mean_response_time


def test_a_hedged_call_left_running_is_wasted_work_and_the_same_minimum():
    # Hedged after 5 ms without cancel: the response is still min(R1, d + R2) (+1 ms of
    # the caller's own work), and every copy runs to the end.
    d, tail = 0.005, math.exp(-MU * 0.005)
    s1, s2 = np.random.default_rng(0).exponential(1 / MU, (2, 2_000_000))
    # the loser's whole service, when a copy was sent (Monte Carlo)
    wasted = 50 * np.mean(np.where(s1 > d, np.where(s1 < d + s2, s2, s1), 0.0))
    r = qmodel.simulate(Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": 100,
                          "service": {"dist": "deterministic", "value": "1ms"},
                          "calls": [{"to": "db", "hedge": {"after": "5ms", "cancel": False}}]},
                  "db": {"kind": "delay", "service": "10ms"}},
        "arrivals": {"web": {"to": "app", "rate": "50/s"}}}),
        replications=3, customers=3000, seed=8)
    assert within(r.system.mean_response_time, 0.001 + (1 - tail) / MU + tail / (2 * MU))
    assert within(r.node("db").arrival_rate, 50 * (1 + tail), 0.02)
    assert within(r.classes["web"].client.wasted_work, wasted, 0.03)


def test_a_retry_storm_at_rho_095_ends_and_is_reported_unstable():
    model = Model.from_dict({
        "nodes": {"api": {"kind": "queue", "servers": 4, "service": "40ms"}},
        "arrivals": {"web": {"to": "api", "rate": "95/s", "timeout": "200ms",
                             "retries": {"max": 3}}}})
    r = qmodel.simulate(model, replications=2, customers=5000, seed=1)
    assert [u.station for u in r.unstable] == ["api"]
    assert float(r.classes["web"].client.retry_amplification) > 3


def test_an_overloaded_retrying_model_stops_after_its_attempts_not_its_requests(monkeypatch):
    # Offered load 1.2: the run stops once about UNSTABLE_ARRIVALS attempts have been
    # sent, whatever the retries multiply the arrivals by (here at most 3).
    monkeypatch.setattr(api, "UNSTABLE_ARRIVALS", 6_000)
    model = Model.from_dict({
        "nodes": {"api": {"kind": "queue", "service": "10ms"}},
        "arrivals": {"web": {"to": "api", "rate": "120/s", "timeout": "50ms",
                             "retries": {"max": 2}}}})
    r = qmodel.simulate(model, replications=1, seed=1, trace=True)
    assert not r.stable and float(r.classes["web"].client.retry_amplification) > 2
    # the run lasts 6,000 / (120/s × 3), not 6,000 / (120/s)
    assert 0.9 * 6_000 / 360 < r.trace["end_s"].max() <= 6_000 / 360


@pytest.mark.parametrize("node, message", [
    ({"kind": "queue", "service": "10ms", "discipline": "ps"}, "cannot be withdrawn"),
    ({"kind": "queue", "service": "10ms", "patience": "1s",
      "failures": {"mttf": "1h", "mttr": "1min"}}, "failures of a station"),
])
def test_combinations_the_engine_cannot_run_are_refused_by_name(node, message):
    model = Model.from_dict({"nodes": {"db": node}, "arrivals": {"web": {
        "to": "db", "rate": "50/s", "timeout": "1s", "on_timeout": "cancel"}}})
    with pytest.raises(qmodel.UnsupportedError, match=message):
        qmodel.simulate(model, replications=1, customers=100)


def policy(backoff: dict):
    """A client policy on its own (a stand-in engine: a clock and random streams)."""
    engine = SimpleNamespace(env=simpy.Environment(),
                             streams=Streams(np.random.SeedSequence(4)))
    fields = Retries.model_validate({"max": 5, "backoff": backoff}, context={"time_unit": "s"})
    return Policy(engine, ClientFields(timeout=1.0, retries=fields), ("t",), [0] * 5, None)


def test_backoff_grows_to_its_cap_and_jitter_spreads_it():
    plain = policy({"base": 0.01, "factor": 3, "cap": 0.05})
    assert [plain.backoff(k) for k in (1, 2, 3, 4)] == pytest.approx([0.01, 0.03, 0.05, 0.05])
    draws = policy({"base": 0.04, "jitter": "full"})
    full = np.array([draws.backoff(1) for _ in range(20_000)])
    assert full.min() >= 0 and full.max() <= 0.04 and full.mean() == pytest.approx(0.02, rel=0.02)
    draws = policy({"base": 0.04, "jitter": "equal"})
    equal = np.array([draws.backoff(1) for _ in range(20_000)])
    assert equal.min() >= 0.02 and equal.max() <= 0.04
    assert equal.mean() == pytest.approx(0.03, rel=0.02)


def test_only_the_causes_in_when_are_retried():
    # A full single-slot station rejects; with when: [timeout] the rejections fail at once.
    node = {"kind": "queue", "service": "10ms", "capacity": 1}
    web = {"timeout": "1s", "retries": {"max": 3, "when": ["timeout"]}}
    c = client(web, node, customers=2000).client
    assert c.retry_amplification == pytest.approx(1.0) and float(c.failure_rate) > 5


def test_a_quantile_hedge_of_an_unstable_model_is_refused():
    model = Model.from_dict({"nodes": {"db": {"kind": "queue", "service": "10ms"}},
                             "arrivals": {"web": {"to": "db", "rate": "150/s",
                                                  "hedge": {"after": "p95"}}}})
    with pytest.raises(qmodel.UnsupportedError, match="could not be estimated"):
        qmodel.simulate(model, replications=1, customers=500, seed=1)
