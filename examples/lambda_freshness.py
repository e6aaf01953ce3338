"""Lambda architecture: how fresh are the views, and what does the recompute period cost?

For topologies/lambda_architecture.yaml, an event is in the real-time views after the
speed layer (milliseconds) but in the batch views only after the next recompute starts
and ends: the micro-batch latency T/2 + scheduling + processing with T the recompute
period (qmodel.solvers.microbatch). Sweeps T; a recompute that takes longer than T
never catches up. Queries on the serving layer are not affected by either. The batch
path is checked by simulation at a shortened period. Sources: Marz & Warren, Big Data
(Manning 2015) ch. 1-2; Kreps, "Questioning the Lambda architecture" (2014).

    python examples/lambda_freshness.py [--quick] [--out DIR]
"""

from __future__ import annotations

import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save

import qmodel
from qmodel.sim import simulate
from qmodel.solvers import microbatch


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    model = qmodel.load(TOPOLOGIES / "lambda_architecture.yaml")
    rate = model.network.job_class("events").rate
    batch = model.network.station("batch").batch
    print(f"{rate:g} events/s; batch layer: a recompute takes {batch.fixed.mean / 60:g} min "
          f"+ {batch.per_item.mean * 1e3:g} ms per new event")
    periods_min = [15, 30, 60] if args.quick else [3, 5, 10, 15, 20, 30, 45, 60, 90, 120]
    print(f"{'recompute every':>16} {'utilization':>12} {'batch views lag':>16}")
    lags = []
    for minutes in periods_min:
        m = microbatch.batch_interval_metrics(rate, minutes * 60.0, batch.fixed, batch.per_item)
        lag = m.mean_latency / 60 if m.stable else None
        lags.append(lag)
        shown = f"{lag:>12.1f} min" if lag is not None else f"{'never catches up':>16}"
        print(f"{minutes:>12} min {m.utilization:>12.2f} {shown}")

    short = model.with_changes({"nodes.batch.interval": "10s",
                                "nodes.batch.fixed": {"dist": "gamma", "mean": "2s", "cv": 0.1}})
    m = microbatch.batch_interval_metrics(rate, 10.0, short.network.station("batch").batch.fixed,
                                          batch.per_item)
    sim = simulate(short, replications=2, customers=12_000 if args.quick else 240_000, seed=1)
    speed = sim.node("speed").mean_response
    print(f"simulated with a 10 s recompute of 2 s: batch views lag "
          f"{sim.node('batch').mean_response:.2f} s (formula {m.mean_latency:.2f} s), "
          f"speed layer {speed * 1e3:.2f} ms, queries {sim.node('serving').mean_response * 1e3:.2f} ms")

    fig = go.Figure([go.Scatter(x=periods_min, y=lags, mode="lines+markers",
                                name="batch views (min)")])
    fig.add_hline(y=speed / 60, line_dash="dash", annotation_text="speed layer")
    fig.update_layout(title="Lambda architecture: staleness of the batch views",
                      xaxis_title="recompute period (min)", yaxis_title="mean lag (min)")
    save(fig, args.out, "lambda_freshness")


if __name__ == "__main__":
    main()
