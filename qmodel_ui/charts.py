"""Plotly figures: the architecture graph, what-if curves and maps, tornado, comparisons.

The knee, the heat-map grid and the tornado bars come from
:mod:`qmodel.experiments.shapes`, the same numbers the CLI's figures draw."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import plotly.graph_objects as go

import qmodel
from qmodel.experiments.shapes import heat_grid, knee, tornado_bars

from .graph_edit import layers

MARKER = "#1565c0"  # the what-if point's line (the latency benchmark looks for it)
SCALE = [[0.0, "#2e7d32"], [0.6, "#f9a825"], [0.85, "#ef6c00"], [1.0, "#c62828"]]


def component_load(res: dict | None) -> dict[str, float]:
    """Per component, the offered utilization of its hottest station (shards, consumers)."""
    if res is None:
        return {}
    out: dict[str, float] = {}
    for node in res["nodes"].values():
        util = node.get("offered_load")
        if util is None and node.get("utilization"):
            util = node["utilization"]["value"]
        if util is not None:
            out[node["component"]] = max(out.get(node["component"], 0.0), util)
    return out


def architecture(model: qmodel.Model, res: dict | None, title: str | None = None) -> go.Figure:
    """Components left to right from where work enters, coloured and sized by utilization;
    the bottleneck is ringed and labelled."""
    graph = model.graph.copy()
    entries = {f"⇢ {name}": cls.to for name, cls in model.spec.arrivals.items()}
    entries.update({f"⇢ {name}": cls.to for name, cls in model.spec.users.items()})
    entries.update({f"⇢ {name}": cls.to for name, cls in model.spec.batches.items()})
    for source, targets in entries.items():
        graph.add_node(source, kind="source")
        for target, p in targets.items():
            graph.add_edge(source, target, p=p)
    pos = _layout(graph, list(entries))
    load = component_load(res)
    bottleneck = res["system"].get("bottleneck") if res else None
    bottleneck = next((s.component for s in model.network.stations if s.name == bottleneck),
                      bottleneck)
    fig = go.Figure()
    tops = []  # the feedback arcs' highest points
    for a, b, data in graph.edges(data=True):
        if pos[b][0] <= pos[a][0]:  # feedback: back to itself or to an earlier column
            tops.append(_feedback(fig, pos[a], pos[b], data.get("p", 1.0), a == b))
            continue
        (x0, y0), (x1, y1) = pos[a], pos[b]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.5,
                           arrowcolor="#888", standoff=22, startstandoff=18, text="")
        if data.get("p", 1.0) < 1.0:
            fig.add_annotation(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=f"p={data['p']:g}",
                               showarrow=False, font={"size": 11, "color": "#555"},
                               bgcolor="rgba(255,255,255,0.8)")
    names = [n for n in graph.nodes if graph.nodes[n]["kind"] != "source"]
    utils = [load.get(n) for n in names]
    fig.add_trace(go.Scatter(
        x=[pos[n][0] for n in names], y=[pos[n][1] for n in names], mode="markers+text",
        text=[f"<b>{n}</b><br>{graph.nodes[n]['kind']}" for n in names],
        textposition="bottom center",
        customdata=[[graph.nodes[n]["kind"], "—" if u is None else f"{u:.3f}"]
                    for n, u in zip(names, utils)],
        hovertemplate="%{text}<br>utilization %{customdata[1]}<extra></extra>",
        marker={"size": [22 + 38 * min(u or 0.0, 1.0) for u in utils],
                "color": [min(u or 0.0, 1.0) for u in utils], "cmin": 0, "cmax": 1,
                "colorscale": SCALE, "showscale": True,
                "colorbar": {"title": {"text": "utilization"}, "thickness": 12},
                "line": {"width": [5 if n == bottleneck else 1 for n in names],
                         "color": ["#b71c1c" if n == bottleneck else "#444" for n in names]}},
        name="components", showlegend=False))
    sources = list(entries)
    fig.add_trace(go.Scatter(
        x=[pos[s][0] for s in sources], y=[pos[s][1] for s in sources], mode="markers+text",
        text=sources, textposition="top center", hoverinfo="skip", showlegend=False,
        marker={"symbol": "triangle-right", "size": 16, "color": "#90a4ae"}))
    if bottleneck in pos:
        x, y = pos[bottleneck]
        fig.add_annotation(x=x, y=y, text="bottleneck", showarrow=True, arrowhead=0, ax=0,
                           ay=-48, font={"color": "#b71c1c", "size": 13})
    xs, ys = [x for x, _ in pos.values()], [y for _, y in pos.values()]
    width, height = max(xs) - min(xs) or 1.0, max(ys) - min(ys) or 1.0
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      # room for the labels under the lowest nodes, the loops above the top
                      xaxis={"visible": False, "range": [min(xs) - 0.12 * width,
                                                         max(xs) + 0.12 * width]},
                      yaxis={"visible": False, "range": [
                          min(ys) - 0.3 * height, max([max(ys) + 0.3 * height] +
                                                      [top + 0.08 for top in tops])]},
                      plot_bgcolor="white", title={"text": title or model.name, "x": 0.01})
    return fig


FEEDBACK = "#6a1b9a"
"""The colour of feedback routes (retries, loops back)."""


def _feedback(fig: go.Figure, start: tuple[float, float], end: tuple[float, float], p: float,
              loop: bool) -> float:
    """A route back (to the node itself, or to one in an earlier column) as a dashed arc
    above the nodes, an arrowhead at its end and its probability at the top; returns the
    arc's highest point."""
    (x0, y0), (x1, y1) = start, end
    lift = 0.18 + 0.12 * abs(x0 - x1)
    if loop:
        path = (f"M {x0 - 0.02},{y0 + 0.05} C {x0 - 0.09},{y0 + lift} {x0 + 0.09},{y0 + lift} "
                f"{x0 + 0.02},{y0 + 0.05}")
        top = (x0, y0 + 0.75 * lift)
    else:
        mid = (x0 + x1) / 2
        path = f"M {x0},{y0 + 0.05} Q {mid},{max(y0, y1) + 2 * lift} {x1},{y1 + 0.05}"
        top = (mid, max(y0, y1) + lift)
    fig.add_shape(type="path", path=path, line={"color": FEEDBACK, "dash": "dash", "width": 1.5})
    fig.add_annotation(x=x1 + (0.02 if loop else 0), y=y1 + 0.05, ax=0, ay=-14,
                       showarrow=True, arrowhead=3, arrowsize=1.2, arrowwidth=1.5,
                       arrowcolor=FEEDBACK, text="")
    fig.add_annotation(x=top[0], y=top[1], text=f"↺ p={p:g}", showarrow=False,
                       font={"size": 11, "color": FEEDBACK}, bgcolor="rgba(255,255,255,0.8)")
    return top[1]


