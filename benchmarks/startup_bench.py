"""Start-up cost of the ``qmodel`` command: wall seconds and peak memory of whole processes.

Each command runs in a fresh Python process, as the ``qmodel`` console script runs it
(``from qmodel.cli import main; main()``, this checkout first on the path), so the figures
are import time plus the work:

- ``qmodel --help``;
- ``qmodel check`` and ``qmodel solve`` of ``topologies/web_service.yaml``;
- ``qmodel simulate`` of M/M/1 at rho = 0.8: 5 replications of 40,000 customers
  (200,000 in all; ``--quick``: 5 x 2,000), seed 1, the default method (the numba fast
  path, its compiled code cached on disk after the first run).

Every command runs once unmeasured first (numba's cache, the OS's file cache), then for
each: the median over ``--runs`` runs (default 3) of the wall time from launch to exit, of
the CPU seconds (user + system) and of the peak resident set size (``wait4``'s
``ru_maxrss`` of that process alone), and the heavy packages (numba, pandas, scipy, plotly,
networkx) the command imported. The load average before and after is printed too: other
work on the machine stretches wall figures (CPU seconds much less).

Usage: ``.venv/bin/python benchmarks/startup_bench.py [--runs N] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "pandas", "scipy", "plotly", "networkx")
MM1 = """\
name: mm1
nodes:
  app: {kind: queue, servers: 1, service: 10ms}
arrivals:
  web: {to: app, rate: 80/s}
"""
# what the console script runs, then the heavy packages loaded, on stderr's last line
ENTRY = ("import sys\nfrom qmodel.cli import main\ntry:\n    main()\nfinally:\n"
         "    print('heavy:', *sorted({m.split('.')[0] for m in sys.modules} & {"
         + ", ".join(repr(h) for h in HEAVY) + "}), file=sys.stderr)\n")


def run(args: list[str]) -> tuple[float, float, float, str]:
    """Wall and CPU seconds, peak RSS in MB and the heavy packages of one ``qmodel *args``."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", ENTRY, *args], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=err,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        # reaped here, not by Popen: wait4 gives this process's own resource usage
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
        err.seek(0)
        lines = err.read().strip().splitlines()
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise RuntimeError(f"qmodel {' '.join(args)}: exit {code}: {lines[-2:]}")
    heavy = lines[-1].removeprefix("heavy:").strip() if lines else "?"
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, heavy or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per command (median)")
    parser.add_argument("--quick", action="store_true",
                        help="simulate 5 x 2,000 customers instead of 5 x 40,000")
    args = parser.parse_args(argv)
    customers = 2_000 if args.quick else 40_000
    with tempfile.TemporaryDirectory() as tmp:
        mm1 = Path(tmp) / "mm1.yaml"
        mm1.write_text(MM1)
        web = str(ROOT / "topologies" / "web_service.yaml")
        commands = [
            ["--help"],
            ["check", web],
            ["solve", web],
            ["simulate", str(mm1), "--replications", "5", "--customers", str(customers),
             "--seed", "1"],
        ]
        print(f"load average {os.getloadavg()[0]:.2f}; median of {args.runs} fresh processes "
              f"each; Python {sys.version.split()[0]}")
        print(f"{'command':<40}{'wall s':>8}{'CPU s':>8}{'peak RSS MB':>13}   heavy imports")
        for command in commands:
            run(command)  # warm-up, not measured
            figures = [run(command) for _ in range(args.runs)]
            wall, cpu, rss = (statistics.median(f[k] for f in figures) for k in range(3))
            label = " ".join(["qmodel", command[0], *(
                ["web_service.yaml"] if command[0] in ("check", "solve") else
                [f"M/M/1 {5 * customers:,} customers"] if command[0] == "simulate" else [])])
            print(f"{label:<40}{wall:>8.2f}{cpu:>8.2f}{rss:>13.0f}   {figures[-1][3]}")
    print(f"load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
