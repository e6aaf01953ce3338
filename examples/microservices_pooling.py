"""Microservices: one shared pool or a queue per server, and what do retries cost?

Sweeps the request rate through topologies/microservices_gateway.yaml (the catalog
service as one pool of 8 servers, M/M/8) and microservices_per_server_queues.yaml (8
servers with a queue each: random dispatch = 8 x M/M/1, round robin, and, simulated,
primary/secondary overflow to the next server and join the shortest queue): the pool
always waits least and the gap grows with load; overflow to one idle neighbour halves
the random split's wait, JSQ comes close to the pool (Kleinrock 1976 vol. 2 §5.1;
Harchol-Balter 2013 ch. 14). Then the retry
probability q of database timeouts: every visit grows by 1/(1 - P(db) q) and the
largest stable rate shrinks by the same factor (Jackson's traffic equations).

    python examples/microservices_pooling.py [--quick] [--out DIR]
"""

from __future__ import annotations

import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save
from plotly.subplots import make_subplots

import qmodel
from qmodel.sim import simulate


def with_timeouts(model: qmodel.Model, q: float) -> qmodel.Model:
    """The model with database timeouts (and client retries) of probability ``q``."""
    if q > 0:
        return model.with_changes({"nodes.db.next": {"retry": q}})
    data = model.to_dict()
    del data["nodes"]["retry"]
    data["nodes"]["db"]["next"] = {}
    return qmodel.Model.from_dict(data, model.base_dir)


def simulated(split: qmodel.Model, rate: int, routing: str, customers: int) -> float:
    """The catalog's simulated mean response with dispatch ``routing`` at ``rate``/s."""
    model = split.with_changes({"arrivals.api.rate": f"{rate}/s",
                                "nodes.catalog.routing": routing})
    return simulate(model, replications=2, customers=customers,
                    seed=rate).node("catalog").mean_response


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    pooled = qmodel.load(TOPOLOGIES / "microservices_gateway.yaml")
    split = qmodel.load(TOPOLOGIES / "microservices_per_server_queues.yaml")
    rates = [400, 800] if args.quick else [200, 300, 400, 500, 600, 700, 800, 900, 1000]
    curves: dict[str, list[float]] = {"one pool (M/M/8)": [], "random (8 x M/M/1)": [],
                                      "round robin": [], "primary/secondary (sim)": [],
                                      "join shortest queue (sim)": []}
    print("catalog service mean response (ms) by dispatching, vs request rate")
    print(f"{'rate/s':>7} " + " ".join(f"{name:>26}" for name in curves))
    customers = 8_000 if args.quick else 100_000
    for rate in rates:
        at = {"arrivals.api.rate": f"{rate}/s"}
        values = [
            qmodel.solve(pooled.with_changes(at)).node("catalog").mean_response,
            qmodel.solve(split.with_changes(at)).node("catalog-0").mean_response,
            qmodel.solve(split.with_changes({**at, "nodes.catalog.routing": "round_robin"}))
            .node("catalog-0").mean_response,
            simulated(split, rate, "primary_secondary", customers),
            simulated(split, rate, "jsq", customers)]
        for name, value in zip(curves, values):
            curves[name].append(value * 1e3)
        print(f"{rate:>7} " + " ".join(f"{v * 1e3:>26.2f}" for v in values))

    qs = [0.0, 0.1, 0.3] if args.quick else [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    saturation = []
    print(f"{'timeout q':>10} {'gateway visits':>15} {'largest stable rate/s':>22}")
    for q in qs:
        r = qmodel.solve(with_timeouts(pooled, q))
        saturation.append(r.system.saturation_rate)
        print(f"{q:>10.2f} {r.node('gateway').visits:>15.4f} {r.system.saturation_rate:>22.1f}")

    fig = make_subplots(rows=1, cols=2, subplot_titles=("catalog: pool vs per-server queues",
                                                        "retries: largest stable rate"))
    for name, values in curves.items():
        fig.add_trace(go.Scatter(x=rates, y=values, mode="lines+markers", name=name), 1, 1)
    fig.add_trace(go.Scatter(x=qs, y=saturation, mode="lines+markers",
                             name="saturation rate"), 1, 2)
    fig.update_xaxes(title_text="requests/s", row=1, col=1)
    fig.update_xaxes(title_text="timeout probability q", row=1, col=2)
    fig.update_yaxes(title_text="mean response (ms)", row=1, col=1)
    fig.update_yaxes(title_text="requests/s", row=1, col=2)
    fig.update_layout(title="Microservices behind a gateway")
    save(fig, args.out, "microservices_pooling")


if __name__ == "__main__":
    main()
