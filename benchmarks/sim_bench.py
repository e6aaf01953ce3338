"""Simulator speed and memory: qmodel (simpy engine, fast path) against Ciw and LINE.

Three models, the same number of external arrivals for every tool (200,000; 10,000 with
``--quick``): (a) M/M/1 at rho = 0.8, (b) M/M/4 at rho = 0.8, (c) the 5-node Jackson
network with feedback of issue 3 (exact end-to-end mean response 2.792208). For each tool
it prints simulated customers per second, peak memory and its estimate of the mean
end-to-end response time against the exact value, then the ratios qmodel/Ciw and
qmodel-fast/LINE. Speeds are arrivals per CPU second (this process plus, for LINE, its
solver process), which other work on the machine does not distort; arrivals per wall
second are shown beside them.

- qmodel (simpy engine): 5 replications of N/5 customers, with 95% confidence intervals,
  MSER-5 warm-up and percentiles (p50/p95/p99 are computed, as in a normal run).
- qmodel fast path: the same on the numba path (compiled once before timing).
- Ciw 3.2.7: ``simulate_until_max_customers(N, method="Arrive")``; mean over all records.
- LINE 3.0.8 LDES (native binary): N x (visits per customer) service-completion events;
  end-to-end response = sum of the stations' residence times (LINE's own ``SysRespT`` for
  a network with feedback is per visit to the entry station, so it is printed too).

Peak memory: ``tracemalloc`` peak in a second, untimed run for the Python tools; for LINE,
the peak resident set size of its solver process (``ru_maxrss`` of children).

Usage: ``.venv/bin/python benchmarks/sim_bench.py [--quick] [--customers N]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qmodel import Model  # noqa: E402
from qmodel.sim import simulate  # noqa: E402

RATES = [3.0, 2.0, 2.0, 4.0, 3.0]
ROUTING = [[0.0, 0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0],
           [0.0, 0.0, 0.0, 0.0, 1.0], [0.2, 0.0, 0.0, 0.0, 0.0]]


def erlang_c_response(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    top = a**c / math.factorial(c) / (1 - a / c)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return 1 / mu + p_wait / (c * mu - lam)


def queue_spec(lam: float, mu: float, c: int) -> dict:
    return {"name": f"M/M/{c}", "arrivals": {"a": {"to": "q", "rate": lam}},
            "nodes": {"q": {"kind": "queue", "servers": c,
                            "service": {"dist": "exponential", "rate": mu}}}}


def network_spec() -> dict:
    names = [f"N{i + 1}" for i in range(5)]
    nodes = {}
    for i, name in enumerate(names):
        nxt = {names[j]: p for j, p in enumerate(ROUTING[i]) if p > 0}
        nodes[name] = {"kind": "queue", "service": {"dist": "exponential", "rate": RATES[i]},
                       "next": nxt}
    return {"name": "network-c", "arrivals": {"a": {"to": "N1", "rate": 1.0}}, "nodes": nodes}


MODELS = [
    # name, qmodel spec, exact mean response, (lam, rates, servers, routing), visits/customer
    ("(a) M/M/1 rho=0.8", queue_spec(1.0, 1.25, 1), erlang_c_response(1.0, 1.25, 1),
     (1.0, [1.25], 1, [[0.0]]), 1.0),
    ("(b) M/M/4 rho=0.8", queue_spec(3.2, 1.0, 4), erlang_c_response(3.2, 1.0, 4),
     (3.2, [1.0], 4, [[0.0]]), 1.0),
    ("(c) 5-node network", network_spec(), 2.792208, (1.0, RATES, 1, ROUTING), 5.0),
]


# ----------------------------------------------------------------------------- tools
def run_qmodel(spec: dict, n: int, method: str) -> tuple[float, str]:
    r = simulate(Model.from_dict(spec), replications=5, customers=n // 5, seed=1,
                 method=method, progress=False)
    m = r.system.mean_response_time
    r.system.percentile(0.5), r.system.percentile(0.95), r.system.percentile(0.99)
    for node in r.nodes.values():
        node.percentile(0.95)
    return float(m), f"{float(m):.4f} [{m.ci95[0]:.4f}, {m.ci95[1]:.4f}]"


def run_ciw(params: tuple, n: int) -> tuple[float, str]:
    import ciw

    lam, rates, servers, routing = params
    k = len(rates)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(lam)] + [None] * (k - 1),
        service_distributions=[ciw.dists.Exponential(r) for r in rates],
        routing=routing, number_of_servers=[servers] * k)
    ciw.seed(1)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(n, method="Arrive")
    first, last = {}, {}
    for rec in sim.get_all_records():
        first[rec.id_number] = min(first.get(rec.id_number, math.inf), rec.arrival_date)
        if rec.exit_date is not None and rec.destination == -1:
            last[rec.id_number] = rec.exit_date
    times = [last[i] - first[i] for i in last]
    m = sum(times) / len(times)
    return m, f"{m:.4f}"


def run_line(params: tuple, n: int, visits: float) -> tuple[float, str]:
    from line_solver import (
        LDES,
        Exp,
        GlobalConstants,
        Network,
        OpenClass,
        Queue,
        SchedStrategy,
        Sink,
        Source,
        VerboseLevel,
    )

    GlobalConstants.set_verbose(VerboseLevel.SILENT)
    lam, rates, servers, routing = params
    model = Network("bench")
    source, sink = Source(model, "Source"), Sink(model, "Sink")
    queues = [Queue(model, f"N{i + 1}", SchedStrategy.FCFS) for i in range(len(rates))]
    job = OpenClass(model, "C1")
    source.set_arrival(job, Exp(lam))
    for q, rate in zip(queues, rates):
        q.set_service(job, Exp(rate))
        q.set_number_of_servers(servers)
    P = model.init_routing_matrix()
    P.set(job, job, source, queues[0], 1.0)
    for i, row in enumerate(routing):
        for j, p in enumerate(row):
            if p > 0:
                P.set(job, job, queues[i], queues[j], p)
        if sum(row) < 1:
            P.set(job, job, queues[i], sink, 1.0 - sum(row))
    model.link(P)
    with contextlib.redirect_stdout(io.StringIO()):
        solver = LDES(model, seed=1, samples=int(n * visits))
        table = solver.avg_table()
        system = solver.getAvgSysTable()
    m = float(table["ResidT"].sum())
    return m, f"{m:.4f} (SysRespT {float(system['SysRespT'].iloc[0]):.4f})"


# ----------------------------------------------------------------------------- harness
def cpu_seconds() -> float:
    """CPU time of this process and its finished children (LINE's solver runs as one)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fn, *args) -> tuple[float, float, tuple[float, str]]:
    t0, c0 = time.perf_counter(), cpu_seconds()
    out = fn(*args)
    return time.perf_counter() - t0, cpu_seconds() - c0, out


def python_peak_mb(fn, *args) -> float:
    tracemalloc.start()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 arrivals (smoke run)")
    parser.add_argument("--customers", type=int, default=None,
                        help="external arrivals per model (default 200,000)")
    args = parser.parse_args(argv)
    n = args.customers or (10_000 if args.quick else 200_000)
    have_ciw, have_line = available("ciw"), available("line_solver")
    for method in ("fast", "simpy"):  # compile the fast path, import lazily loaded modules
        run_qmodel(MODELS[2][1], 1_000, method)
    print(f"{n:,} external arrivals per model; customers/s = arrivals / CPU time "
          f"(arrivals / wall time in brackets)\n")
    header = (f"{'tool':<22}{'customers/s':>12}{'(wall)':>12}{'peak MB':>10}"
              f"   mean response (exact {{}})")
    summary = []
    for name, spec, exact, params, visits in MODELS:
        print(name)
        print(header.format(f"{exact:.4f}"))
        speed = {}
        rows = [("qmodel (simpy)", run_qmodel, (spec, n, "simpy"), True),
                ("qmodel fast path", run_qmodel, (spec, n, "fast"), True)]
        if have_ciw:
            rows.append(("Ciw", run_ciw, (params, n), True))
        if have_line:
            rows.append(("LINE LDES (native)", run_line, (params, n, visits), False))
        for tool, fn, fargs, python in rows:
            try:
                wall, cpu, (_, text) = timed(fn, *fargs)
            except Exception as exc:  # a third-party tool that cannot run here
                if tool.startswith("qmodel"):
                    raise
                print(f"{tool:<22}failed: {type(exc).__name__}: {exc}")
                continue
            peak = python_peak_mb(fn, *fargs) if python else child_peak_mb()
            speed[tool] = n / cpu
            print(f"{tool:<22}{n / cpu:>12,.0f}{f'({n / wall:,.0f})':>12}{peak:>10.1f}   {text}")
        ratios = []
        if "Ciw" in speed and "qmodel (simpy)" in speed:
            ratios.append(f"qmodel/Ciw = {speed['qmodel (simpy)'] / speed['Ciw']:.1f}x")
        if "LINE LDES (native)" in speed and "qmodel fast path" in speed:
            ratios.append(f"qmodel-fast/LINE = "
                          f"{speed['qmodel fast path'] / speed['LINE LDES (native)']:.2f}x")
        print("  " + ("; ".join(ratios) or "(Ciw and LINE not installed: no ratios)") + "\n")
        summary.append((name, ratios))
    print("summary")
    for name, ratios in summary:
        print(f"  {name}: {'; '.join(ratios)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
