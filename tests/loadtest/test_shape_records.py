"""``validate --shape`` on a broker without a system: the records' series from the
trace's end-to-end rows (by hand, Little's law), its completeness check, and the broker
models it refuses (exit 2, naming the field) before anything starts."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from loadtest.cli import app
from loadtest.refsys.trace import TraceReader, TraceWriter
from loadtest.samples import Samples
from loadtest.series import records_log, series_of
from loadtest.shape_records import records_series

from .conftest import write_model

SPIKE = "{profile: spike, base: 40/s, peak: 160/s, at: 8s, duration: 4s, length: 22s}"


def samples(intended, done, status) -> Samples:
    intended = np.asarray(intended, float)
    return Samples(intended, intended.copy(), np.asarray(done, float), np.asarray(status),
                   np.zeros(len(intended)))


def trace_of(tmp_path, records, other_rows=True):
    """A trace directory with an end-to-end row per (received, ended) record, a service
    row and a health row beside them (which the series must ignore)."""
    writer = TraceWriter(tmp_path / "trace", "gateway-1")
    for i, (received, ended) in enumerate(records):
        writer.end_to_end(f"r{i}", "records", received, ended)
        if other_rows:
            writer.service(f"r{i}", "records", "topic", "topic-0", received, received,
                           ended, 0.01, 0.01)
    if other_rows:
        writer.probe("gateway", 100.5, 0.001, 0.0, 0.5, 0.0)
    writer.flush()
    return tmp_path


def test_records_by_hand(tmp_path):
    """Two records accepted at 100.2 and 100.9 and finished by their consumer at 100.7
    and 102.4 (the clients had their 202 within 10 ms), one refused (429) at 101.1-101.3:
    each record is in the system from the gateway's receipt to its consumer's end, the
    refused one until its answer, and only the finished ones are completions."""
    run = trace_of(tmp_path, [(100.2, 100.7), (100.9, 102.4), (50.0, 50.1)])
    s = samples([100.2, 100.9, 101.1], [100.21, 100.91, 101.3], [202, 202, 429])
    frame, problems, notes = records_series(run, s, 100.0, 130.0, np.array([0.0, 1.0, 2.0,
                                                                            3.0]))
    assert problems == []
    assert frame["arrivals_per_s"].tolist() == [2.0, 1.0, 0.0]  # the old record is not in
    assert frame["throughput_per_s"].tolist() == [1.0, 0.0, 1.0]
    # bin 0: 0.5 + 0.1 record-seconds; bin 1: 1 + 0.2 (the refused one); bin 2: 0.4
    assert frame["in_system"].round(9).tolist() == [0.6, 1.2, 0.4]
    assert frame["p95_response_s"].round(9).tolist()[0::2] == [0.5, 1.5]
    assert np.isnan(frame["p95_response_s"][1])
    assert "202 answers (not compared): p95" in notes[0]


def test_a_record_without_its_end_to_end_row_makes_the_run_unfit(tmp_path):
    run = trace_of(tmp_path, [(100.2, 100.7)], other_rows=False)
    s = samples([100.2, 100.9], [100.21, 100.91], [202, 202])
    _, problems, _ = records_series(run, s, 100.0, 130.0, np.array([0.0, 1.0, 2.0]))
    assert problems == ["2 records were answered 2xx but 1 have an end-to-end row: the "
                        "series is incomplete"]


def test_records_keep_littles_law(tmp_path):
    """The area under the number in the system over the bins is the sum of the records'
    times (and the refused requests' times until their answer)."""
    rng = np.random.default_rng(5)
    received = np.sort(rng.uniform(0, 18, 3000))
    ended = received + rng.exponential(0.4, 3000)
    refused = np.sort(rng.uniform(0, 18, 50))
    trace = TraceReader(trace_of(tmp_path, zip(received + 500, ended + 500), False)
                        / "trace").frame()
    s = samples(np.r_[received, refused] + 500, np.r_[received + 0.003, refused + 0.02] + 500,
                np.r_[np.full(3000, 202), np.full(50, 429)])
    frame = series_of(records_log(trace, s, 500.0, 530.0), np.arange(0.0, 31.0, 3.0))
    expected = (ended - received).sum() + 50 * 0.02
    # the trace keeps microseconds: 6 decimals per time, so within 3050 * 2e-6
    assert (frame["in_system"] * 3.0).sum() == pytest.approx(expected, abs=0.01)
    assert frame["arrivals_per_s"].sum() * 3 == 3050
    assert frame["throughput_per_s"].sum() * 3 == 3000


@pytest.mark.parametrize(("text", "says"), [
    # the profile is on a class that never reaches the broker
    ("nodes: {app: {kind: queue, service: 5ms}, topic: {kind: broker, partitions: 1, "
     "consumers: 1, service: 10ms}}\narrivals: {web: {to: app, rate: " + SPIKE + "}, "
     "records: {to: topic, rate: 20/s}}\n", "arrivals.web.rate: --shape on a model with a "
     "broker runs its profile through the broker, but class web never reaches nodes.topic"),
    # a client that retries makes several records of one request
    ("nodes: {topic: {kind: broker, partitions: 1, consumers: 1, service: 10ms}}\n"
     "arrivals: {records: {to: topic, rate: " + SPIKE + ", timeout: 1s, "
     "retries: {max: 2, when: [timeout]}}}\n", "arrivals.records.timeout: --shape on a "
     "broker measures each record end to end"),
    # a record dropped after the broker accepted it has no end-to-end row
    ("nodes: {topic: {kind: broker, partitions: 1, consumers: 1, service: 10ms, next: sink},"
     " sink: {kind: queue, service: 1ms, capacity: 5}}\narrivals: {records: {to: topic, "
     "rate: " + SPIKE + "}}\n", "nodes.sink.capacity: --shape on a broker measures"),
    ("nodes: {topic: {kind: broker, partitions: 1, consumers: 1, service: 10ms, next: sink},"
     " sink: {kind: queue, service: 1ms, patience: {mean: 50ms}}}\narrivals: {records: "
     "{to: topic, rate: " + SPIKE + "}}\n", "nodes.sink.patience: --shape on a broker"),
])
def test_cli_refuses_a_broker_model_it_cannot_measure(tmp_path, text, says):
    """Each refused before the system starts (a run would take half a minute)."""
    path = write_model(tmp_path, "broker", text)
    result = CliRunner().invoke(app, ["validate", str(path), "--shape"])
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_cli_refuses_the_redis_backend_on_a_broker(tmp_path):
    path = write_model(tmp_path, "broker", "nodes: {topic: {kind: broker, partitions: 1, "
                       "consumers: 1, service: 10ms}}\narrivals: {records: {to: topic, rate: "
                       + SPIKE + "}}\n")
    result = CliRunner().invoke(app, ["validate", str(path), "--shape", "--broker", "redis"])
    assert result.exit_code == 2, result.output
    assert "--broker redis: --shape on a broker runs the embedded backend only" in \
        " ".join(result.output.split())


def test_a_broker_with_capacity_is_measured_its_refusals_are_the_clients():
    """A full broker refuses at publish (the client's 429): the record never was in, so
    the broker's own capacity is not refused."""
    from loadtest.shape_records import check_broker_model
    from qmodel.model.model import Model

    model = Model.from_dict({"nodes": {"topic": {
        "kind": "broker", "partitions": 1, "consumers": 1, "service": "10ms",
        "capacity": 50}}, "arrivals": {"records": {"to": "topic", "rate": {
            "profile": "step", "from": "10/s", "to": "50/s", "at": "5s"}}}})
    check_broker_model(model)  # no error


def test_the_simulated_series_of_a_broker_times_the_records_to_their_end():
    """What the measured records are compared with: the simulator's response time of a
    job through a broker's consumer (10 ms at 50/s) and a sink after it (5 ms) is the
    Jackson network's sum of two M/M/1 times, 1/(100 - 50) + 1/(200 - 50) = 26.7 ms,
    not the 202's zero. Seeds 1-3 gave 26.5, 25.8 and 26.1 ms (sd 0.35 ms; 6% is 1.6 ms)."""
    import qmodel
    from qmodel.model.model import Model

    model = Model.from_dict({"nodes": {
        "topic": {"kind": "broker", "partitions": 1, "consumers": 1, "service": "10ms",
                  "next": "sink"}, "sink": {"kind": "queue", "service": "5ms"}},
        "arrivals": {"records": {"to": "topic", "rate": "50/s"}}})
    frame = qmodel.simulate(model, bins=10.0, horizon=60.0, replications=4, seed=2).frame
    steady = frame.iloc[1:]  # past the start from empty
    mean = (steady["throughput_per_s"] * steady["mean_response_s"]).sum() / \
        steady["throughput_per_s"].sum()
    assert mean == pytest.approx(1 / 50 + 1 / 150, rel=0.06)
