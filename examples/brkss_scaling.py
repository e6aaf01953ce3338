"""BRKSS warehouse cluster: the worked example, speed-up and scale-up from simulation.

Runs one batch of transactions through topologies/brkss_warehouse.yaml (console ->
switch -> c clusters x d MLFQ nodes, round-robin split, admission in groups of
max_n/10, push migration within a cluster): the paper's worked example m = 180,000,
c = 3, d = 4, and the same batch when one cluster fails a third of the way through and
its remaining work fails over to the other clusters; then
speed-up (the same batch on more nodes; ideal: linear in the nodes) and scale-up (the
batch grown with the nodes; ideal: a constant makespan). Both stay near ideal until the
single console saturates at node time / console time = 20 nodes, then turn sub-linear.
Source: Pal & De, "Simulation of BRKSS architecture for data warehouse employing shared
nothing clustering", IJEMR 9(1), 2019; DeWitt & Gray, "Parallel database systems",
CACM 35(6), 1992 (speed-up and scale-up).

    python examples/brkss_scaling.py [--quick] [--out DIR]
"""

from __future__ import annotations

import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save
from plotly.subplots import make_subplots

import qmodel
from qmodel.sim import SimResult, simulate

NODES_PER_CLUSTER = 4                                  # d


def run_batch(model: qmodel.Model, transactions: int, nodes: int, *, seed: int = 1,
              replications: int = 2, **changes: object) -> tuple[float, SimResult]:
    """Simulate one batch of ``transactions`` on ``nodes`` nodes (clusters of d, push
    migration within a cluster), ``max_n/10`` admitted per node at a time; returns the
    mean makespan (s) and the simulation result. The admission group and the migration
    groups follow from m, c and d (``clusters`` and ``admission_rounds`` in the model)."""
    clusters = nodes // NODES_PER_CLUSTER if nodes % NODES_PER_CLUSTER == 0 else 1
    batch = model.with_changes({"batches.batch.size": transactions,
                                "nodes.nodes.shards": nodes,
                                "nodes.nodes.clusters": clusters,
                                **changes})
    sim = simulate(batch, replications=replications, seed=seed)   # runs until it is done
    return float(sim.system.makespan), sim


def cluster_failure(cluster: int, at: float) -> dict[str, object]:
    """The change that fails cluster ``cluster`` (its d nodes together) at ``at`` seconds
    for good, its remaining work migrating to the other clusters' nodes."""
    first = cluster * NODES_PER_CLUSTER
    return {"nodes.nodes.failures": [{
        "members": list(range(first, first + NODES_PER_CLUSTER)), "together": True,
        "at": [f"{at}s"], "duration": "1h", "policy": "migrate"}]}


def failover_makespan(model: qmodel.Model, transactions: int, nodes: int, at: float) -> float:
    """Makespan (s) when one cluster fails at ``at`` and the others absorb its work: the
    work W done by ``nodes`` nodes until ``at``, the rest by ``nodes - d`` nodes (console
    not the bottleneck, failure before the batch would end)."""
    work = transactions * model.network.station("nodes-0").service["batch"].mean
    return at + (work - nodes * at) / (nodes - NODES_PER_CLUSTER)


def console_limit(model: qmodel.Model) -> float:
    """Nodes at which the console saturates: mean node time / console time per transaction."""
    node = model.network.station("nodes-0").service["batch"].mean
    return node / model.network.station("console").service["batch"].mean


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    model = qmodel.load(TOPOLOGIES / "brkss_warehouse.yaml")
    m = 3_600 if args.quick else 180_000
    c, d = 3, NODES_PER_CLUSTER
    makespan, sim = run_batch(model, m, c * d, replications=1)
    print(f"worked example: m={m:,} transactions, p={c + 2} ports -> c={c} clusters x d={d} "
          f"nodes")
    sizing = next(note for note in sim.notes if note.startswith("nodes: "))  # the model's
    print(f"  {sizing} (m/c, m/(c d) and max_n/10, derived)")
    print(f"  makespan {makespan:.3f} s (lower bound {sim.system.makespan_bound:.3f} s); "
          f"throughput {m / makespan:,.0f} transactions/s; "
          f"mean turnaround {sim.system.mean_response_time:.3f} s; mean wait at a node "
          f"{sim.node('nodes').mean_wait:.3f} s")

    at = round(makespan / 3, 1)
    failed, _ = run_batch(model, m, c * d, replications=1, **cluster_failure(c - 1, at))
    tail = makespan - sim.system.makespan_bound            # the no-failure run's tail
    print(f"cluster {c - 1} fails at {at:g} s, its work migrating to the other "
          f"{(c - 1) * d} nodes: makespan {failed:.3f} s (work conservation "
          f"{failover_makespan(model, m, c * d, at) + tail:.3f} s; partly served "
          f"transactions of the failed cluster restart)")

    clusters = (1, 3, 9) if args.quick else (1, 2, 3, 4, 6, 9)
    sizes = [k * d for k in clusters]
    fixed = 2_400 if args.quick else 36_000
    per_node = 100 if args.quick else 1_500
    speed = {n: run_batch(model, fixed, n)[0] for n in sizes}
    scale = {n: run_batch(model, per_node * n, n)[0] for n in sizes}
    base = sizes[0]
    print(f"console saturates at {console_limit(model):.0f} nodes")
    print(f"{'nodes':>6} {'speed-up makespan s':>20} {'speed-up':>9} {'ideal':>6} "
          f"{'scale-up makespan s':>20} {'scale-up':>9}")
    for n in sizes:
        print(f"{n:>6} {speed[n]:>20.3f} {speed[base] / speed[n] * base:>9.2f} {n:>6} "
              f"{scale[n]:>20.3f} {scale[base] / scale[n]:>9.2f}")

    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        f"speed-up: {fixed:,} transactions", f"scale-up: {per_node:,} transactions per node"))
    fig.add_trace(go.Scatter(x=sizes, y=[speed[base] / speed[n] * base for n in sizes],
                             mode="lines+markers", name="speed-up (simulated)"), 1, 1)
    fig.add_trace(go.Scatter(x=sizes, y=sizes, mode="lines", name="linear",
                             line={"dash": "dash"}), 1, 1)
    fig.add_trace(go.Scatter(x=sizes, y=[scale[base] / scale[n] for n in sizes],
                             mode="lines+markers", name="scale-up (simulated)"), 1, 2)
    fig.add_trace(go.Scatter(x=sizes, y=[1.0] * len(sizes), mode="lines", name="ideal",
                             line={"dash": "dash"}), 1, 2)
    fig.update_xaxes(title_text="nodes (c x d)")
    fig.update_yaxes(title_text="speed-up (x)", row=1, col=1)
    fig.update_yaxes(title_text="scale-up (makespan ratio)", row=1, col=2)
    fig.update_layout(title="BRKSS shared-nothing cluster: speed-up and scale-up")
    save(fig, args.out, "brkss_scaling")


if __name__ == "__main__":
    main()
