"""Kafka consumer-group scaling: how many consumers does a topic of p partitions need?

Solves topologies/kafka_stream.yaml (exact: every consumer is an M/M/1 queue fed by its
partitions) for consumer groups of g = 1 .. 2p with the range assignment, uniform keys
and with the file's hot partition. Consumers beyond p own no partition and change
nothing; g that does not divide p leaves some consumers with ceil(p/g) partitions, which
set the largest stable rate (p / ceil(p/g) consumers' worth); a hot key sets the tail.
Sources: Apache Kafka documentation (consumer groups, RangeAssignor); Kleppmann,
Designing Data-Intensive Applications (2017) ch. 11.

    python examples/kafka_consumer_scaling.py [--quick] [--out DIR]
"""

from __future__ import annotations

import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save

import qmodel


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    topic = qmodel.load(TOPOLOGIES / "kafka_stream.yaml")
    p = len(topic.network.routers["topic"].partition_weights)
    groups = list(range(1, p + 3 if args.quick else 2 * p + 1))
    rows = []
    print(f"topic of p={p} partitions, {topic.network.classes[0].rate:g} records/s")
    print(f"{'g':>3} {'max partitions':>15} {'saturation /s':>14} {'uniform p99 ms':>15} "
          f"{'hot-key p99 ms':>15}")
    for g in groups:
        uniform = topic.with_changes({"nodes.topic.consumers": g,
                                      "nodes.topic.partition_weights": None})
        skewed = topic.with_changes({"nodes.topic.consumers": g})
        u, s = qmodel.solve(uniform), qmodel.solve(skewed)
        p99 = [r.system.p99_response_time * 1e3 if r.stable else None for r in (u, s)]
        rows.append((g, u.system.saturation_rate, *p99))
        shown = [f"{x:>15.2f}" if x is not None else f"{'unstable':>15}" for x in p99]
        print(f"{g:>3} {-(-p // g):>15} {u.system.saturation_rate:>14.0f} {' '.join(shown)}")
    best = min(g for g, rate, *_ in rows if rate == max(r[1] for r in rows))
    print(f"fewest consumers for the most throughput: g = {best} (= p); more do nothing")

    hot = qmodel.solve(topic)
    print(f"hot key at g=4: consumer 0 (partitions 0-1, 44% of records) p99 "
          f"{hot.node('topic-0').p99_response * 1e3:.2f} ms, consumer 2 p99 "
          f"{hot.node('topic-2').p99_response * 1e3:.2f} ms, system p99 "
          f"{hot.system.p99_response_time * 1e3:.2f} ms")

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=groups, y=[r[1] for r in rows], name="largest stable rate (/s)",
                             mode="lines+markers"))
    fig.add_trace(go.Scatter(x=groups, y=[r[2] for r in rows], name="p99 ms, uniform keys",
                             mode="lines+markers", yaxis="y2"))
    fig.add_trace(go.Scatter(x=groups, y=[r[3] for r in rows], name="p99 ms, hot key",
                             mode="lines+markers", yaxis="y2"))
    fig.add_vline(x=p, line_dash="dash", annotation_text="g = p")
    fig.update_layout(title=f"Consumer-group scaling, p = {p} partitions",
                      xaxis_title="consumers in the group (g)",
                      yaxis_title="largest stable rate (records/s)",
                      yaxis2={"title": "p99 latency (ms)", "overlaying": "y", "side": "right"})
    save(fig, args.out, "kafka_consumer_scaling")


if __name__ == "__main__":
    main()
