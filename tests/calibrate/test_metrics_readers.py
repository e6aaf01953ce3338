"""The metric readers: CSV, Prometheus text scrapes and range-query JSON, good and broken
files (tests/calibrate/data/), each broken one naming its file and line or record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qmodel.calibrate.metrics import MetricsError, read, read_csv, read_scrapes, selector
from qmodel.calibrate.metrics import series as series_module
from qmodel.errors import ModelError

DATA = Path(__file__).parent / "data"
SELECT = {"throughput": "http_requests_total{route}",
          "utilization": "process_cpu_seconds_total{service}"}


def test_csv_reads_counts_utilization_and_busy_seconds():
    s = read(DATA / "metrics.csv")
    assert len(s) == 40 and s.classes == ["browse", "buy"]
    assert set(s.utilization) == {"app"} and set(s.busy) == {"db"}
    assert s.throughput["browse"][0] == pytest.approx(2483 / 60)
    assert s.busy["db"][0] == pytest.approx(22.9163 / 60)
    assert (s.duration == 60).all()


def test_csv_iso_times_rates_and_responses(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("time,throughput.web,utilization.app,response.web,response.web.app\n"
                 "2026-01-01T00:00:00Z,10,0.2,0.05,0.03\n"
                 "2026-01-01T00:01:00Z,20,,0.06,0.04\n"
                 "2026-01-01T00:03:00Z,30,0.6,0.07,0.05\n")
    s = read_csv(p)
    assert s.duration.tolist() == [60.0, 120.0, 90.0]       # the last: the median gap
    assert np.isnan(s.utilization["app"][1])
    assert s.response["web"].tolist() == [0.05, 0.06, 0.07]
    assert s.response["web.app"].tolist() == [0.03, 0.04, 0.05]


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("count.web,utilization.app\n1,0.5\n", "line 1: no 'time' column"),
    ("time,speed.web\n0,1\n60,2\n", "line 1: column 'speed.web' is not one of"),
    ("time,count.web\n0,1\n60\n", "line 3: 1 fields, the header has 2"),
    ("time,count.web\n0,1\nyesterday,2\n", "line 3, time: not seconds or an ISO 8601 time"),
    ("time,count.web\n0,1\n60,-2\n", "line 3, count.web: must not be negative"),
    ("time,utilization.app\n0,0.5\n60,1.7\n", "line 3, utilization.app: a utilization is the "
                                              "busy fraction of one server"),
    ("time,count.web\n60,1\n0,2\n", "line 3: time does not increase"),
    ("time,count.web\n0,1\n", "need at least two"),
    ("time,count.web,throughput.web\n0,1,2\n60,2,3\n", "'web' is measured by two columns"),
    ("time,count.web\n0,nan\n60,2\n", "line 2, count.web: not a finite number"),
    ("time,duration,count.web\n0,0,1\n60,60,2\n", "line 2, duration: must be positive"),
])
def test_broken_csv_names_the_line(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(MetricsError, match="bad.csv") as info:
        read_csv(p)
    assert message in str(info.value)


def test_broken_csv_file_in_data():
    with pytest.raises(MetricsError, match=r"broken.csv, line 5, count.buy: not a number: 'abc'"):
        read(DATA / "broken.csv")


def test_hostile_csv_is_bounded(tmp_path, monkeypatch):
    p = tmp_path / "big.csv"
    p.write_text("time,count.web\n" + "".join(f"{i},1\n" for i in range(50)))
    monkeypatch.setattr(series_module, "MAX_BYTES", 100)
    with pytest.raises(MetricsError, match="bytes; metrics files up to 100 bytes"):
        read_csv(p)
    monkeypatch.undo()
    q = tmp_path / "wide.csv"
    q.write_text("time," + ",".join(f"count.c{i}" for i in range(1500)) + "\n")
    with pytest.raises(MetricsError, match="1501 columns; at most 1000"):
        read_csv(q)
    r = tmp_path / "binary.csv"
    r.write_bytes(b"time,count.web\n\xff\xfe\n")
    with pytest.raises(MetricsError, match="not UTF-8"):
        read_csv(r)


def test_prometheus_scrapes_give_rates_and_busy_servers():
    s = read_scrapes(DATA / "scrapes.prom", **SELECT)
    assert len(s) == 40 and s.classes == ["browse", "buy"]
    assert set(s.busy) == {"app", "db"}
    assert (s.duration == 60).all() and s.start[0] == 1.7e9
    assert (s.throughput["browse"] > 0).all() and (s.busy["db"] > 0).all()


def test_prometheus_counter_resets_instances_gauges_and_summaries(tmp_path):
    p = tmp_path / "two.prom"
    p.write_text('# time: 100\nreq_total{route="a",i="1"} 50\nreq_total{route="a",i="2"} 10\n'
                 'cpu_util{svc="x"} 0.1\nlat_sum{route="a"} 1.0\nlat_count{route="a"} 40\n'
                 '# time: 110\nreq_total{route="a",i="1"} 70\nreq_total{route="a",i="2"} 5\n'
                 'cpu_util{svc="x"} 0.4\nlat_sum{route="a"} 3.0\nlat_count{route="a"} 60\n')
    s = read_scrapes(p, throughput="req_total{route}", utilization="cpu_util{svc}",
                     response="lat{route}")
    # instance 1: +20; instance 2 was reset to 5: +5 -> 25 in 10 s
    assert s.throughput["a"].tolist() == [2.5]
    assert s.utilization["x"].tolist() == [0.4]          # a gauge: per-server fraction
    assert s.response["a"].tolist() == [0.1]             # (3 - 1) / (60 - 40)


def test_prometheus_files_with_sample_timestamps(tmp_path):
    files = []
    for k, t in enumerate((1000, 1060, 1120)):
        p = tmp_path / f"s{k}.prom"
        p.write_text(f'req_total{{route="a"}} {60 * k} {t}000\n'
                     f'busy_seconds_total{{svc="db"}} {6 * k} {t}000\n')
        files.append(p)
    s = read(files, throughput="req_total{route}", utilization="busy_seconds_total{svc}")
    assert s.throughput["a"].tolist() == [1.0, 1.0] and s.busy["db"].tolist() == [0.1, 0.1]


@pytest.mark.parametrize("text, message", [
    ('# time: 1\nreq_total{route="a"} 1\n# time: 2\nreq_total{route="a" 2\n',
     "line 4: not a Prometheus sample"),
    ('req_total{route="a"} 1\n', "a scrape without a time"),
    ('# time: soon\nreq_total{route="a"} 1\n', "line 1, # time: not a number"),
    ('# time: 5\nreq_total{route="a"} 1\n# time: 5\nreq_total{route="a"} 2\n',
     "the same time"),
    ('# time: 5\nreq_total{route="a"} 1\n', "need at least two"),
    ('# time: 5\nother_total 1\n# time: 6\nother_total 2\n', "no series match the selectors"),
])
def test_broken_scrapes_name_the_line(tmp_path, text, message):
    p = tmp_path / "bad.prom"
    p.write_text(text)
    with pytest.raises(MetricsError, match="bad.prom") as info:
        read_scrapes(p, throughput="req_total{route}")
    assert message in str(info.value)


def test_broken_scrape_file_in_data():
    with pytest.raises(MetricsError, match=r"broken.prom, line 13: not a Prometheus sample"):
        read(DATA / "broken.prom", **SELECT)


def test_selectors():
    s = selector('http_requests_total{route, code="200"}')
    assert s.key({"route": "a", "code": "200"}) == "a"
    assert s.key({"route": "a", "code": "500"}) is None
    for bad in ("", "a{b,c}", "a{b=c}", "{}"):
        with pytest.raises(ModelError, match="--throughput"):
            selector(bad, "--throughput")


def test_range_query_bundle():
    s = read(DATA / "range_bundle.json")
    assert len(s) == 40 and s.classes == ["browse", "buy"] and set(s.busy) == {"app", "db"}
    assert (s.duration == 60).all()


def test_range_query_raw_counters(tmp_path):
    result = [{"metric": {"__name__": "req_total", "route": "a"},
               "values": [[100, "0"], [110, "30"], [120, "50"]]},
              {"metric": {"__name__": "cpu_seconds_total", "svc": "db"},
               "values": [[100, "0"], [110, "2"], [120, "5"]]}]
    p = tmp_path / "raw.json"
    p.write_text(json.dumps({"status": "success",
                             "data": {"resultType": "matrix", "result": result}}))
    s = read(p, throughput="req_total{route}", utilization="cpu_seconds_total{svc}")
    assert s.throughput["a"].tolist() == [3.0, 2.0] and s.busy["db"].tolist() == [0.2, 0.3]


@pytest.mark.parametrize("doc, message", [
    ("{", "line 1: not JSON"),
    ({"status": "error"}, "not a successful Prometheus query response"),
    ({"status": "success", "data": {"resultType": "vector", "result": []}},
     "expected data.resultType 'matrix'"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}}]}},
     "data.result[0]: expected"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"route": "a"}, "values": [[1, "x"]]}]}}, "data.result[0].values[0] value"),
    ({"throughput": {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "1", "b": "2"}, "values": [[1, "1"], [2, "1"]]}]}}},
     "throughput.data.result[0]: cannot tell what the series measures"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"route": "a"}, "values": [[1, "1"], [2, "1"]]}]}}, "without __name__"),
])
def test_broken_range_json_names_the_record(tmp_path, doc, message):
    p = tmp_path / "bad.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(MetricsError, match="bad.json") as info:
        read(p)
    assert message in str(info.value)


def test_broken_range_file_in_data_and_deep_nesting(tmp_path):
    with pytest.raises(MetricsError, match=r"data.result\[1\].values\[1\]: expected"):
        read(DATA / "broken_range.json")
    p = tmp_path / "deep.json"
    p.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(MetricsError, match="deep.json"):
        read(p)


def test_formats_and_missing_files(tmp_path):
    with pytest.raises(MetricsError, match="no such file"):
        read(tmp_path / "nothing.csv")
    with pytest.raises(MetricsError, match="format must be one of"):
        read(DATA / "metrics.csv", "xml")
    with pytest.raises(MetricsError, match="one csv file at a time"):
        read([DATA / "metrics.csv", DATA / "metrics.csv"])
