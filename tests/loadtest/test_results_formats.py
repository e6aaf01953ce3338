"""Result files of load-test tools (``qmodel validate --results``): each format read from
files written to its documented layout, and broken files refused with the file and the
record named."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadtest.results import ResultsError, read, validate_results

DATA = Path(__file__).with_name("data")
MODEL = Path(__file__).resolve().parents[2] / "topologies" / "web_service.yaml"


def caveats(m) -> str:
    return " ".join(m.caveats + [c for lv in m.levels for c in lv.caveats])


# --- k6 -----------------------------------------------------------------------------

def test_k6_summary_export_with_a_name_submetric():
    m = read(DATA / "k6_summary_export.json")
    assert m.tool == "k6 summary" and len(m.levels) == 1
    total = m.levels[0].total
    assert total.count == 9600 and total.rate == 160.0
    assert (total.mean_s, total.p50_s, total.p95_s, total.p99_s) == pytest.approx(
        (0.0331, 0.0264, 0.0840, 0.1249))
    assert set(m.levels[0].classes) == {"web"}
    assert "coordinated omission" in caveats(m) and "time series" in caveats(m)


def test_k6_handle_summary_nests_values_and_may_lack_p99():
    m = read(DATA / "k6_handle_summary.json")
    total = m.levels[0].total
    assert total.rate == pytest.approx(160.02) and total.p95_s == pytest.approx(0.0849)
    assert total.p99_s is None and "no p(99)" in caveats(m)
    assert "no per-name split" in caveats(m)


def test_k6_summary_compares_and_passes_against_the_model(tmp_path):
    report = validate_results(MODEL, [DATA / "k6_summary_export.json"], out=tmp_path / "v.html")
    level = report.levels[0]
    mean = level.row("end-to-end (client)", "mean_response_s")
    assert mean.gate and mean.within and abs(mean.rel_error) < 0.02
    assert report.passed
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["schema"] == "qmodel.validation/1" and doc["source"] == "results"
    assert doc["levels"][0]["label"] == "k6_summary_export.json"
    assert any("coordinated omission" in c for c in doc["levels"][0]["caveats"])


def k6_points(path: Path, start: float, sends: np.ndarray, latency_s: np.ndarray,
              names: list[str] | None = None, status: list[int] | None = None) -> Path:
    lines = [json.dumps({"type": "Metric", "data": {"type": "trend", "contains": "time",
                                                    "thresholds": [], "submetrics": None},
                         "metric": "http_req_duration"})]
    for i, (t, x) in enumerate(zip(sends, latency_s)):
        end = datetime.fromtimestamp(start + t + x, UTC)
        stamp = end.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123+00:00"  # k6 writes nanoseconds
        tags = {"method": "POST", "url": "http://127.0.0.1:8100/events",
                "status": str(status[i] if status else 200),
                "name": names[i] if names else "http://127.0.0.1:8100/events"}
        lines.append(json.dumps({"type": "Point", "metric": "http_req_duration",
                                 "data": {"time": stamp, "value": x * 1000, "tags": tags}}))
        lines.append(json.dumps({"type": "Point", "metric": "http_reqs",
                                 "data": {"time": stamp, "value": 1, "tags": tags}}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_k6_ndjson_points_per_window_and_per_name(tmp_path):
    rng = np.random.default_rng(3)
    sends = np.cumsum(rng.exponential(1 / 100, 6000))  # 100/s for ~60 s
    latency = rng.exponential(0.02, len(sends))
    names = ["web" if i % 4 else "other" for i in range(len(sends))]
    status = [500 if i % 50 == 0 else 200 for i in range(len(sends))]
    path = k6_points(tmp_path / "k6.json", 1.7e9, sends, latency, names, status)
    whole = read(path)
    assert whole.tool == "k6 --out json" and len(whole.levels) == 1
    total = whole.levels[0].total
    assert total.count == len(sends) and total.errors == len(sends) // 50
    assert total.rate == pytest.approx(100, rel=0.05)
    ok = latency[np.array(status) == 200]
    assert total.mean_s == pytest.approx(ok.mean(), rel=1e-3)
    assert total.p95_s == pytest.approx(np.percentile(ok, 95), rel=0.01)
    assert set(whole.levels[0].classes) == {"web", "other"}
    windows = read(path, window_s=20.0)
    assert len(windows.levels) == 3
    assert sum(lv.total.count for lv in windows.levels) <= len(sends)
    assert all(lv.total.rate == pytest.approx(100, rel=0.1) for lv in windows.levels)


# --- wrk, wrk2 ----------------------------------------------------------------------

def test_wrk_latency_output():
    m = read(DATA / "wrk_latency.txt")  # a real `wrk -t1 -c4 -d3s --latency` run here
    total = m.levels[0].total
    assert m.tool == "wrk" and total.count == 2180 and total.rate == pytest.approx(725.27)
    assert total.mean_s == pytest.approx(5.49e-3) and total.p50_s == pytest.approx(5.40e-3)
    assert total.p99_s == pytest.approx(6.62e-3) and total.p95_s is None
    assert "coordinated omission" in caveats(m) and "4 connections" in caveats(m)
    assert "no p95" in caveats(m)


def test_wrk2_percentile_spectrum():
    m = read(DATA / "wrk2_latency.txt")
    total = m.levels[0].total
    assert m.tool == "wrk2" and total.count == 9600 and total.rate == 160.0
    assert total.p95_s == pytest.approx(0.083973, abs=1e-6)   # first Percentile >= 0.95
    assert total.p99_s == pytest.approx(0.12231)  # from the 99.000% line
    assert total.mean_s == pytest.approx(0.033392, abs=1e-6)  # from #[Mean = ...]
    assert "evenly spaced" in caveats(m) and "no coordinated omission" in caveats(m)
    report = validate_results(MODEL, [DATA / "wrk2_latency.txt"])
    assert report.passed, [(r.metric, r.rel_error) for r in report.levels[0].rows]


def test_truncated_wrk2_output_is_refused(tmp_path):
    text = (DATA / "wrk2_latency.txt").read_text()
    cut = tmp_path / "cut.txt"
    cut.write_text(text[:text.index("#[Mean")])
    with pytest.raises(ResultsError, match="cut.txt: no 'N requests in T'"):
        read(cut)
    bad = tmp_path / "bad.txt"
    bad.write_text(text.replace("Requests/sec:    160.00", "Requests/sec:    nan"))
    with pytest.raises(ResultsError, match=r"bad.txt line \d+: Requests/sec: must be finite"):
        read(bad)


# --- HdrHistogram log ---------------------------------------------------------------

def hlog(path: Path, intervals: list[tuple[float, list[int], str]]) -> Path:
    lines = ["#[Histogram log format version 1.3]",
             "#[StartTime: 1700000000.000 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]",
             '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"']
    for start, values_us, tag in intervals:
        h = HdrHistogram(1, 3_600_000_000, 3)
        for v in values_us:
            h.record_value(v)
        lines.append(f"{'Tag=' + tag + ',' if tag else ''}{start:.3f},1.000,"
                     f"{h.get_max_value() / 1000:.3f},{h.encode().decode()}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hdr_histogram_log_intervals_and_tags(tmp_path):
    rng = np.random.default_rng(5)
    intervals, everything = [], []
    for second in range(30):
        for tag, n in (("web", 120), ("admin", 30)):
            values = [int(v) + 1 for v in rng.exponential(20_000, n)]  # µs
            everything.extend(values)
            intervals.append((float(second), values, tag))
    path = hlog(tmp_path / "run.hlog", intervals)
    m = read(path)
    total = m.levels[0].total
    assert total.count == 30 * 150 and total.rate == pytest.approx(150)
    assert total.mean_s == pytest.approx(np.mean(everything) / 1e6, rel=2e-3)
    assert total.p95_s == pytest.approx(np.percentile(everything, 95) / 1e6, rel=0.01)
    assert set(m.levels[0].classes) == {"web", "admin"}
    assert "does not say its unit" in caveats(m)
    assert len(read(path, window_s=10.0).levels) == 3
    in_ms = read(path, hlog_unit="ms")  # the same numbers read as milliseconds
    assert in_ms.levels[0].total.mean_s == pytest.approx(total.mean_s * 1000, rel=1e-6)


def test_hdr_log_with_a_broken_histogram(tmp_path):
    path = hlog(tmp_path / "run.hlog", [(0.0, [1000, 2000], "")])
    text = path.read_text().splitlines()
    text.append("1.000,1.000,2.000,HISTFAAAAnotbase64!!")
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ResultsError, match="run.hlog line 5: Interval_Compressed_Histogram"):
        read(path)
    payload = base64.b64encode(b"\x1c\x84\x93\x14" + zlib.compress(b"nonsense")).decode()
    path.write_text("\n".join(text[:-1] + [f"1.000,1.000,2.000,{payload}"]) + "\n")
    with pytest.raises(ResultsError, match="line 5"):
        read(path)


# --- locust (written to its documented layout; a real run is in test_results_tools) ---

STATS = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
         "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
         "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n")


def test_locust_stats_per_name_and_class_mapping(tmp_path):
    path = tmp_path / "run_stats.csv"
    path.write_text(STATS
                    + "POST,/events,9000,0,26,33.2,1.1,290.5,2.0,150.0,0.0,26,36,44,50,68,84,"
                      "105,124,180,270,290\n"
                    + ",Aggregated,9000,0,26,33.2,1.1,290.5,2.0,150.0,0.0,26,36,44,50,68,84,"
                      "105,124,180,270,290\n")
    m = read(path)
    assert m.levels[0].total.rate == 150.0 and m.levels[0].total.p95_s == pytest.approx(0.084)
    assert "rounded" in caveats(m) and "coordinated omission" in caveats(m)
    unmapped = validate_results(MODEL, [path])
    assert any("--class-of" in c for c in unmapped.levels[0].caveats)
    mapped = validate_results(MODEL, [path], class_of=["/events=web"])
    assert not any("--class-of" in c for c in mapped.levels[0].caveats)
    assert mapped.levels[0].achieved["web"] == 150.0 and mapped.passed


def test_locust_stats_history_windows(tmp_path):
    head = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,"
            "99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median "
            "Response Time,Total Average Response Time,Total Min Response Time,Total Max "
            "Response Time,Total Average Content Size\n")
    rows = ["1700000000,0,,Aggregated,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,"
            "0.0,0,0,0\n"]
    count, total_ms = 0, 0.0
    for s in range(1, 41):
        mean_ms = 20.0 if s <= 20 else 40.0   # the second half is slower
        count += 100
        total_ms += 100 * mean_ms
        rows.append(f"{1700000000 + s},10,,Aggregated,100,0,{mean_ms:.0f},1,1,1,1,"
                    f"{3 * mean_ms:.0f},1,{4.6 * mean_ms:.0f},1,1,1,{count},0,20,"
                    f"{total_ms / count},1,300,2\n")
    path = tmp_path / "run_stats_history.csv"
    path.write_text(head + "".join(rows))
    whole = read(path).levels
    assert len(whole) == 1 and whole[0].total.rate == pytest.approx(100)
    assert whole[0].total.mean_s == pytest.approx(0.030) and whole[0].total.p95_s is None
    halves = read(path, window_s=20.0).levels
    assert [lv.total.mean_s for lv in halves] == pytest.approx([0.020, 0.040])
    assert [lv.total.rate for lv in halves] == pytest.approx([100, 100])
    assert halves[1].total.p95_s == pytest.approx(0.120)
    path.write_text(head + "".join(rows[:5]) + rows[3])  # the running total goes back
    with pytest.raises(ResultsError, match="run_stats_history.csv line 7: timestamps"):
        read(path)


def test_locust_json_buckets(tmp_path):
    entries = [{"name": "/events", "method": "POST", "last_request_timestamp": 1060.0,
                "start_time": 1000.0, "num_requests": 100, "num_none_requests": 0,
                "num_failures": 1, "total_response_time": 100 * 30.0,
                "max_response_time": 90.0, "min_response_time": 5.0,
                "total_content_length": 200,
                "response_times": {"10": 30, "20": 30, "40": 30, "80": 9, "90": 1},
                "num_reqs_per_sec": {"1000": 2}, "num_fail_per_sec": {}}]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(entries))
    m = read(path)
    total = m.levels[0].total
    assert total.mean_s == pytest.approx(0.030) and total.rate == pytest.approx(100 / 60)
    assert (total.p50_s, total.p95_s, total.p99_s) == pytest.approx((0.020, 0.080, 0.080))


# --- plain CSV ----------------------------------------------------------------------

def test_plain_csv_in_milliseconds_with_classes(tmp_path):
    path = tmp_path / "run.csv"
    rows = ["send_time_ms,latency_ms,status,class"]
    rows += [f"{i * 10},{20 + i % 7},{200 if i % 10 else 503},{'web' if i % 2 else 'x'}"
             for i in range(1000)]
    path.write_text("\n".join(rows) + "\n")
    m = read(path)
    total = m.levels[0].total
    assert total.count == 1000 and total.errors == 100
    assert total.rate == pytest.approx(1000 / 9.99)
    assert set(m.levels[0].classes) == {"web", "x"}


@pytest.mark.parametrize("body, message", [
    ("", "run.csv: empty file"),
    ("when,how_long\n1,2\n", "run.csv line 1: unknown format"),
    ("send_time,status\n1,200\n", "run.csv line 1: the header must name send_time"),
    ("send_time,latency\n" + "1,0.1\n" * 15 + "2,abc\n",
     "run.csv line 17: latency: not a number, got 'abc'"),
    ("send_time,latency\n1,0.1\n2,-0.5\n", "run.csv line 3: latency: must not be negative"),
    ("send_time,latency\n1,0.1\n2,nan\n", "run.csv line 3: latency: must be finite"),
    ("send_time,latency\n1,0.1\n2,inf\n", "run.csv line 3: latency: must be finite"),
    ("send_time,latency\n1,0.1\n2\n", "run.csv line 3: expected 2 fields, got 1"),
    ("send_time,latency\n1,99999\n", "run.csv line 2: latency 99999 s: over one hour"),
    ("send_time,latency\n", "run.csv: no requests in the file"),
    ("[{\"name\": \"/a\"", "run.csv line 1: invalid JSON"),
    ("{\"metrics\": {}}", "run.csv: JSON, but neither"),
    ("{\"metrics\": {\"http_req_duration\": {\"avg\": 1}}}", "metrics.http_reqs: needs count"),
    ("{\"metrics\": {\"http_req_duration\": {\"avg\": NaN, \"med\": 1}, \"http_reqs\": "
     "{\"count\": 5, \"rate\": 1}}}", "metrics.http_req_duration.avg: avg: must be finite"),
    ("{\"type\": \"Point\", \"metric\": \"http_req_duration\", \"data\": {\"time\": \"x\", "
     "\"value\": 1}}\n", "run.csv line 1: data.time: not an RFC 3339 time"),
])
def test_broken_files_name_the_file_and_record(tmp_path, body, message):
    path = tmp_path / "run.csv"
    path.write_text(body)
    with pytest.raises(ResultsError) as info:
        read(path)
    assert message in str(info.value)


def test_hostile_lines_and_binary_files(tmp_path):
    long = tmp_path / "long.csv"
    long.write_text("send_time,latency\n1," + "1" * (1 << 21) + "\n")
    with pytest.raises(ResultsError, match="long.csv line 2: line longer than"):
        read(long)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"send_time,latency\n\0\0\xff\xfe")
    with pytest.raises(ResultsError, match="bin.csv: a binary file"):
        read(binary)
    with pytest.raises(ResultsError, match="missing.csv: no such file"):
        read(tmp_path / "missing.csv")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ResultsError, match="deep.json: invalid JSON"):
        read(deep)
    digits = tmp_path / "digits.json"
    digits.write_text('{"metrics": {"http_req_duration": {"avg": 1}, "http_reqs": {"count": '
                      + "9" * 5000 + ', "rate": 1}}}')
    with pytest.raises(ResultsError, match="digits.json: invalid JSON"):
        read(digits)
