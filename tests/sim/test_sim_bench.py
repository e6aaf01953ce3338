"""The benchmark script runs each tool in its own fresh process and prints in-process and
whole-process figures with the ratios against every installed peer (a small run: 2,000
arrivals of the M/M/1 model, ~10 s of CPU over five processes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sim_bench.py"
TOOLS = ("qmodel (simpy)", "qmodel fast path", "Ciw", "LINE LDES (native)", "SimPy script")


def test_each_tool_runs_in_its_own_process_with_whole_process_figures():
    out = subprocess.run([sys.executable, str(SCRIPT), "--customers", "2000", "--model", "a"],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    assert "(a) M/M/1 rho=0.8" in out and "exact 4.0000" in out
    assert "(b) M/M/4" not in out
    rows = {}
    for tool in TOOLS:
        line = next(line for line in out.splitlines() if line.startswith(tool))
        # customers/s, (wall), process wall, process CPU, peak RSS, the estimate
        m = re.match(rf"{re.escape(tool)}\s+([\d,]+)\s+\(([\d,]+)\)\s+([\d.]+)s\s+([\d.]+)s"
                     rf"\s+(\d+)\s+([\d.]+)", line)
        assert m, line
        rows[tool] = [float(g.replace(",", "")) for g in m.groups()]
    for tool, (speed, wall_speed, wall, cpu, rss, mean) in rows.items():
        assert speed > 0 and wall_speed > 0 and wall > 0 and cpu > 0 and rss > 0, tool
        assert 1.0 < mean < 10.0, (tool, mean)  # 2,000 arrivals: noisy, but an M/M/1's
    # the same peak-RSS measure for all: a plain SimPy script is far smaller than qmodel
    assert rows["SimPy script"][4] < rows["qmodel (simpy)"][4]
    assert "qmodel fast path vs LINE LDES (native): run" in out
    assert "qmodel (simpy) vs SimPy script: run" in out and "summary" in out
