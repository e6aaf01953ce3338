"""Analytic solver speed and answers: qmodel against LINE (line-solver 3.0.8), same run.

Five sections, each printing times and answers of both tools side by side:

1. M/M/c with c = 10,000 servers at rho = 0.9 and 0.9999: ``qmodel.solve`` (model dict
   to answer) against LINE's MVA and NC solvers on the same open model, and the exact
   value from Erlang B's recurrence (``B_k = a B_{k-1} / (k + a B_{k-1})``, an
   independent method).
2. A random open network of 200 queues (seeded: 1-8 servers, exponential service,
   random routing with exits and feedback) from a model dict to results:
   ``Model.from_dict`` + ``qmodel.solve``, and the same + ``result.to_dataframe()``
   (which computes every station's p50/p95/p99), against LINE building the same model
   and solving it with MVA (exact for a Jackson network) and NC.
3. Exact MVA of a closed network: 3 queues and a think-time delay at N = 50, and 50
   queues and a delay at N = 1,000: ``qmodel.solvers.mva.mva`` on arrays against
   LINE's ``pfqn_mva``, and ``qmodel.solve`` on a model against LINE's ``SolverMVA``.
4. 10,000 M/M/c what-if points (100 arrival rates x 100 server counts) through
   ``qmodel.experiments.sweep``, checked point by point against ``qmodel.solve`` and
   LINE's MVA on a sample (LINE's time for all points is extrapolated from the sample).
5. LINE 3.0.8's NC solver on an open M/M/4 (lambda = 3.2, mu = 1): its mean response
   time beside LINE's MVA, qmodel and the exact Erlang C value 1.7455.

Timing: every measurement is repeated (after one untimed warm-up run) and the median
and the best (minimum) are printed; the machine may be shared, so the best run is the
cost of the code and the median what this machine gave today. Targets are judged on
both: MVA at N = 50 under 1 ms, the 200-node network under 20 ms including building
it, the 10,000-point sweep under 100 ms.

Usage: ``.venv/bin/python benchmarks/solve_bench.py [--quick] [--json PATH]``
(``--quick``: fewer repetitions and sample points, for the test suite).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qmodel  # noqa: E402
from qmodel.solvers.mva import mva  # noqa: E402

AGREE = 1e-6  # relative difference under which two answers agree
TARGETS_MS = {"mva_n50": 1.0, "network200": 20.0, "sweep10000": 100.0}


# ----------------------------------------------------------------------------- timing
@dataclass
class Timing:
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1e3

    @property
    def best_ms(self) -> float:
        return min(self.seconds) * 1e3

    def __str__(self) -> str:
        return f"{_ms(self.median_ms):>10} {_ms(self.best_ms):>10}"


def _ms(value: float) -> str:
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"


def measure(fn: Callable[..., Any], repeat: int, *args: Any) -> tuple[Timing, Any]:
    """Run ``fn(*args)`` ``repeat`` times after an untimed warm-up run: the timing and the
    last value."""
    fn(*args)
    seconds, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn(*args)
        seconds.append(time.perf_counter() - start)
    return Timing(seconds), value


def scaled(timing: Timing, factor: float) -> Timing:
    """The timing of ``factor`` times the work (an extrapolation)."""
    return Timing([t * factor for t in timing.seconds])


def solve_dict(spec: dict) -> qmodel.Result:
    """qmodel from a model dict to results."""
    return qmodel.solve(qmodel.Model.from_dict(spec))


def solve_table(spec: dict):
    """qmodel from a model dict to the results table (every station's percentiles)."""
    return solve_dict(spec).to_dataframe()


def relative(a: float, b: float) -> float:
    """Relative difference (inf when either is missing or not finite)."""
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


# ------------------------------------------------------------------- exact references
def erlang_c_response(lam: float, mu: float, c: int) -> tuple[float, float]:
    """Exact M/M/c mean response time and P(wait), from Erlang B's recurrence (stable for
    any c: every B_k is in (0, 1])."""
    a = lam / mu
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = a / c
    p_wait = b / (1.0 - rho * (1.0 - b))
    return 1.0 / mu + p_wait / (c * mu - lam), p_wait


# ------------------------------------------------------------------------------ models
def mmc_spec(lam: float, mu: float, c: int) -> dict:
    return {"name": f"M/M/{c}", "arrivals": {"jobs": {"to": "q", "rate": lam}},
            "nodes": {"q": {"kind": "queue", "servers": c, "service": 1.0 / mu}}}


def random_network_spec(n: int = 200, seed: int = 1) -> dict:
    """An open Jackson network of ``n`` queues: a random tree from ``s0`` keeps every
    queue reachable, 0-2 extra random links per queue add feedback, each queue leaves
    the network with probability 0.2-0.5; 1-8 servers and a service time that puts each
    queue at utilization 0.3-0.9 for 100 arrivals per second."""
    rng = np.random.default_rng(seed)
    names = [f"s{i}" for i in range(n)]
    targets: list[set[int]] = [set() for _ in range(n)]
    for j in range(1, n):
        targets[int(rng.integers(max(0, j - 8), j))].add(j)
    for i in range(n):
        for t in rng.choice(n, size=int(rng.integers(0, 3)), replace=False):
            if t != i:
                targets[i].add(int(t))
    routing = np.zeros((n, n))
    for i, out in enumerate(targets):
        if out:
            to = sorted(out)
            routing[i, to] = np.round(rng.dirichlet(np.ones(len(to))) *
                                      (1.0 - rng.uniform(0.2, 0.5)), 6)
    rate = 100.0
    entry = np.zeros(n)
    entry[0] = 1.0
    lam = rate * np.linalg.solve(np.eye(n) - routing.T, entry)
    servers = rng.integers(1, 9, size=n)
    mean = rng.uniform(0.3, 0.9, size=n) * servers / lam
    nodes = {}
    for i, name in enumerate(names):
        nodes[name] = {"kind": "queue", "servers": int(servers[i]), "service": float(mean[i]),
                       "next": {names[j]: float(routing[i, j]) for j in np.flatnonzero(routing[i])}}
    return {"name": f"random{n}", "nodes": nodes,
            "arrivals": {"jobs": {"to": names[0], "rate": rate}}}


def closed_spec(demands: list[float], population: int, think: float) -> dict:
    """Users who think for ``think`` seconds, then visit the queues in turn."""
    names = [f"q{i}" for i in range(len(demands))]
    nodes = {}
    for i, (name, d) in enumerate(zip(names, demands)):
        nodes[name] = {"kind": "queue", "service": d}
        if i + 1 < len(names):
            nodes[name]["next"] = names[i + 1]
    return {"name": f"closed{len(demands)}", "nodes": nodes,
            "users": {"users": {"to": names[0], "population": population, "think_time": think}}}


# ------------------------------------------------------------------------------- LINE
class Line:
    """LINE's native Python solvers on the benchmark's models (None when not installed)."""

    def __init__(self) -> None:
        start = time.perf_counter()
        import line_solver as ls
        from line_solver.api.pfqn import pfqn_mva

        self.import_s = time.perf_counter() - start
        self.ls, self.pfqn_mva = ls, pfqn_mva
        ls.GlobalConstants.set_verbose(ls.VerboseLevel.SILENT)
        try:
            from importlib.metadata import version
            self.version = version("line-solver")
        except Exception:  # noqa: BLE001 - only for display
            self.version = "?"

    def open_model(self, spec: dict):
        """The open model of a qmodel spec made of FCFS queues and one open class."""
        ls = self.ls
        model = ls.Network(spec.get("name", "model"))
        source, sink = ls.Source(model, "Source"), ls.Sink(model, "Sink")
        queues = {name: ls.Queue(model, name, ls.SchedStrategy.FCFS) for name in spec["nodes"]}
        job = ls.OpenClass(model, "jobs")
        (arrivals,) = spec["arrivals"].values()
        source.set_arrival(job, ls.Exp(arrivals["rate"]))
        for name, node in spec["nodes"].items():
            queues[name].set_service(job, ls.Exp.fit_mean(node["service"]))
            queues[name].set_number_of_servers(node.get("servers", 1))
        routing = model.init_routing_matrix()
        to = arrivals["to"] if isinstance(arrivals["to"], dict) else {arrivals["to"]: 1.0}
        for name, p in to.items():
            routing.set(job, job, source, queues[name], p)
        for name, node in spec["nodes"].items():
            for target, p in node.get("next", {}).items():
                routing.set(job, job, queues[name], queues[target], p)
            leave = 1.0 - sum(node.get("next", {}).values())
            if leave > 1e-12:
                routing.set(job, job, queues[name], sink, leave)
        model.link(routing)
        return model

    def closed_model(self, demands: list[float], population: int, think: float):
        ls = self.ls
        model = ls.Network("closed")
        delay = ls.Delay(model, "Think")
        queues = [ls.Queue(model, f"q{i}", ls.SchedStrategy.FCFS) for i in range(len(demands))]
        job = ls.ClosedClass(model, "users", population, delay)
        delay.set_service(job, ls.Exp.fit_mean(think))
        for q, d in zip(queues, demands):
            q.set_service(job, ls.Exp.fit_mean(d))
        model.link(ls.Network.serial_routing(delay, *queues))
        return model

    def solve_open(self, spec: dict, solver: str) -> float:
        """Build the model and solve it: the mean response time per job, by Little's law
        from LINE's mean numbers of jobs (its residence times turn a NaN into 0)."""
        model = self.open_model(spec)
        with contextlib.redirect_stdout(io.StringIO()):
            s = self.ls.MVA(model) if solver == "MVA" else self.ls.NC(model)
            jobs, _, _, _, _, _ = s.getAvg()
        (arrivals,) = spec["arrivals"].values()
        return float(np.sum(jobs)) / arrivals["rate"]

    def solve_closed(self, demands: list[float], population: int, think: float
                     ) -> tuple[float, float]:
        """Build and solve with exact MVA: throughput and time in the queues per cycle."""
        model = self.closed_model(demands, population, think)
        with contextlib.redirect_stdout(io.StringIO()):
            _, _, _, throughput, _, residence = self.ls.MVA(model, method="exact").getAvg()
        return float(throughput[0, 0]), float(np.sum(residence[1:]))

    def pfqn(self, demands: list[float], population: int, think: float) -> tuple[float, float]:
        x, _, _, _, residence, _, _ = self.pfqn_mva(np.array(demands)[:, None],
                                                    np.array([population]), np.array([think]))
        return float(x[0, 0]), float(np.sum(residence))


def load_line() -> Line | None:
    try:
        return Line()
    except ImportError:
        return None


# --------------------------------------------------------------------------- printing
HEADER = f"{'':4}{'tool':<46}{'median ms':>10} {'best ms':>10}   answer"


def row(tool: str, timing: Timing | None, answer: str) -> None:
    times = str(timing) if timing is not None else f"{'-':>10} {'-':>10}"
    print(f"{'':4}{tool:<46}{times}   {answer}")


def verdict(name: str, timing: Timing) -> str:
    limit = TARGETS_MS[name]
    best = "PASS" if timing.best_ms < limit else "MISS"
    median = "PASS" if timing.median_ms < limit else "MISS"
    return f"target < {limit:g} ms: {best} (best {_ms(timing.best_ms)} ms), " \
           f"{median} (median {_ms(timing.median_ms)} ms)"


def judged(value: float | None, exact: float) -> str:
    if value is None or not math.isfinite(value):
        return f"{value}  WRONG (exact {exact:.10g})"
    err = relative(value, exact)
    return f"{value:.10g}  " + ("agrees" if err < AGREE else f"WRONG (rel. error {err:.2g})")


# ---------------------------------------------------------------------------- sections
def section_mmc(line: Line | None, reps: int, line_reps: int) -> dict:
    print("1. M/M/c with c = 10,000 servers, mu = 1/s: mean response time (s)")
    out = []
    for rho in (0.9, 0.9999):
        c, mu = 10_000, 1.0
        lam = rho * c * mu
        spec = mmc_spec(lam, mu, c)
        exact, p_wait = erlang_c_response(lam, mu, c)
        print(f"  rho = {rho}: exact {exact:.12g} (P(wait) {p_wait:.6g}, Erlang B recurrence)")
        print(HEADER)
        timing, result = measure(solve_dict, reps, spec)
        mine = float(result.system.mean_response_time)
        row("qmodel from_dict + solve", timing, judged(mine, exact))
        item = {"rho": rho, "exact": exact, "qmodel": mine, "qmodel_ms": timing.median_ms}
        if line is not None:
            for solver in ("MVA", "NC"):
                t, value = measure(line.solve_open, line_reps, spec, solver)
                row(f"LINE {solver} build + solve", t, judged(value, exact))
                item[f"line_{solver.lower()}"] = value
                item[f"line_{solver.lower()}_ms"] = t.median_ms
        out.append(item)
    print()
    return {"mmc": out}


def section_network(line: Line | None, reps: int, line_reps: int) -> dict:
    spec = random_network_spec()
    print("2. Random open network: 200 queues (seed 1), 1-8 servers, exponential service,")
    print("   random routing with exits and feedback: mean response time per job (s)")
    print(HEADER)
    solve_t, result = measure(solve_dict, reps, spec)
    mine = float(result.system.mean_response_time)
    row("qmodel from_dict + solve", solve_t, f"{mine:.10g}  ({result.method})")
    table_t, table = measure(solve_table, reps, spec)
    row("qmodel from_dict + solve + to_dataframe", table_t,
        f"{len(table)} rows, p95 of s0 {table['p95_response_s'].iloc[0]:.6g}")
    out: dict[str, Any] = {"qmodel": mine, "qmodel_ms": solve_t.median_ms,
                           "qmodel_best_ms": solve_t.best_ms,
                           "qmodel_dataframe_ms": table_t.median_ms}
    if line is not None:
        for solver in ("MVA", "NC"):
            t, value = measure(line.solve_open, line_reps, spec, solver)
            right = relative(value, mine) < AGREE
            row(f"LINE {solver} build + solve", t,
                f"{value:.10g}  " + ("agrees with qmodel" if right else "DISAGREES"))
            out[f"line_{solver.lower()}"] = value
            out[f"line_{solver.lower()}_ms"] = t.median_ms
            out[f"line_{solver.lower()}_best_ms"] = t.best_ms
            print(f"{'':8}ratio LINE {solver} / qmodel: median "
                  f"{t.median_ms / solve_t.median_ms:,.0f}x, best {t.best_ms / solve_t.best_ms:,.0f}x")
            if solver == "MVA":
                print(f"{'':8}(reference: LINE ~0.30 s including model build, measured earlier "
                      "on this kind of machine)")
        print(f"{'':4}|qmodel - LINE MVA| / value = {relative(mine, out['line_mva']):.2g}")
    print(f"{'':4}{verdict('network200', solve_t)}")
    out["target"] = _target("network200", solve_t)
    print()
    return {"network": out}


def section_mva(line: Line | None, reps: int, line_reps: int) -> dict:
    print("3. Exact MVA, closed network with a think-time delay (Z = 1 s): throughput X (1/s)")
    print("   and time in the queues per cycle R (s)")
    rng = np.random.default_rng(7)
    cases = [("3 queues, N = 50", [0.010, 0.020, 0.015], 50),
             ("50 queues, N = 1,000", rng.uniform(0.002, 0.02, size=50).round(6).tolist(), 1000)]
    think = 1.0
    out = []
    for title, demands, n in cases:
        print(f"  {title}")
        print(HEADER)
        k = len(demands)
        arrays = (np.array([demands + [think]]), ["queue"] * k + ["delay"], [n])
        t_arrays, res = measure(mva, reps, *arrays)
        x = float(res.throughput[0])
        r = n / x - think  # time in the queues per cycle (Little's law over the cycle)
        row("qmodel mva() on arrays", t_arrays, f"X {x:.10g}  R {r:.10g}")
        spec = closed_spec(demands, n, think)
        t_solve, result = measure(solve_dict, reps, spec)
        xs, rs = float(result.system.throughput), float(result.system.mean_response_time)
        row("qmodel from_dict + solve", t_solve, f"X {xs:.10g}  R {rs:.10g}")
        item = {"case": title, "n": n, "stations": k, "qmodel_mva": [x, r],
                "qmodel_solve": [xs, rs], "qmodel_mva_ms": t_arrays.median_ms,
                "qmodel_mva_best_ms": t_arrays.best_ms, "qmodel_solve_ms": t_solve.median_ms}
        if line is not None:
            t_pfqn, (xl, rl) = measure(line.pfqn, reps, demands, n, think)
            row("LINE pfqn_mva() on arrays", t_pfqn, f"X {xl:.10g}  R {rl:.10g}")
            t_model, (xm, rm) = measure(line.solve_closed, line_reps, demands, n, think)
            row("LINE SolverMVA exact, build + solve", t_model, f"X {xm:.10g}  R {rm:.10g}")
            item.update(line_pfqn=[xl, rl], line_mva=[xm, rm], line_pfqn_ms=t_pfqn.median_ms,
                        line_mva_ms=t_model.median_ms)
            if n == 50:
                print(f"{'':8}(reference: LINE exact MVA ~10 ms, Octave's queueing package "
                      "~1.1 ms, measured earlier on this kind of machine)")
            worst = max(relative(a, b) for a, b in zip((x, r, xs, rs), (xl, rl, xm, rm)))
            print(f"{'':8}ratio LINE pfqn_mva / qmodel mva: {t_pfqn.median_ms / t_arrays.median_ms:.1f}x;"
                  f" LINE SolverMVA / qmodel solve: {t_model.median_ms / t_solve.median_ms:.1f}x;"
                  f" largest relative difference {worst:.2g}")
        if n == 50:
            print(f"{'':4}qmodel mva() {verdict('mva_n50', t_arrays)}")
            item["target"] = _target("mva_n50", t_arrays)
        out.append(item)
    print()
    return {"mva": out}


def section_sweep(line: Line | None, reps: int, samples: int, line_samples: int) -> dict:
    print("4. 10,000 M/M/c what-if points: 100 arrival rates (100/s..9,000/s) x 1..100 servers,")
    print("   service 10 ms; mean response time (s)")
    base = mmc_spec(100.0, 100.0, 4)
    model = qmodel.Model.from_dict(base)
    grid = {"arrivals.jobs.rate": "100/s..9000/s:100", "nodes.q.servers": "1..100"}
    rng = np.random.default_rng(11)
    print(HEADER)
    out: dict[str, Any] = {}
    try:
        from qmodel.experiments import sweep
    except ImportError as exc:
        sweep = None
        print(f"{'':4}qmodel.experiments.sweep is not importable ({exc}): the vectorised "
              "path is missing; timing a loop of qmodel.solve instead")
    rates = np.linspace(100.0, 9000.0, 100)
    points = [(float(lam), c) for lam in rates for c in range(1, 101)]
    stable = [(lam, c) for lam, c in points if lam < 100.0 * c]
    if sweep is not None:
        def run():
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                return sweep(model, grid, progress=False)

        try:
            t_sweep, table = measure(run, reps)
        except Exception as exc:  # noqa: BLE001 - report it and time the loop instead
            sweep = None
            print(f"{'':4}qmodel.experiments.sweep failed ({type(exc).__name__}: {exc}); "
                  "timing a loop of qmodel.solve instead")
    if sweep is not None:
        ok = table[table["stable"]]
        row("qmodel.experiments.sweep", t_sweep,
            f"{len(table):,} points, {len(ok):,} stable, method {table.attrs.get('method')}")
        out.update(points=len(table), stable=int(len(ok)), sweep_ms=t_sweep.median_ms,
                   sweep_best_ms=t_sweep.best_ms, target=_target("sweep10000", t_sweep))
        lookup = {(round(float(a), 6), int(c)): float(v) for a, c, v in
                  zip(table["arrivals.jobs.rate"], table["nodes.q.servers"],
                      table["mean_response_time_s"])}
    sample = [stable[i] for i in rng.choice(len(stable), size=samples, replace=False)]

    def one(lam: float, c: int) -> float:
        return float(qmodel.solve(qmodel.Model.from_dict(mmc_spec(lam, 100.0, c)))
                     .system.mean_response_time)

    t_loop, answers = measure(lambda: [one(lam, c) for lam, c in sample], 3)
    per_point = t_loop.median_ms / len(sample)
    row("qmodel.solve, one point at a time", scaled(t_loop, 10_000 / len(sample)),
        f"x 10,000 from {len(sample)} points ({_ms(per_point)} ms each)")
    exact = [erlang_c_response(lam, 100.0, c)[0] for lam, c in sample]
    out["solve_per_point_ms"] = per_point
    out["max_rel_diff_solve_vs_exact"] = max(relative(a, b) for a, b in zip(answers, exact))
    if sweep is not None:
        swept = [lookup[(round(lam, 6), c)] for lam, c in sample]
        out["max_rel_diff_sweep_vs_solve"] = max(relative(a, b) for a, b in zip(swept, answers))
    else:
        out["sweep_ms"] = per_point * len(points)
        out["target"] = _target("sweep10000", Timing([per_point * len(points) / 1e3]))
    if line is not None:
        few = sample[:line_samples]
        t_line, values = measure(lambda: [line.solve_open(mmc_spec(lam, 100.0, c), "MVA")
                                          for lam, c in few], 2)
        per_line = t_line.median_ms / len(few)
        row("LINE MVA build + solve, one point at a time", scaled(t_line, 10_000 / len(few)),
            f"x 10,000 from {len(few)} points ({_ms(per_line)} ms each)")
        out["line_per_point_ms"] = per_line
        out["line_mva"] = values
        out["line_points"] = [list(p) for p in few]
        out["max_rel_diff_line_vs_exact"] = max(relative(a, b) for a, b in
                                                zip(values, exact[:len(few)]))
    print(f"{'':4}sample of {len(sample)} stable points: largest relative difference "
          + ", ".join(f"{k.removeprefix('max_rel_diff_').replace('_', ' ')} {v:.2g}"
                      for k, v in out.items() if k.startswith("max_rel_diff")))
    if sweep is not None:
        print(f"{'':4}{verdict('sweep10000', t_sweep)}")
    else:
        print(f"{'':4}target < 100 ms: MISS (vectorised path missing; "
              f"{per_point * len(points):,.0f} ms by a loop of qmodel.solve)")
    print()
    return {"sweep": out}


def section_nc_bug(line: Line | None, reps: int, line_reps: int) -> dict:
    lam, mu, c = 3.2, 1.0, 4
    spec = mmc_spec(lam, mu, c)
    exact, _ = erlang_c_response(lam, mu, c)
    print("5. LINE 3.0.8 NC on an open M/M/4 (lambda = 3.2/s, mu = 1/s, rho = 0.8): "
          "mean response time (s)")
    print(f"  exact (Erlang C): {exact:.10g}")
    print(HEADER)
    t, result = measure(solve_dict, reps, spec)
    mine = float(result.system.mean_response_time)
    row("qmodel from_dict + solve", t, judged(mine, exact))
    out = {"exact": exact, "qmodel": mine}
    if line is not None:
        for solver in ("MVA", "NC"):
            tl, value = measure(line.solve_open, line_reps, spec, solver)
            row(f"LINE {solver} build + solve", tl, judged(value, exact))
            out[f"line_{solver.lower()}"] = value
    print()
    return {"nc_bug": out}


def _target(name: str, timing: Timing) -> dict:
    limit = TARGETS_MS[name]
    return {"limit_ms": limit, "median_ms": timing.median_ms, "best_ms": timing.best_ms,
            "best_pass": timing.best_ms < limit, "median_pass": timing.median_ms < limit}


def environment(line: Line | None, reps: int, line_reps: int) -> None:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"qmodel analytic solvers against LINE: Python {platform.python_version()}, "
          f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average {load}")
    if line is None:
        print("LINE (line-solver) is not installed: qmodel only")
    else:
        print(f"LINE line-solver {line.version} (native Python), imported in {line.import_s:.1f} s")
    print(f"times: median and best of {reps} runs (LINE: {line_reps}) after a warm-up run; "
          f"answers agree when within {AGREE:g} relative\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions and sample points (smoke run)")
    parser.add_argument("--json", type=Path, help="also write the answers and times here")
    args = parser.parse_args(argv)
    reps, line_reps = (5, 2) if args.quick else (30, 5)
    samples, line_samples = (50, 5) if args.quick else (300, 40)
    line = load_line()
    environment(line, reps, line_reps)
    report: dict[str, Any] = {"quick": args.quick, "line": line.version if line else None}
    report |= section_mmc(line, reps, line_reps)
    report |= section_network(line, reps, line_reps)
    report |= section_mva(line, reps, line_reps)
    report |= section_sweep(line, reps, samples, line_samples)
    report |= section_nc_bug(line, reps, line_reps)
    targets = {"MVA at N = 50": report["mva"][0]["target"],
               "200-node network": report["network"]["target"],
               "10,000-point sweep": report["sweep"].get("target")}
    print("targets")
    for name, t in targets.items():
        if t is None:
            print(f"  {name}: MISS (not measured)")
            continue
        print(f"  {name} < {t['limit_ms']:g} ms: best {_ms(t['best_ms'])} ms "
              f"{'PASS' if t['best_pass'] else 'MISS'}, median {_ms(t['median_ms'])} ms "
              f"{'PASS' if t['median_pass'] else 'MISS'}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
