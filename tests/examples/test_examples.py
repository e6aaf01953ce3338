"""Every example runs with --quick, writes its figure, and prints the figures its system is
known for (each test reads the printed numbers back)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.stem.startswith("_"))
NUMBER = r"(-?[0-9][0-9,]*\.?[0-9]*)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[str, Path]]:
    """Each example's stdout and output folder, run three at a time."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def run(name: str) -> tuple[str, Path]:
        out = tmp_path_factory.mktemp(name)
        done = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--quick",
                               "--out", str(out)], capture_output=True, text=True, env=env,
                              cwd=out, timeout=300)
        assert done.returncode == 0, f"{name} failed:\n{done.stderr[-3000:]}"
        return done.stdout, out

    # made once here: the threads' first mktemp calls would each make a base directory of
    # their own (a race in pytest's lazy getbasetemp), and then refuse each other's paths
    tmp_path_factory.getbasetemp()
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(EXAMPLES, pool.map(run, EXAMPLES)))


def numbers(line: str) -> list[float]:
    return [float(x.replace(",", "")) for x in re.findall(NUMBER, line)]


def line(text: str, start: str) -> str:
    found = [row for row in text.splitlines() if row.strip().startswith(start)]
    assert found, f"no line starting with {start!r} in:\n{text}"
    return found[0]


def rows(text: str, width: int) -> list[list[float]]:
    """Lines of a printed table: exactly ``width`` numbers."""
    out = []
    for row in text.splitlines():
        values = numbers(row)
        if len(values) == width and re.match(r"^\s*[0-9]", row):
            out.append(values)
    return out


def test_every_example_is_covered():
    assert EXAMPLES == sorted([
        "brkss_scaling", "brkss_scheduling", "kafka_consumer_scaling", "lambda_freshness",
        "mapreduce_makespan", "metastable_retries", "microservices_pooling",
        "naiad_barrier_latency",
        "parameter_server_scaling", "replicated_store_quorum", "spark_batch_interval"])


@pytest.mark.parametrize("name", EXAMPLES)
def test_writes_its_figure(runs, name):
    text, out = runs[name]
    html = (out / f"{name}.html").read_text(encoding="utf-8")
    assert f"figure: {out / f'{name}.html'}" in text
    # opens offline: plotly.js is inside the file, no script is fetched from a CDN
    assert re.search(r"plotly\.js v\d", html), "plotly.js is not embedded"
    assert not re.search(r"<script[^>]*\ssrc=", html)


def test_microservices_pooling(runs):
    text, _ = runs["microservices_pooling"]
    pool, random, round_robin, primary_secondary, jsq = numbers(line(text, "800"))[1:]
    assert pool < jsq < primary_secondary < random and jsq < round_robin < random
    assert numbers(line(text, "0.10")) == pytest.approx([0.10, 1.0638, 1044.4], abs=1e-3)


def test_kafka_consumer_scaling(runs):
    text, _ = runs["kafka_consumer_scaling"]
    saturation = {int(r[0]): r[2] for r in rows(text, 5)}
    assert saturation[3] == saturation[4] == saturation[5] == 750
    assert all(saturation[g] == 1500 for g in saturation if g >= 6)
    assert "g = 6 (= p)" in text


def test_spark_batch_interval(runs):
    text, _ = runs["spark_batch_interval"]
    assert numbers(line(text, "stability boundary")) == [0.4]
    for row in (r for r in text.splitlines() if r.startswith("simulated")):
        _, simulated, formula = numbers(row)
        assert simulated == pytest.approx(formula, rel=0.05)


def test_mapreduce_makespan(runs):
    text, _ = runs["mapreduce_makespan"]
    for _, low, mean, p95, high, simulated in rows(text, 6):
        assert low <= simulated <= high and mean < p95
    assert "k = 14" in text
    waves = numbers(line(text, "wave effect").split(":", 1)[1])
    assert waves[3] - waves[1] > 10                   # n = 81 vs n = 80, in seconds


def test_lambda_freshness(runs):
    text, _ = runs["lambda_freshness"]
    _, _, lag, formula, speed_ms, query_ms = numbers(line(text, "simulated"))
    assert lag == pytest.approx(formula, rel=0.06)
    assert speed_ms < 20 and query_ms < 25


