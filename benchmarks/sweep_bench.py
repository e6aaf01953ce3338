"""Points per second of qmodel sweeps: analytic (vectorised fast path and one solve per
point) on a 20-node network, and simulated on a local process pool and on a Dask
LocalCluster with 2 workers.

    .venv/bin/python benchmarks/sweep_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

from qmodel import Model, load
from qmodel.experiments import sweep


def twenty_nodes() -> Model:
    """A 20-station open Jackson network: load balancer, gateway, auth, 8 services that each
    use a cache and a database (4 of each), and an audit log."""
    nodes: dict = {
        "lb": {"kind": "queue", "servers": 2, "service": "0.5ms", "next": "gateway"},
        "gateway": {"kind": "queue", "servers": 8, "service": "2ms",
                    "next": {"auth": 0.2, **{f"svc{i}": 0.1 for i in range(8)}}},
        "auth": {"kind": "queue", "servers": 2, "service": "3ms",
                 "next": {f"svc{i}": 0.125 for i in range(8)}},
        "audit": {"kind": "queue", "servers": 1, "service": "1ms"},
    }
    for i in range(8):
        nodes[f"svc{i}"] = {"kind": "queue", "servers": 4, "service": f"{8 + i}ms",
                            "next": {f"cache{i % 4}": 0.5, f"db{i % 4}": 0.3, "audit": 0.1}}
    for k in range(4):
        nodes[f"cache{k}"] = {"kind": "queue", "servers": 2, "service": "1ms"}
        nodes[f"db{k}"] = {"kind": "queue", "servers": 3, "service": f"{5 + k}ms"}
    return Model.from_dict({"name": "twenty-nodes", "nodes": nodes,
                            "arrivals": {"web": {"to": "lb", "rate": "300/s"}}})


def timed(label: str, points: int, run) -> pd.DataFrame:
    start = time.perf_counter()
    table = run()
    seconds = time.perf_counter() - start
    print(f"{label:<58} {points:>6} points {seconds:8.3f} s {points / seconds:12,.1f} points/s")
    return table


def analytic(quick: bool) -> None:
    model = twenty_nodes()
    side = 30 if quick else 100
    grid = {"arrivals.web.rate": f"50/s..2500/s:{side}",
            "nodes.db0.service": f"2ms..9ms:{side}"}
    sweep(model, {"arrivals.web.rate": [100.0]}, executor="serial")       # warm imports
    table = timed(f"analytic, 20 nodes, fast path, means ({side}x{side})", side * side,
                  lambda: sweep(model, grid, quantiles=(), metric="mean",
                                executor="serial", progress=False))
    print(f"{'':<58} {(~table['stable']).sum():>6} of them unstable")
    few = 60 if quick else 400
    rates = {"arrivals.web.rate": f"50/s..2000/s:{few}"}
    timed("analytic, 20 nodes, fast path, + p95/p99 (per-point PH)", few,
          lambda: sweep(model, rates, executor="serial", progress=False))
    slow = 10 if quick else 40
    timed("analytic, 20 nodes, qmodel.solve per point (cv=0.9)", slow,
          lambda: sweep(model, {"arrivals.web.rate": f"50/s..600/s:{slow}",
                                "nodes.db0.service.cv": [0.9]}, quantiles=(), metric="mean",
                        executor="serial", progress=False))


def simulated(quick: bool) -> None:
    from distributed import LocalCluster

    model = load("topologies/web_service.yaml")
    servers = [6, 7] if quick else [5, 6, 7, 8]
    spec = {"nodes.app.servers": servers, "arrivals.web.rate": ["100/s", "180/s"]}
    options = dict(method="simulate", replications=2 if quick else 4,
                   customers=5_000 if quick else 50_000, seed=1, progress=False)
    points = len(servers) * 2
    sweep(model, {"nodes.app.servers": [8]}, executor="serial", **{**options, "customers": 500})
    serial = timed("simulated, web_service, this process", points,
                   lambda: sweep(model, spec, executor="serial", **options))
    local = timed("simulated, web_service, local process pool (2 workers)", points,
                  lambda: sweep(model, spec, executor="local", workers=2, **options))
    start = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        print(f"{'dask LocalCluster (2 worker processes) started in':<58} "
              f"{time.perf_counter() - start:20.3f} s")
        dask = timed("simulated, web_service, Dask LocalCluster (2 workers)", points,
                     lambda: sweep(model, spec, executor="dask",
                                   scheduler=cluster.scheduler_address, **options))
    same = serial.equals(local) and serial.equals(dask)
    print(f"identical tables on all three executors: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    print(f"qmodel sweep benchmark ({os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}){' --quick' if args.quick else ''}")
    analytic(args.quick)
    simulated(args.quick)


if __name__ == "__main__":
    main()
