"""``benchmarks/solve_bench.py --quick`` runs, prints every section, and qmodel's answers
match the exact values and LINE's wherever LINE is right (no timing asserts: the
machine may be shared)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("1. M/M/c with c = 10,000 servers", "2. Random open network: 200 queues",
            "3. Exact MVA, closed network", "4. 10,000 M/M/c what-if points",
            "5. LINE 3.0.8 NC on an open M/M/4", "targets")
TIGHT = 1e-9  # qmodel against exact values and against LINE when LINE is right
RIGHT = 1e-6  # LINE counts as right within this of the exact value


def close(a: float, b: float, rel: float = TIGHT) -> bool:
    return a is not None and b is not None and math.isfinite(a) and math.isfinite(b) \
        and abs(a - b) <= rel * max(abs(a), abs(b))


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> tuple[str, dict]:
    answers = tmp_path_factory.mktemp("solve_bench") / "answers.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "solve_bench.py"), "--quick",
         "--json", str(answers)],
        capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout, json.loads(answers.read_text())


def test_prints_every_section_and_target(bench):
    out, data = bench
    for header in SECTIONS:
        assert header in out, header
    targets = out[out.index("\ntargets"):]
    for name in ("MVA at N = 50 < 1 ms", "200-node network < 20 ms",
                 "10,000-point sweep < 100 ms"):
        line = next(x for x in targets.splitlines() if name in x)
        assert ("PASS" in line or "MISS" in line), line
    if data["line"] is not None:
        assert "LINE NC build + solve" in out and "LINE MVA build + solve" in out


def test_mmc_10000_servers_is_exact_and_matches_line_where_line_is_right(bench):
    _, data = bench
    assert [item["rho"] for item in data["mmc"]] == [0.9, 0.9999]
    for item in data["mmc"]:
        assert close(item["qmodel"], item["exact"]), item
        for tool in ("line_mva", "line_nc"):
            if tool in item and close(item[tool], item["exact"], RIGHT):
                assert close(item["qmodel"], item[tool], RIGHT), (tool, item)


def test_200_node_network_agrees_with_line_mva(bench):
    _, data = bench
    net = data["network"]
    assert net["qmodel"] > 0
    if data["line"] is None:
        pytest.skip("LINE is not installed")
    # LINE's MVA is exact for an open Jackson network: the two must agree.
    assert close(net["qmodel"], net["line_mva"]), net
    if close(net["line_nc"], net["line_mva"], RIGHT):
        assert close(net["qmodel"], net["line_nc"], RIGHT), net


def test_exact_mva_agrees_with_line(bench):
    _, data = bench
    cases = {item["case"]: item for item in data["mva"]}
    assert set(cases) == {"3 queues, N = 50", "50 queues, N = 1,000"}
    for item in cases.values():
        x, r = item["qmodel_mva"]
        assert close(item["qmodel_solve"][0], x) and close(item["qmodel_solve"][1], r), item
        assert close(x * (r + 1.0), item["n"]), item  # Little's law over the cycle, Z = 1 s
        for tool in ("line_pfqn", "line_mva"):
            if tool in item:
                assert close(item[tool][0], x) and close(item[tool][1], r), (tool, item)


def test_sweep_points_match_solve_exact_and_line(bench):
    _, data = bench
    sweep = data["sweep"]
    assert sweep["max_rel_diff_solve_vs_exact"] < TIGHT
    if "points" in sweep:  # the vectorised path exists
        assert sweep["points"] == 10_000
        assert sweep["max_rel_diff_sweep_vs_solve"] < TIGHT
    if "max_rel_diff_line_vs_exact" in sweep:
        assert sweep["max_rel_diff_line_vs_exact"] < RIGHT


def test_line_nc_mm4_side_by_side_with_erlang_c(bench):
    out, data = bench
    bug = data["nc_bug"]
    assert round(bug["exact"], 4) == 1.7455
    assert close(bug["qmodel"], bug["exact"])
    for tool in ("line_mva", "line_nc"):
        if tool in bug and close(bug[tool], bug["exact"], RIGHT):
            assert close(bug["qmodel"], bug[tool], RIGHT), (tool, bug)
    section = out[out.index(SECTIONS[4]):out.index("\ntargets")]
    assert "exact (Erlang C): 1.74554059" in section
    assert "qmodel from_dict + solve" in section
