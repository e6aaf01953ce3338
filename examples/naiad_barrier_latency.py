"""Naiad: how does the time of a globally synchronised iteration grow with the workers?

For topologies/naiad_iterative.yaml (tight 1 ms worker times with 0.5% micro-stragglers)
and N = 2 .. 128 workers: the median, 95th percentile and mean iteration time, the
maximum of N worker times plus the progress round (qmodel.solvers.forkjoin), with
simulated points. The median barely moves while the 95th percentile climbs once a
straggler in some worker becomes likely (Murray et al., "Naiad: a timely dataflow
system", SOSP 2013, Fig. 6b); for exponential workers the mean is H_N/mu.

    python examples/naiad_barrier_latency.py [--quick] [--out DIR]
"""

from __future__ import annotations

import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save

import qmodel
from qmodel.sim import simulate
from qmodel.solvers import forkjoin


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    model = qmodel.load(TOPOLOGIES / "naiad_iterative.yaml")
    task = model.network.station("iteration").service["computation"]
    progress = model.network.station("progress").service["computation"].mean
    sizes = [2, 4, 8, 16, 32, 64, 128]
    simulated_sizes = (4, 64) if args.quick else tuple(sizes)
    curves: dict[str, list[float]] = {"p50": [], "p95": [], "mean": [], "H_N/mu": []}
    sims: dict[str, list[float]] = {"p50": [], "p95": []}
    print(f"{'N':>4} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'exp. H_N/mu ms':>15} "
          f"{'sim p50':>8} {'sim p95':>8}")
    for n in sizes:
        times = [task] * n
        row = [forkjoin.quantile_of_max(times, 0.5) + progress,
               forkjoin.quantile_of_max(times, 0.95) + progress,
               forkjoin.expected_max(times) + progress,
               forkjoin.expected_max_exponential(n, 1 / task.mean) + progress]
        for key, value in zip(curves, row):
            curves[key].append(value * 1e3)
        shown = ""
        if n in simulated_sizes:
            sim = simulate(model.with_changes({"nodes.iteration.tasks": n,
                                               "nodes.iteration.slots": n}),
                           replications=2, customers=1_000 if args.quick else 10_000, seed=n)
            got = [sim.system.percentile(0.5) * 1e3, sim.system.percentile(0.95) * 1e3]
            sims["p50"].append(got[0])
            sims["p95"].append(got[1])
            shown = f" {got[0]:>8.3f} {got[1]:>8.3f}"
        print(f"{n:>4} " + " ".join(f"{v * 1e3:>8.3f}" for v in row[:3])
              + f" {row[3] * 1e3:>15.3f}" + shown)
    print(f"from N={sizes[0]} to N={sizes[-1]}: median x{curves['p50'][-1] / curves['p50'][0]:.2f}, "
          f"95th percentile x{curves['p95'][-1] / curves['p95'][0]:.1f}")

    fig = go.Figure()
    for key, values in curves.items():
        fig.add_trace(go.Scatter(x=sizes, y=values, mode="lines", name=key))
    for key, values in sims.items():
        fig.add_trace(go.Scatter(x=list(simulated_sizes), y=values, mode="markers",
                                 name=f"{key} simulated"))
    fig.update_layout(title="Naiad: iteration (global barrier) latency vs workers",
                      xaxis_title="workers N", xaxis_type="log",
                      yaxis_title="iteration time (ms)", yaxis_type="log")
    save(fig, args.out, "naiad_barrier_latency")


if __name__ == "__main__":
    main()
