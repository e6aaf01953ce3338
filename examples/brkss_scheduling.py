"""MLFQ vs FCFS vs PS on a BRKSS node, for its short/long transaction mix.

One node of topologies/brkss_warehouse.yaml under open Poisson arrivals: 90% short
transactions (1 ms) and 10% long ones (11 ms), at utilization 0.5-0.9. FCFS makes short
transactions wait behind long ones (M/G/1, Pollaczek-Khinchine: every class waits
lambda E[S^2] / (2 (1 - rho))); processor sharing slows each in proportion to its size
(M/G/1-PS: E[T | x] = x / (1 - rho), Kleinrock 1976 vol. 2 §4.4); the node's MLFQ lets
short transactions finish in the first quantum, ahead of long ones, close to
shortest-remaining-time (Harchol-Balter 2013 ch. 30-32). FCFS and PS are exact
formulas checked against the simulator; MLFQ is simulated.

    python examples/brkss_scheduling.py [--quick] [--out DIR]
"""

from __future__ import annotations

import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save

import qmodel
from qmodel.sim import simulate

DISCIPLINES = ("fcfs", "ps", "mlfq")


def node_model(utilization: float, discipline: str) -> qmodel.Model:
    """The BRKSS node's scheduler and transaction mix, one class per kind of transaction."""
    node = qmodel.load(TOPOLOGIES / "brkss_warehouse.yaml").to_dict()["nodes"]["nodes"]
    mix = node["service"]
    (p_short, p_long), (short, long) = mix["probs"], mix["means"]
    mean_ms = p_short * float(short.removesuffix("ms")) + p_long * float(long.removesuffix("ms"))
    rate = utilization / mean_ms * 1000                          # per second
    queue = {"kind": "queue", "discipline": discipline, "service": short,
             "class_service": {"long": long}}
    if discipline == "mlfq":
        queue["mlfq"] = node["mlfq"]
    return qmodel.Model.from_dict({
        "name": f"brkss-node-{discipline}", "time_unit": "ms",
        "arrivals": {"short": {"to": "node", "rate": f"{p_short * rate}/s"},
                     "long": {"to": "node", "rate": f"{p_long * rate}/s"}},
        "nodes": {"node": queue}})


def exact(utilization: float, discipline: str) -> dict[str, float]:
    """Mean response per class (s): Pollaczek-Khinchine for FCFS, x/(1-rho) for PS."""
    net = node_model(utilization, discipline).network
    node = net.station("node")
    lam = {c.name: c.rate for c in net.classes}
    second = sum(lam[k] * node.service[k].second_moment for k in lam)
    wait = second / (2 * (1 - utilization))
    if discipline == "fcfs":
        return {k: wait + node.service[k].mean for k in lam}
    return {k: node.service[k].mean / (1 - utilization) for k in lam}


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    loads = (0.7,) if args.quick else (0.5, 0.6, 0.7, 0.8, 0.9)
    customers = 20_000 if args.quick else 200_000
    print(f"{'rho':>4} {'discipline':>10} {'short ms':>9} {'long ms':>9} {'exact short':>12} "
          f"{'exact long':>11}")
    curves: dict[str, list[float]] = {d: [] for d in DISCIPLINES}
    for rho in loads:
        for discipline in DISCIPLINES:
            sim = simulate(node_model(rho, discipline), replications=3, customers=customers,
                           seed=1)
            got = {k: sim.classes[k].mean_response_time for k in ("short", "long")}
            ref = exact(rho, discipline) if discipline != "mlfq" else {}
            print(f"{rho:>4.1f} {discipline:>10} {got['short'] * 1e3:>9.3f} "
                  f"{got['long'] * 1e3:>9.3f} "
                  + (f"{ref['short'] * 1e3:>12.3f} {ref['long'] * 1e3:>11.3f}" if ref else
                     f"{'(simulated)':>12}"))
            curves[discipline].append(got["short"] * 1e3)
    fig = go.Figure([go.Scatter(x=list(loads), y=curves[d], mode="lines+markers",
                                name=d.upper()) for d in DISCIPLINES])
    fig.update_layout(title="BRKSS node: short-transaction response time by scheduler",
                      xaxis_title="node utilization", yaxis_title="mean response (ms)",
                      yaxis_type="log")
    save(fig, args.out, "brkss_scheduling")


if __name__ == "__main__":
    main()
