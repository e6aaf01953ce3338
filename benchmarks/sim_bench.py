"""Simulator speed and memory: qmodel (simpy engine, fast path) against Ciw, LINE and a
hand-written SimPy script, each tool in its own fresh process.

Three models, the same number of external arrivals for every tool (200,000; 10,000 with
``--quick``): (a) M/M/1 at rho = 0.8, (b) M/M/4 at rho = 0.8, (c) the 5-node Jackson
network with feedback of issue 3 (exact end-to-end mean response 2.792208).

Fair to the peers: every (tool, model) runs in a fresh Python process that imports the
tool, warms it up with a 2,000-arrival run of the same model (numba compiles, caches
fill), then runs the timed simulation; nothing of one tool's run (its garbage, its
compiled code) is left for another's. For each it prints:

- customers/s per CPU second of the timed run (the process and its children: LINE's
  solver is a child process), and per wall second in brackets;
- the whole process as a user runs it: wall and CPU seconds from launch to exit (import,
  warm-up and the run), and its peak resident set size (``wait4``'s ``ru_maxrss`` of that
  process and its children, the same measure for every tool);
- its estimate of the mean end-to-end response time against the exact value;

then the ratios against each peer, in-process (CPU) and whole-process (wall), and the
machine's load average before and after (other work on this 2-core machine distorts wall
figures; CPU figures much less).

- qmodel (simpy engine): 5 replications of N/5 customers, with 95% confidence intervals,
  MSER-5 warm-up and percentiles (p50/p95/p99 are computed, as in a normal run).
- qmodel fast path: the same on the numba path.
- Ciw 3.2.7: ``simulate_until_max_customers(N, method="Arrive")``; mean over all records.
- LINE 3.0.8 LDES (native binary): N x (visits per customer) service-completion events;
  end-to-end response = sum of the stations' residence times (LINE's own ``SysRespT`` for
  a network with feedback is per visit to the entry station, so it is printed too).
- SimPy script: the ~40 lines a modeller would write with SimPy 4 (a source process, a
  ``Resource`` per station, exponential draws from ``random``), the mean of the
  customers' response times.

Usage: ``.venv/bin/python benchmarks/sim_bench.py [--quick] [--customers N] [--model c]``
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP_ARRIVALS = 2_000  # at most: a run of fewer arrivals warms up on as many

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
    sys.path.insert(0, str(ROOT))
    from qmodel import Model
    from qmodel.sim import simulate

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


def run_simpy_script(params: tuple, n: int) -> tuple[float, str]:
    """What a modeller writes with SimPy: a source, a Resource per station, random draws."""
    import simpy

    lam, rates, servers, routing = params
    rng = random.Random(1)
    env = simpy.Environment()
    stations = [simpy.Resource(env, capacity=servers) for _ in rates]
    times: list[float] = []

    def customer(env):
        start, i = env.now, 0
        while i is not None:
            with stations[i].request() as req:
                yield req
                yield env.timeout(rng.expovariate(rates[i]))
            u, i_next = rng.random(), None
            for j, p in enumerate(routing[i]):
                u -= p
                if u < 0:
                    i_next = j
                    break
            i = i_next
        times.append(env.now - start)

    def source(env):
        for _ in range(n):
            yield env.timeout(rng.expovariate(lam))
            env.process(customer(env))

    env.process(source(env))
    env.run()
    m = sum(times) / len(times)
    return m, f"{m:.4f}"


TOOLS = {  # name: (runner, arguments from (spec, params, visits, n))
    "qmodel (simpy)": (run_qmodel, lambda spec, params, visits, n: (spec, n, "simpy")),
    "qmodel fast path": (run_qmodel, lambda spec, params, visits, n: (spec, n, "fast")),
    "Ciw": (run_ciw, lambda spec, params, visits, n: (params, n)),
    "LINE LDES (native)": (run_line, lambda spec, params, visits, n: (params, n, visits)),
    "SimPy script": (run_simpy_script, lambda spec, params, visits, n: (params, n)),
}
PEERS = ("Ciw", "LINE LDES (native)", "SimPy script")


# ----------------------------------------------------------------------------- harness
def cpu_seconds() -> float:
    """CPU time of this process and its finished children (LINE's solver runs as one)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), \
        resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def child(tool: str, model: int, n: int) -> None:
    """In a fresh process: warm ``tool`` up on ``model``, time one run of ``n`` arrivals,
    print the figures as one JSON line."""
    _, spec, _, params, visits = MODELS[model]
    fn, arguments = TOOLS[tool]
    fn(*arguments(spec, params, visits, min(n, WARMUP_ARRIVALS)))
    t0, c0 = time.perf_counter(), cpu_seconds()
    mean, text = fn(*arguments(spec, params, visits, n))
    print(json.dumps({"wall": time.perf_counter() - t0, "cpu": cpu_seconds() - c0,
                      "mean": mean, "text": text}))


def measure(tool: str, model: int, n: int) -> dict:
    """Run :func:`child` in a fresh process; add its whole-process wall, CPU and peak RSS."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", tool, str(model), str(n)],
            stdout=subprocess.PIPE, stderr=err, text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"})
        out = process.stdout.read()
        # reaped here, not by Popen: wait4 gives this process's own resource usage
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        process.stdout.close()
        if process.returncode:
            err.seek(0)
            lines = err.read().strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit {process.returncode}")
    doc = json.loads(out.strip().splitlines()[-1])
    return doc | {"process_wall": wall, "process_cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mb": usage.ru_maxrss / 1024}


def available(module: str) -> bool:
    """Installed? Found without importing it: this process stays small, so every child
    forked from it starts from the same small resident set (``ru_maxrss`` survives exec)."""
    return importlib.util.find_spec(module) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 arrivals (smoke run)")
    parser.add_argument("--customers", type=int, default=None,
                        help="external arrivals per model (default 200,000)")
    parser.add_argument("--model", action="append", choices="abc",
                        help="only these models (repeatable; default all three)")
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "MODEL", "N"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return 0
    n = args.customers or (10_000 if args.quick else 200_000)
    tools = [t for t, module in (("qmodel (simpy)", "simpy"), ("qmodel fast path", "numba"),
                                 ("Ciw", "ciw"), ("LINE LDES (native)", "line_solver"),
                                 ("SimPy script", "simpy")) if available(module)]
    chosen = [i for i, letter in enumerate("abc") if not args.model or letter in args.model]
    print(f"{n:,} external arrivals per model, each tool in its own process after a "
          f"{WARMUP_ARRIVALS:,}-arrival warm-up; load average {os.getloadavg()[0]:.2f}\n"
          f"customers/s = arrivals / CPU s of the timed run (per wall s in brackets); "
          f"process = the whole process, launch to exit\n")
    summary = []
    for index in chosen:
        name, _, exact, _, _ = MODELS[index]
        print(name)
        print(f"{'tool':<20}{'customers/s':>12}{'(wall)':>12}{'process wall':>14}"
              f"{'process CPU':>13}{'peak RSS MB':>13}   mean response (exact {exact:.4f})")
        figures = {}
        for tool in tools:
            try:
                f = measure(tool, index, n)
            except Exception as exc:  # a third-party tool that cannot run here
                if tool.startswith("qmodel"):
                    raise
                print(f"{tool:<20}failed: {exc}")
                continue
            figures[tool] = f
            per_wall = f"({n / f['wall']:,.0f})"
            print(f"{tool:<20}{n / f['cpu']:>12,.0f}{per_wall:>12}{f['process_wall']:>13.2f}s"
                  f"{f['process_cpu']:>12.2f}s{f['rss_mb']:>13.0f}   {f['text']}")
        ratios = _ratios(figures)
        print("".join(f"  {r}\n" for r in ratios) or "  (no peer installed: no ratios)\n")
        summary.append((name, ratios))
    print(f"summary (load average {os.getloadavg()[0]:.2f})")
    for name, ratios in summary:
        print(f"  {name}")
        for r in ratios:
            print(f"    {r}")
    return 0


def _ratios(figures: dict) -> list[str]:
    """Each qmodel path against each peer, as peer / qmodel (above 1: qmodel is faster):
    the timed run's CPU, and the whole process's CPU and wall."""
    out = []
    for tool in ("qmodel fast path", "qmodel (simpy)"):
        for peer in PEERS:
            if tool in figures and peer in figures:
                q, p = figures[tool], figures[peer]
                out.append(f"{tool} vs {peer}: run {p['cpu'] / q['cpu']:.2f}x CPU; process "
                           f"{p['process_cpu'] / q['process_cpu']:.2f}x CPU, "
                           f"{p['process_wall'] / q['process_wall']:.2f}x wall")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
