"""Start-up (issue 18): ``qmodel --help`` and ``qmodel check`` import nothing heavy; the
solvers, the simulator and the what-if experiments load their libraries when they run.
Wall times and memory are measured by ``benchmarks/startup_bench.py``, not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numba", "pandas", "scipy", "plotly", "networkx", "simpy", "pyarrow")

# in a fresh process: the heavy packages loaded after importing the CLI and running --help
# and check on every shipped model, then after one solve (the probe sees an import)
PROBE = f"""
import json, sys
from pathlib import Path
from typer.testing import CliRunner
from qmodel.cli.main import app

def heavy():
    return sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))

runner, codes = CliRunner(), {{}}
for args in [["--help"], *(["check", str(p)] for p in sorted(Path("topologies").glob("*.yaml")))]:
    codes[" ".join(args)] = runner.invoke(app, args).exit_code
after_check = heavy()
codes["solve"] = runner.invoke(app, ["solve", "topologies/web_service.yaml"]).exit_code
print(json.dumps({{"codes": codes, "after_check": after_check, "after_solve": heavy()}}))
"""


def test_help_and_check_import_no_heavy_library_and_solve_does():
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    doc = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(doc["codes"]) > 10 and set(doc["codes"].values()) == {0}, doc["codes"]
    assert doc["after_check"] == []
    assert "scipy" in doc["after_solve"]
