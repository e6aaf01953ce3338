"""Start-up (issue 18): ``qmodel --help`` and ``qmodel check`` import nothing heavy (``--help``
not even the model layer); the solvers, the simulator and the what-if experiments load
their libraries when they run. Wall times and memory are measured by
``benchmarks/startup_bench.py``, not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numba", "pandas", "scipy", "plotly", "networkx", "simpy", "pyarrow")
MODEL_LAYER = ("numpy", "pydantic", "yaml")

# in a fresh process: the packages loaded after importing the CLI and running --help, then
# three commands' --help (typer loads pydantic for a command's options) and check on every
# shipped model, then one solve (the probe sees an import)
PROBE = f"""
import json, sys
from pathlib import Path
from typer.testing import CliRunner
from qmodel.cli.main import app

def heavy():
    return sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY + MODEL_LAYER!r}))

runner, codes = CliRunner(), {{}}
codes["--help"] = runner.invoke(app, ["--help"]).exit_code
after_help = heavy()
for args in (["solve", "--help"], ["sweep", "--help"], ["calibrate", "--help"],
             *(["check", str(p)] for p in sorted(Path("topologies").glob("*.yaml")))):
    codes[" ".join(args)] = runner.invoke(app, args).exit_code
after_check = heavy()
codes["solve"] = runner.invoke(app, ["solve", "topologies/web_service.yaml"]).exit_code
print(json.dumps({{"codes": codes, "after_help": after_help, "after_check": after_check,
                  "after_solve": heavy()}}))
"""


def test_help_and_check_import_no_heavy_library_and_solve_does():
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    doc = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(doc["codes"]) > 10 and set(doc["codes"].values()) == {0}, doc["codes"]
    assert doc["after_help"] == []
    assert set(doc["after_check"]) == set(MODEL_LAYER)
    assert "scipy" in doc["after_solve"]
