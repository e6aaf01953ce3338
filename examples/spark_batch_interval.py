"""Spark Streaming: which batch interval gives the lowest latency, and where is the edge?

For topologies/spark_streaming.yaml, sweeps the batch interval T: a record waits T/2
for its batch to be cut, then the scheduling delay (batches queue behind one another),
then its batch's processing, fixed + per-record cost x batch size (qmodel.solvers.
microbatch). Too short an interval cannot keep up: the stability boundary is
T > fixed / (1 - rate x per_item), below which the scheduling delay grows without bound;
too long an interval adds T/2. A few intervals are simulated as a check. Sources: Das,
Zhong, Stoica & Shenker, "Adaptive stream processing using dynamic batch sizing", SoCC
2014; Spark Streaming programming guide, "Setting the right batch interval".

    python examples/spark_batch_interval.py [--quick] [--out DIR]
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save

import qmodel
from qmodel.sim import simulate
from qmodel.solvers import microbatch


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    model = qmodel.load(TOPOLOGIES / "spark_streaming.yaml")
    rate = model.network.classes[0].rate
    batch = model.network.station("batches").batch
    boundary = batch.fixed.mean / (1 - rate * batch.per_item.mean)
    print(f"{rate:g} records/s, fixed {batch.fixed.mean * 1e3:g} ms per batch, "
          f"{batch.per_item.mean * 1e3:g} ms per record")
    print(f"stability boundary: T > {boundary:.3f} s")

    intervals = np.round(np.linspace(boundary * 1.05, 3.0, 8 if args.quick else 40), 3)
    latency = {}
    print(f"{'T s':>6} {'utilization':>12} {'scheduling s':>13} {'latency s':>10}")
    for T in intervals:
        m = microbatch.batch_interval_metrics(rate, float(T), batch.fixed, batch.per_item)
        latency[float(T)] = m.mean_latency
        print(f"{T:>6.3f} {m.utilization:>12.3f} {m.scheduling_delay:>13.4f} "
              f"{m.mean_latency:>10.3f}")
    best = min(latency, key=latency.get)
    print(f"lowest mean latency: T = {best:.3f} s -> {latency[best]:.3f} s")

    checks = (0.6, 1.0) if args.quick else (0.5, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
    simulated = {}
    for T in checks:
        sim = simulate(model.with_changes({"nodes.batches.interval": f"{T}s"}),
                       replications=2, customers=8_000 if args.quick else 100_000, seed=1)
        simulated[T] = sim.node("batches").mean_response
        m = microbatch.batch_interval_metrics(rate, T, batch.fixed, batch.per_item)
        print(f"simulated T = {T:g} s: latency {simulated[T]:.3f} s (formula "
              f"{m.mean_latency:.3f} s)")

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(latency), y=list(latency.values()), mode="lines",
                             name="T/2 + scheduling + processing"))
    fig.add_trace(go.Scatter(x=list(simulated), y=list(simulated.values()), mode="markers",
                             name="simulated"))
    fig.add_vrect(x0=0, x1=boundary, fillcolor="red", opacity=0.12, line_width=0,
                  annotation_text="unstable")
    fig.update_layout(title="Spark Streaming: record latency vs batch interval",
                      xaxis_title="batch interval T (s)", yaxis_title="mean latency (s)")
    save(fig, args.out, "spark_batch_interval")


if __name__ == "__main__":
    main()
