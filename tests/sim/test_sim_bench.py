"""The benchmark script runs (``--quick``: 10,000 arrivals per model, ~15 s of CPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sim_bench.py"


def test_quick_benchmark_runs():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    for model in ("(a) M/M/1 rho=0.8", "(b) M/M/4 rho=0.8", "(c) 5-node network"):
        assert model in out
    assert out.count("qmodel (simpy)") == 3 and out.count("qmodel fast path") == 3
    assert "exact 2.7922" in out and "summary" in out
