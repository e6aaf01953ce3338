"""Parameter server: how many workers and server shards for synchronous training?

For topologies/parameter_server.yaml, a synchronous round is the slowest of W workers'
gradient computations, a push/pull, then the slowest of S shards aggregating W gradients
over 1/S of the parameters: E[max_W compute] + network + E[max_S update]
(qmodel.solvers.forkjoin.expected_max). Training throughput, W mini-batches per round,
has diminishing returns in W (the barrier waits for stragglers, H_W/mu-like) and can
never pass S / per-gradient cost, where the shards are the bottleneck: more workers
need more shards. A few configurations are simulated as a check.
Sources: Li et al., "Scaling distributed machine learning with the parameter server",
OSDI 2014; Chen et al., "Revisiting distributed synchronous SGD", 2016.

    python examples/parameter_server_scaling.py [--quick] [--out DIR]
"""

from __future__ import annotations

import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save

import qmodel
from qmodel.sim import simulate
from qmodel.solvers import forkjoin


def configured(model: qmodel.Model, workers: int, shards: int, per_gradient: float
               ) -> qmodel.Model:
    """The model with W workers and S shards, each shard task W x per_gradient / S."""
    update = model.to_dict()["nodes"]["update"]["task_service"]
    return model.with_changes({
        "nodes.compute.tasks": workers, "nodes.compute.slots": workers,
        "nodes.update.tasks": shards, "nodes.update.slots": shards,
        "nodes.update.task_service": {**update, "mean": f"{workers * per_gradient / shards}s"}})


def round_time(model: qmodel.Model) -> float:
    """Mean round: slowest worker + network + slowest shard (independent task times)."""
    net = model.network
    compute, update = net.station("compute"), net.station("update")
    return (forkjoin.expected_max([compute.service["training"]] * compute.tasks)
            + net.station("network").service["training"].mean
            + forkjoin.expected_max([update.service["training"]] * update.tasks))


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    base = qmodel.load(TOPOLOGIES / "parameter_server.yaml")
    net = base.network
    per_gradient = (net.station("update").service["training"].mean * net.station("update").tasks
                    / net.station("compute").tasks)
    workers = [1, 4, 16, 64] if args.quick else [1, 2, 4, 8, 16, 32, 64, 128]
    shard_counts = (1, 4, 16)
    fig = go.Figure()
    print(f"per-gradient aggregation cost {per_gradient * 1e3:g} ms; throughput in "
          f"mini-batches per second")
    print(f"{'W':>4} " + " ".join(f"{f'S={s} round ms':>14} {'batches/s':>10}"
                                   for s in shard_counts))
    table = {s: [] for s in shard_counts}
    for w in workers:
        cells = []
        for s in shard_counts:
            t = round_time(configured(base, w, s, per_gradient))
            table[s].append(w / t)
            cells.append(f"{t * 1e3:>14.1f} {w / t:>10.1f}")
        print(f"{w:>4} " + " ".join(cells))
    for s in shard_counts:
        limit = s / per_gradient
        print(f"S={s}: at most {limit:.0f} mini-batches/s (S / per-gradient cost); W={workers[-1]} "
              f"reaches {table[s][-1] / limit:.0%} of it")
        fig.add_trace(go.Scatter(x=workers, y=table[s], mode="lines+markers", name=f"S = {s}"))

    for w, s in ((16, 4),) if args.quick else ((4, 1), (16, 4), (64, 16)):
        model = configured(base, w, s, per_gradient)
        sim = simulate(model, replications=2, customers=500 if args.quick else 5_000, seed=w)
        print(f"simulated W={w}, S={s}: round {sim.system.mean_response_time * 1e3:.1f} ms "
              f"(formula {round_time(model) * 1e3:.1f} ms)")
    fig.update_layout(title="Parameter server: synchronous training throughput",
                      xaxis_title="workers W", xaxis_type="log",
                      yaxis_title="mini-batches per second")
    save(fig, args.out, "parameter_server_scaling")


if __name__ == "__main__":
    main()
