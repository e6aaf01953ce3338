"""MapReduce / Spark: how long does the map stage take on k slots, and how many slots
meet a deadline?

For the map stage of topologies/mapreduce_job.yaml (n = 100 tasks, 5% stragglers),
sweeps the slots k: the mean makespan (qmodel.solvers.forkjoin.makespan_moments), its
95th percentile and the ARIA bounds n·mean/k <= T <= (n-1)·mean/k + E[max task]
(Verma, Cherkasova & Campbell, ICAC 2011), with simulated points; the wave effect (n
just above a multiple of k costs a nearly empty extra wave, shown for tight tasks); and
the fewest slots for a deadline.

    python examples/mapreduce_makespan.py [--quick] [--out DIR]
"""

from __future__ import annotations

import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save
from plotly.subplots import make_subplots

import qmodel
from qmodel.distributions import Gamma
from qmodel.sim import simulate
from qmodel.solvers import forkjoin

DEADLINE = 300.0                                      # seconds


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    model = qmodel.load(TOPOLOGIES / "mapreduce_job.yaml").with_changes(
        {"arrivals.jobs.rate": "0.2/h"})              # jobs far apart: a visit is a stage
    stage = model.network.station("map")
    n, task = stage.tasks, stage.service["jobs"]
    slots = [10, 20, 40, 100] if args.quick else list(range(5, 101, 5))
    print(f"map stage: n = {n} tasks, mean {task.mean:g} s, cv {task.scv ** 0.5:.2f}")
    print(f"{'k':>4} {'ARIA low':>9} {'mean':>8} {'p95':>8} {'ARIA high':>10} {'simulated':>10}")
    rows = []
    for k in slots:
        low, high = forkjoin.aria_bounds_expected(n, k, task)
        mean = forkjoin.makespan_moments(n, k, task)[0]
        p95 = forkjoin.makespan_quantile(n, k, task, 0.95)
        sim = simulate(model.with_changes({"nodes.map.slots": k}), replications=2,
                       customers=200 if args.quick else 3_000, seed=k)
        got = sim.node("map").mean_response - sim.node("map").mean_wait
        rows.append((k, low, mean, p95, high, got))
        print(f"{k:>4} {low:>9.1f} {mean:>8.1f} {p95:>8.1f} {high:>10.1f} {got:>10.1f}")
    k = forkjoin.slots_for_deadline(n, task, DEADLINE)
    k95 = forkjoin.slots_for_deadline(n, task, DEADLINE, quantile=0.95)
    print(f"fewest slots for a mean makespan <= {DEADLINE:g} s: k = {k}; "
          f"for 95% of jobs: {k95 if k95 is not None else 'none (stragglers)'}")

    tight = Gamma(20.0, 0.05)
    counts = list(range(70, 131, 10 if args.quick else 1))
    waves = [forkjoin.makespan_moments(t, 40, tight)[0] for t in counts]
    print("wave effect (k = 40, tasks of 20 s, cv 0.05): " + ", ".join(
        f"n={t}: {forkjoin.makespan_moments(t, 40, tight)[0]:.1f} s" for t in (80, 81, 120, 121)))

    fig = make_subplots(rows=1, cols=2, subplot_titles=("map makespan vs slots",
                                                        "wave effect, k = 40"))
    for i, name in ((1, "ARIA lower bound"), (2, "mean (renewal slots)"), (3, "p95"),
                    (4, "ARIA upper bound")):
        fig.add_trace(go.Scatter(x=slots, y=[r[i] for r in rows], mode="lines", name=name), 1, 1)
    fig.add_trace(go.Scatter(x=slots, y=[r[5] for r in rows], mode="markers",
                             name="simulated mean"), 1, 1)
    fig.add_hline(y=DEADLINE, line_dash="dot", row=1, col=1)
    fig.add_trace(go.Scatter(x=counts, y=waves, mode="lines+markers", name="makespan"), 1, 2)
    fig.update_xaxes(title_text="slots k", row=1, col=1)
    fig.update_xaxes(title_text="tasks n", row=1, col=2)
    fig.update_yaxes(title_text="seconds")
    fig.update_layout(title="MapReduce map stage: makespan, bounds and waves")
    save(fig, args.out, "mapreduce_makespan")


if __name__ == "__main__":
    main()
