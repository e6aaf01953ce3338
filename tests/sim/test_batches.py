"""Batches (bulk arrivals): the run ends when they are done, and the makespan, turnaround
and completed count match what a batch through a simple station must give."""

from __future__ import annotations

import json
import math

import pytest

from qmodel import Model, UnsupportedError
from qmodel.sim import simulate


def batch_model(size: int, service, servers: int = 1, **batch) -> Model:
    return Model.from_dict({
        "nodes": {"cpu": {"kind": "queue", "servers": servers, "service": service}},
        "batches": {"load": {"to": "cpu", "size": size, **batch}}})


def deterministic(seconds: float) -> dict:
    return {"dist": "deterministic", "value": seconds}


def test_one_exponential_server_takes_the_sum_of_the_service_times():
    m = 20
    r = simulate(batch_model(m, "1s"), replications=30, seed=1, trace=True)
    service = (r.trace["end_s"] - r.trace["start_s"]).groupby(r.trace["replication"]).sum()
    makespans = [rep["makespan_s"] for rep in r.per_replication]
    assert makespans == pytest.approx(list(service))       # the server never idles
    low, high = r.system.makespan.ci95
    assert low < m * 1.0 < high and r.system.makespan.method == "simulation"
    assert r.system.completed == m and r.replications == 30


def test_c_deterministic_servers_take_ceil_m_over_c_rounds():
    r = simulate(batch_model(10, deterministic(2.0), servers=3), replications=3, seed=1)
    assert [rep["makespan_s"] for rep in r.per_replication] == [8.0] * 3  # ceil(10/3) * 2
    assert r.system.makespan == 8.0


def test_turnaround_of_a_batch_at_one_deterministic_server():
    m, s = 9, 0.5
    r = simulate(batch_model(m, deterministic(s)), replications=2, seed=1)
    assert r.system.mean_response_time == pytest.approx((m + 1) / 2 * s)
    assert [rep["mean_turnaround_s"] for rep in r.per_replication] == \
        pytest.approx([(m + 1) / 2 * s] * 2)
    assert "warm-up: none" in r.notes[0]


def test_repeated_batches_run_from_the_first_to_the_last_exit():
    model = batch_model(4, deterministic(1.0), at="10s", every="100s", count=3)
    r = simulate(model, replications=2, seed=1)
    assert r.system.makespan == pytest.approx(200 + 4)    # third batch at 210 s, done at 214
    assert r.system.completed == 12 and r.warmup_s == [10.0, 10.0]
    assert r.system.mean_response_time == pytest.approx(2.5)
    assert r.system.makespan_bound == pytest.approx(204)


def test_the_run_stops_when_empty_despite_periodic_timers():
    model = Model.from_dict({
        "nodes": {"cpu": {"kind": "shards", "shards": 2, "routing": "round_robin",
                          "rebalance": "50ms", "discipline": "mlfq", "service": "20ms",
                          "mlfq": {"levels": 2, "quantum": "5ms", "boost": "100ms"}}},
        "batches": {"load": {"to": "cpu", "size": 200, "at": "1s"}}})
    r = simulate(model, replications=1, seed=3, horizon="1h")
    # with a horizon the run would go on to 1 h: throughput is completions / (end - 1 s)
    assert r.system.throughput * r.system.makespan == pytest.approx(200)
    assert 1.0 < r.system.makespan < 4.0 and not r.partial     # 200 x 20 ms on 2 servers


def test_batches_beside_open_arrivals_run_to_the_horizon():
    model = Model.from_dict({
        "nodes": {"cpu": {"kind": "queue", "service": "100ms"}},
        "arrivals": {"web": {"to": "cpu", "rate": "2/s"}},
        "batches": {"load": {"to": "cpu", "size": 50, "at": "100s"}}})
    r = simulate(model, replications=2, seed=1, horizon="1000s", warmup="10s")
    assert r.classes["web"].throughput == pytest.approx(2.0, rel=0.1)
    assert r.system.completed == 50 and 5.0 < r.system.makespan < 15.0
    assert r.classes["load"].kind == "batch"
    short = simulate(model, replications=1, seed=1, customers=100)   # over before 100 s
    assert short.system.makespan is None and short.system.completed == 0
    assert any("before their batches were done" in note for note in short.notes)


def test_the_fast_path_is_never_chosen():
    model = batch_model(10, "1s")
    with pytest.raises(UnsupportedError, match="batch"):
        simulate(model, replications=1, seed=1, method="fast")
    assert "simpy" in simulate(model, replications=1, seed=1).notes[0]


def test_ctrl_c_keeps_the_partial_first_replication():
    seen = []

    def progress(done: float) -> None:
        seen.append(done)
        if done > 0.25:                      # halfway through the first of two
            raise KeyboardInterrupt

    r = simulate(batch_model(2_000, "1ms"), replications=2, seed=1, progress=progress)
    assert r.partial and r.replications == 1 and r.system.makespan is None
    assert 0 < r.system.completed < 2_000 and seen == sorted(seen)


def test_a_process_pool_gives_the_same_result_and_json():
    model = batch_model(300, {"mean": "10ms", "cv": 0.5}, servers=2)
    here = simulate(model, replications=3, seed=4)
    assert here.to_dict() == simulate(model, replications=3, seed=4, executor="local",
                                      workers=1).to_dict()
    doc = json.loads(json.dumps(here.to_dict()))
    assert doc["system"]["makespan"]["value"] == pytest.approx(float(here.system.makespan))
    assert doc["system"]["makespan_bound"] == pytest.approx(1.5)
    assert len(doc["per_replication"]) == 3 and doc["system"]["completed"]["value"] == 300
    assert all(math.isfinite(rep["mean_turnaround_s"]) for rep in doc["per_replication"])
