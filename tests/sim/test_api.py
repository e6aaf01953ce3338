"""simulate(): arguments, method choice, results, traces, progress, Ctrl-C, instability."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from qmodel import Model, QModelError, UnsupportedError
from qmodel.sim import compare, simulate

from .theory import single_queue


@pytest.fixture(scope="module")
def mm1():
    return Model.from_dict(single_queue(0.5, 1.0))


@pytest.mark.parametrize("kwargs, message", [
    ({"replications": 0}, "replications must be a positive integer"),
    ({"horizon": 0}, "horizon must be a positive duration"),
    ({"horizon": "-5min"}, "horizon must be a positive duration"),
    ({"horizon": "soon"}, "horizon: must be a duration"),
    ({"customers": 0}, "customers must be a positive integer"),
    ({"horizon": 10, "warmup": 20}, "warmup (20) must be shorter than the horizon (10)"),
    ({"method": "magic"}, "method must be one of auto, simpy, fast"),
    ({"trace": "out.txt"}, "trace: file name must end in .csv or .parquet"),
])
def test_bad_arguments_are_rejected_before_running(mm1, kwargs, message):
    with pytest.raises(QModelError) as err:
        simulate(mm1, **kwargs)
    assert message in str(err.value)


def test_fast_path_refuses_what_it_cannot_simulate():
    model = Model.from_dict(single_queue(0.5, 1.0, discipline="ps"))
    with pytest.raises(UnsupportedError, match="nodes.q: discipline ps needs the simpy engine"):
        simulate(model, method="fast")
    assert "simpy" in simulate(model, replications=2, customers=500, seed=1).notes[0]


def test_horizon_and_warmup_accept_units(mm1):
    r = simulate(mm1, replications=2, horizon="10min", warmup="1min", seed=1)
    assert r.warmup_s == [60.0, 60.0]
    assert r.system.throughput == pytest.approx(0.5, abs=0.06)


def test_result_shape_and_json(mm1):
    r = simulate(mm1, replications=3, customers=2_000, seed=1)
    doc = r.to_dict()
    assert doc["schema"] == "qmodel.result/1" and doc["method"] == "simulation"
    assert doc["replications"] == 3 and doc["seed"] == 1 and doc["partial"] is False
    assert doc["system"]["mean_response_time"]["ci95"][0] < doc["system"]["mean_response_time"]["value"]
    json.dumps(doc)
    df = r.to_dataframe()
    assert df.loc["q", "mean_response_time_s"] == pytest.approx(float(r.node("q").mean_response))
    assert r.node("q").mean_response.method == "simulation"
    p99 = r.node("q").percentile(0.99)
    assert p99.ci95 is not None and p99 > r.node("q").percentile(0.5)


def test_ctrl_c_returns_partial_results(mm1):
    calls = []

    def progress(done):
        calls.append(done)
        if done > 0.5:
            raise KeyboardInterrupt

    r = simulate(mm1, replications=4, customers=5_000, seed=1, progress=progress,
                 method="simpy")
    assert r.partial and r.to_dict()["partial"] is True
    assert r.replications == 2 and r.system.mean_response_time is not None
    assert calls == sorted(calls)


def test_ctrl_c_in_the_first_replication_keeps_what_it_has(mm1):
    def progress(done):
        if done > 0.3:
            raise KeyboardInterrupt

    r = simulate(mm1, replications=2, customers=20_000, seed=1, progress=progress, method="fast")
    assert r.partial and r.replications == 1
    assert r.system.throughput == pytest.approx(0.5, rel=0.1)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_traces_to_files(tmp_path, mm1, suffix):
    path = tmp_path / f"trace{suffix}"
    r = simulate(mm1, replications=2, customers=300, seed=1, trace=path)
    df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert list(df.columns) == ["replication", "job", "task", "class", "node", "arrival_s",
                                "start_s", "end_s", "lost"]
    assert set(df["replication"]) == {0, 1} and (df["end_s"] >= df["start_s"]).all()
    assert (df["start_s"] >= df["arrival_s"]).all()
    assert str(path) in r.notes[-1]


def test_trace_dataframe_with_losses():
    model = Model.from_dict(single_queue(2.0, 1.0, capacity=2))
    r = simulate(model, replications=1, customers=200, seed=1, trace=True)
    lost = r.trace[r.trace["lost"]]
    assert len(lost) > 0 and lost["start_s"].isna().all()


def test_offered_load_at_or_above_one_is_unstable():
    model = Model.from_dict(single_queue(1.2, 1.0))
    r = simulate(model, replications=2, horizon=2_000, seed=1)
    assert not r.stable and r.unstable[0].station == "q"
    assert r.unstable[0].utilization == pytest.approx(1.2)
    assert r.node("q").mean_response is None and r.system.mean_response_time is None
    assert r.node("q").utilization == pytest.approx(1.0, abs=0.01)


def test_growing_queue_is_detected_without_traffic_equations():
    # a batcher whose batches take longer than the interval: the backlog grows
    model = Model.from_dict({"nodes": {"b": {"kind": "batcher", "interval": 1.0,
                                             "fixed": {"dist": "deterministic", "value": 1.5}}},
                             "arrivals": {"a": {"to": "b", "rate": 5.0}}})
    r = simulate(model, replications=3, horizon=3_000, seed=1)
    assert [u.station for u in r.unstable] == ["b"]
    assert r.system.mean_response_time is None


def test_compare_flags_agreement_and_disagreement(mm1):
    sim = simulate(mm1, replications=5, customers=5_000, seed=2)
    table = compare(sim, sim)
    assert table["agrees"].all()
    wrong = simulate(Model.from_dict(single_queue(0.7, 1.0)), replications=5, customers=5_000,
                     seed=2)
    table = compare(wrong, sim, tolerance=0.05)
    row = table[(table.node == "system") & (table.metric == "mean_response_time")].iloc[0]
    assert not row.agrees and row.rel_diff < -0.3


def test_progress_bar_can_be_forced(mm1, capsys):
    r = simulate(mm1, replications=2, customers=2_000, seed=1, progress=True, method="simpy")
    assert r.replications == 2 and not r.partial