def _layout(graph: nx.DiGraph, sources: list[str]) -> dict[str, tuple[float, float]]:
    """Columns by hop count from the entry points; components not reached go last."""
    for n, layer in layers(graph, sources).items():
        graph.nodes[n]["layer"] = layer
    pos = nx.multipartite_layout(graph, subset_key="layer", align="vertical")
    return {n: (float(x), float(y)) for n, (x, y) in pos.items()}


def curve(frame: pd.DataFrame, x: str, y: str, *, x_label: str, y_label: str,
          slo: float | None = None, marker: float | None = None) -> go.Figure:
    """``y`` against ``x`` with the SLO as a horizontal line, the knee and the current point
    (shapes written directly: ``add_hline``/``add_vline`` cost more than the whole rerun)."""
    shapes, notes = [], []
    at = knee(frame[x], frame[y])
    if slo is not None:
        shapes.append(_line("h", slo, "#c62828", "dash"))
        notes.append({"xref": "paper", "x": 0, "y": slo, "text": f"SLO {slo:g}",
                      "showarrow": False, "xanchor": "left", "yanchor": "bottom"})
    if at is not None:
        bend = float(frame[x].iloc[at])
        shapes.append(_line("v", bend, "#6a1b9a", "dot"))
        notes.append({"x": bend, "yref": "paper", "y": 1, "text": f"knee {bend:.4g}",
                      "showarrow": False, "xanchor": "left", "yanchor": "top"})
    if marker is not None:
        shapes.append(_line("v", marker, MARKER, "solid"))
    return go.Figure(go.Scatter(x=frame[x], y=frame[y], mode="lines+markers", name=y_label),
                     layout={"height": 380, "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
                             "xaxis": {"title": {"text": x_label}},
                             "yaxis": {"title": {"text": y_label}},
                             "shapes": shapes, "annotations": notes})


def _line(direction: str, at: float, colour: str, dash: str) -> dict:
    across = {"xref": "paper", "x0": 0, "x1": 1, "y0": at, "y1": at} if direction == "h" else \
        {"yref": "paper", "y0": 0, "y1": 1, "x0": at, "x1": at}
    return {"type": "line", "line": {"color": colour, "dash": dash, "width": 2}, **across}


def heatmap(frame: pd.DataFrame, x: str, y: str, z: str, *, x_label: str, y_label: str,
            z_label: str) -> go.Figure:
    """``z`` over the grid of ``x`` and ``y`` (a point missing or unstable: blank)."""
    table = heat_grid(frame, x, y, z)
    fig = go.Figure(go.Heatmap(x=table.columns, y=table.index, z=table.values,
                               colorscale="Viridis", colorbar={"title": {"text": z_label}}))
    fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      xaxis_title=x_label, yaxis_title=y_label)
    return fig