def test_brkss_scaling(runs):
    text, _ = runs["brkss_scaling"]
    assert "1,200 per cluster, 300 per shard, admitted 30 at a time in 10 rounds" in text
    failover = re.search(r"makespan ([\d.]+) s \(work conservation ([\d.]+) s", text)
    assert float(failover[2]) < float(failover[1]) < 1.2 * float(failover[2])
    table = {int(r[0]): r for r in rows(text, 6)}
    assert table[12][2] > 0.75 * 12                   # near-linear speed-up
    assert table[36][2] < 0.75 * 36                   # console-bound past 20 nodes
    assert table[12][5] > 0.8 and table[36][5] < 0.75  # scale-up sub-linear past 20 nodes


def test_brkss_scheduling(runs):
    text, _ = runs["brkss_scheduling"]
    short = {}
    for row in text.splitlines():
        parts = row.split()
        if len(parts) >= 4 and parts[1] in ("fcfs", "ps", "mlfq"):
            short[parts[1]] = float(parts[2])
            if parts[1] != "mlfq":
                assert float(parts[2]) == pytest.approx(float(parts[4]), rel=0.08)
                assert float(parts[3]) == pytest.approx(float(parts[5]), rel=0.08)
    assert short["mlfq"] < short["ps"] < short["fcfs"] / 3


def test_naiad_barrier_latency(runs):
    text, _ = runs["naiad_barrier_latency"]
    for _, p50, p95, _, _, sim50, sim95 in rows(text, 7):
        assert sim50 == pytest.approx(p50, rel=0.05) and sim95 == pytest.approx(p95, rel=0.05)
    median, tail = map(float, re.findall(r"x([0-9.]+)", line(text, "from N=")))
    assert median < 1.3 and tail > 10


def test_parameter_server_scaling(runs):
    text, _ = runs["parameter_server_scaling"]
    w, s, simulated, formula = numbers(line(text, "simulated"))
    assert simulated == pytest.approx(formula, rel=0.03)
    assert "W=64 reaches" in text


def test_replicated_store_quorum(runs):
    text, _ = runs["replicated_store_quorum"]
    latency = rows(text, 3)
    assert [int(r[0]) for r in latency] == [1, 2, 3]
    for _, simulated, solved in latency:  # the R-th order statistic of the replica times
        assert simulated == pytest.approx(solved, rel=0.05)
    assert latency[0][2] < latency[1][2] < latency[2][2]
    r1, r3 = numbers(line(text, "R=1")), numbers(line(text, "R=3"))
    assert r1[-1] == pytest.approx(2 / 3, abs=1e-3) and r1[3] < r1[-1]
    assert all(x == 0 for x in r3[3:-1])
    # qmodel solve's WARS t-visibility over the solved laws, beside the simulated one at
    # t = 0 (measured: 0.1770 and 0.1775)
    solved = numbers(line(text, "qmodel solve, R=2"))
    assert solved[2] == pytest.approx(numbers(line(text, "R=2"))[1], abs=0.02)


def test_metastable_retries(runs):
    text, _ = runs["metastable_retries"]
    low, high, capacity, attempts, by_hand = numbers(line(text, "metastable from"))
    assert low == pytest.approx(by_hand, abs=0.05) and by_hand == capacity / attempts == 100
    assert 340 < high < 346
    loop = rows(text, 5)
    assert len(loop) == 8
    for offered, up_goodput, up_attempts, down_goodput, down_attempts in loop:
        if low < offered < high:     # healthy going up, the storm coming down
            assert up_goodput == pytest.approx(offered, rel=0.01)
            assert down_goodput == 0 and down_attempts == pytest.approx(4 * offered, abs=0.25)
        else:
            assert (up_goodput, up_attempts) == (down_goodput, down_attempts)
    assert "at 250/s: healthy or saturated" in text
    assert line(text, "removes it") == ("removes it: arrivals.web.retries.max=0, "
                                        "arrivals.web.retries.budget.ratio=0.1, "
                                        "arrivals.web.on_timeout=cancel")
