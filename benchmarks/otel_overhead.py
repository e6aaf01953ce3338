"""Cost of the reference system's OpenTelemetry spans: ``web_service.yaml`` under open
Poisson load, spans off and on in turn (each run its own system), measured from the
system's own ``/metrics`` over the steady window: the gateway process's cores and event
loop lag, delivered/drawn service per component, the end-to-end mean. The machine's
load average is printed beside each run: compare runs of a quiet machine only.

    .venv/bin/python benchmarks/otel_overhead.py [--rate 96] [--duration 20] [--order off,on,off,on]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtest.loadgen import LoadSpec, run_locust  # noqa: E402
from loadtest.refsys.supervisor import RefSystem  # noqa: E402

WARMUP_S = 5.0


def run(mode: str, rate: float, duration: float, work: Path, seed: int) -> str:
    system = RefSystem(str(ROOT / "topologies" / "web_service.yaml"), run_dir=work / "system",
                       otel_traces=work / "spans.jsonl" if mode == "on" else None).start()
    try:
        before = os.getloadavg()[0]
        started = time.time()
        run_locust(system.url, [(LoadSpec("open", duration, rate=rate, seed=seed),
                                 work / "samples.csv")])
        time.sleep(1)
        doc = httpx.get(system.url + "/metrics", timeout=120, params={
            "since": started + WARMUP_S, "until": started + duration - 1}).json()
        after = os.getloadavg()[0]
    finally:
        system.stop()
    gateway = doc["system"]["processes"]["gateway"]
    services = ", ".join(f"{c} {d['mean_service_s'] * 1e3:.2f}/{d['mean_target_service_s'] * 1e3:.2f}"
                         for c, d in doc["components"].items())
    return (f"spans {mode:3}  load avg {before:.1f}-{after:.1f}  gateway {gateway['cpu_cores']:.3f} "
            f"cores, loop lag p99 {gateway['loop_lag_p99_s'] * 1e3:.2f} ms  delivered/drawn ms: "
            f"{services}  end-to-end mean {doc['end_to_end']['all']['mean_response_s'] * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=96.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--order", default="off,on,off,on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otel-overhead-") as tmp:
        for i, mode in enumerate(args.order.split(",")):
            print(run(mode, args.rate, args.duration, Path(tmp) / f"{i}-{mode}", i), flush=True)


if __name__ == "__main__":
    main()