def utilization_bars(loads: dict[str, dict[str, float]]) -> go.Figure:
    """Per-component utilization, one bar group per scenario (``{label: {component: u}}``)."""
    fig = go.Figure([go.Bar(name=label, x=list(load), y=list(load.values()))
                     for label, load in loads.items()])
    fig.add_hline(y=1.0, line_dash="dash", line_color="#c62828")
    fig.update_layout(barmode="group", height=320, yaxis_title="utilization",
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def tornado(table: pd.DataFrame, scale: float, label: str, top: int | None = None
            ) -> go.Figure:
    """The metric at each parameter's lower and upper value, around the operating point
    (``table.attrs["base"]``); the ``top`` widest swings, the widest on top."""
    base = table.attrs["base"]
    rows = tornado_bars(table, top).iloc[::-1]  # plotly draws the first bar at the bottom
    fig = go.Figure()
    for side, column, colour in (("lower value", "metric_low", "#1565c0"),
                                 ("upper value", "metric_high", "#ef6c00")):
        fig.add_trace(go.Bar(y=rows["parameter"], x=(rows[column] - base) * scale,
                             base=base * scale, orientation="h", name=side,
                             marker_color=colour,
                             customdata=rows[["low", "high"]].to_numpy(),
                             hovertemplate="%{y}<br>" + label + " %{x:.4g}<extra></extra>"))
    fig.add_vline(x=base * scale, line_color="#333",
                  annotation_text=f"now {base * scale:.4g}", annotation_position="top")
    fig.update_layout(barmode="overlay", height=120 + 32 * len(rows), xaxis_title=label,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": -0.15})
    return fig


def fit_histogram(name: str, component: dict) -> go.Figure:
    """A calibrated component's exclusive times (``Calibration.data["components"][name]``):
    the histogram as a density per ms, the chosen distribution's density over it and, dotted,
    the other candidates'."""
    import numpy as np

    from qmodel.calibrate import fit

    hist, chosen = component["histogram"], component["fit"]
    edges = np.asarray(hist["edges_s"], float)
    counts = np.asarray(hist["counts"], float)
    width = edges[1] - edges[0] if len(edges) > 1 else 1.0
    total = max(counts.sum() + hist.get("above", 0), 1)
    fig = go.Figure(go.Bar(x=edges[:-1] * 1e3, y=counts / total / width / 1e3,
                           width=width * 1e3, offset=0, name="observed", opacity=0.55,
                           marker_color="#90a4ae"))
    grid = np.linspace(edges[0], edges[-1], 200) if len(edges) > 1 else np.array([])
    fits = [chosen] + [c for c in chosen.get("candidates", []) if c["dist"] != chosen["dist"]]
    for i, f in enumerate(fits):
        if f["dist"] in ("deterministic", "empirical") or not len(grid):
            continue
        label = f"{f['dist']} (chosen)" if i == 0 else f["dist"]
        fig.add_trace(go.Scatter(x=grid * 1e3, y=fit.pdf(f, grid) / 1e3, mode="lines",
                                 name=label, line={"width": 3 if i == 0 else 1.5,
                                                   "dash": "solid" if i == 0 else "dot"}))
    d = "" if chosen.get("distance") is None else f" — KS D {chosen['distance']:.3g}"
    cut = f"; {hist['above']} above {edges[-1] * 1e3:.3g} ms not shown" \
        if hist.get("above") else ""
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10}, bargap=0,
                      title={"text": f"{name}: exclusive time{d}{cut}", "x": 0.01},
                      xaxis_title="ms", yaxis_title="density per ms")
    return fig


def convergence(points: list[dict], time_unit: str, scale: float) -> go.Figure:
    """A simulation's system mean response as replications finish, each with its 95%
    interval (error bars, in ``time_unit``: seconds times ``scale``), and its throughput
    on a second axis: the estimate settling while the run goes on."""
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x = [p["replications"] for p in points]
    for key, name, unit, factor, second, colour in (
            ("mean_response_s", "mean response", time_unit, scale, False, "#1565c0"),
            ("throughput_per_s", "throughput", "/s", 1.0, True, "#ef6c00")):
        y = [None if p[key] is None else p[key] * factor for p in points]
        bands = [p[f"{key}_ci95"] for p in points]
        plus = [None if b is None or v is None else b[1] * factor - v for b, v in zip(bands, y)]
        minus = [None if b is None or v is None else v - b[0] * factor for b, v in zip(bands, y)]
        fig.add_trace(go.Scatter(x=x, y=y, name=f"{name} ({unit})", mode="lines+markers",
                                 error_y={"type": "data", "array": plus, "arrayminus": minus,
                                          "visible": True, "color": colour},
                                 line={"color": colour, "dash": "dot" if second else "solid"},
                                 marker={"color": colour}),
                      secondary_y=second)
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": "converging: 95% intervals after each replication",
                             "x": 0.01}, xaxis_title="replications done")
    fig.update_yaxes(title_text=f"mean response ({time_unit})", secondary_y=False)
    fig.update_yaxes(title_text="throughput (/s)", secondary_y=True)
    return fig
