"""The calibration report as one HTML file (plotly, embedded: it opens offline).

Per component: the estimate and its 95% interval, the histogram of exclusive times with
the fitted density over it, the goodness of fit (KS distance, AIC) of every candidate;
then the component graph with routing probabilities, the classes, the assumptions and
the warnings. Reads ``calibration.data`` as :mod:`qmodel.calibrate.traces` fills it.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from . import fit
from .result import Calibration, with_unit


def report_html(calibration: Calibration) -> str:
    import plotly.graph_objects as go

    data = calibration.data
    parts = [f"<h1>Calibration: {_e(calibration.model.name)}</h1>",
             f"<p>{_e(calibration.source)}</p>"]
    first = True

    def figure(fig: Any) -> str:
        nonlocal first
        out = fig.to_html(full_html=False, include_plotlyjs=first, default_height=360)
        first = False
        return out

    parts.append("<h2>Estimates</h2>" + _table(
        ["parameter", "estimate", "95% low", "95% high", "n", "method"],
        [[e.path, with_unit(e.value, e.unit),
          "" if e.low is None else with_unit(e.low, e.unit),
          "" if e.high is None else with_unit(e.high, e.unit), e.n or "", e.method]
         for e in calibration.estimates]))
    graph = _graph(go, data.get("edges", []), calibration)
    if graph is not None:
        parts.append("<h2>Components and routes</h2>" + figure(graph))
    for name, comp in data.get("components", {}).items():
        f = comp["fit"]
        parts.append(f"<h2>{_e(name)}</h2><p>{_e(comp['label'])}: {comp['visits']:,} visits; "
                     f"mean exclusive time {with_unit(comp['mean_s'], 's')} (95% "
                     f"{with_unit(max(comp['low_s'], 0), 's')} .. {with_unit(comp['high_s'], 's')}"
                     f", Student t); inclusive {with_unit(comp['inclusive_mean_s'], 's')}; "
                     f"{comp['servers']} servers ({'given' if comp['servers_given'] else 'from concurrency'}"
                     f", at most {comp['max_working']} working and {comp['max_held']} spans open "
                     f"at once); utilization {comp['utilization']:.3g}.</p>"
                     f"<p>Chosen: <b>{_e(f['dist'])}</b> — {_e(f['reason'])}</p>")
        hist = comp["histogram"]
        edges = np.array(hist["edges_s"])
        counts = np.array(hist["counts"], float)
        width = edges[1] - edges[0] if len(edges) > 1 else 1.0
        fig = go.Figure()
        total = max(counts.sum() + hist.get("above", 0), 1)
        fig.add_bar(x=edges[:-1] * 1e3, y=counts / total / width / 1e3,
                    width=width * 1e3, offset=0, name="observed", opacity=0.6)
        if f["dist"] not in ("deterministic", "empirical"):
            grid = np.linspace(edges[0], edges[-1], 200)
            fig.add_scatter(x=grid * 1e3, y=fit.pdf(f, grid) / 1e3, name=f"{f['dist']} fit")
        d = "" if f.get("distance") is None else f" (KS D={f['distance']:.3g})"
        cut = f"; {hist['above']} above {edges[-1] * 1e3:.3g} ms not shown" \
            if hist.get("above") else ""
        fig.update_layout(title=f"{name}: exclusive time{d}{cut}", xaxis_title="ms",
                          yaxis_title="density per ms", bargap=0)
        parts.append(figure(fig))
        if f.get("candidates"):
            parts.append(_table(["candidate", "mean", "cv", "AIC", "KS D", "KS p"],
                                [[c["dist"], with_unit(c["mean"], "s"), f"{c['cv']:.3g}",
                                  f"{c['aic']:.1f}", f"{c['ks']:.3g}", f"{c['ks_p']:.3g}"]
                                 for c in f["candidates"]]))
    classes = data.get("classes", {})
    if classes:
        parts.append("<h2>Classes</h2>" + _table(
            ["class", "root operation", "jobs", "rate", "inter-arrival cv", "visits per job"],
            [[k, c["root"], c["jobs"], with_unit(c["rate_per_s"], "1/s"),
              "" if c["interarrival_cv"] is None else f"{c['interarrival_cv']:.3g}",
              ", ".join(f"{n} {v['mean']:.3g}" for n, v in c["visits"].items())]
             for k, c in classes.items()]))
    parts.append("<h2>Assumptions</h2><ul>" + "".join(
        f"<li>{_e(a)}</li>" for a in calibration.assumptions) + "</ul>")
    parts.append("<h2>Warnings</h2><ul>" + ("".join(
        f"<li>{_e(w)}</li>" for w in calibration.warnings) or "<li>none</li>") + "</ul>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>qmodel calibration"
            "</title><style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
            "font-size:90%}</style></head><body>" + "\n".join(parts) + "</body></html>")


def write_html(calibration: Calibration, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(report_html(calibration), encoding="utf-8")
    return path


def _graph(go: Any, edges: list[dict], calibration: Calibration) -> Any:
    nodes = list(calibration.model.spec.nodes)
    if not nodes:
        return None
    entries = set()
    for a in calibration.model.spec.arrivals.values():
        entries |= set(a.to) if isinstance(a.to, dict) else {a.to}
    depth = {n: 0 for n in nodes if n in entries}
    frontier = list(depth)
    while frontier:
        n = frontier.pop(0)
        for e in edges:
            if e["from"] == n and e["to"] in nodes and e["to"] not in depth:
                depth[e["to"]] = depth[n] + 1
                frontier.append(e["to"])
    rows: dict[int, int] = {}
    pos = {}
    for n in nodes:
        d = depth.get(n, max(depth.values(), default=0) + 1)
        pos[n] = (d, rows.get(d, 0))
        rows[d] = rows.get(d, 0) + 1
    fig = go.Figure()
    labels: dict[str, list] = {"x": [], "y": [], "text": []}
    for e in edges:
        if e["from"] in pos and e["to"] in pos:
            (x0, y0), (x1, y1) = pos[e["from"]], pos[e["to"]]
            bend = 0.15 if e["from"] > e["to"] and x1 <= x0 else 0.0  # a way back: offset
            fig.add_annotation(x=x1, y=y1 + bend, ax=x0, ay=y0 + bend, xref="x", yref="y",
                               axref="x", ayref="y", showarrow=True, arrowhead=2,
                               standoff=14, startstandoff=14, text="")
            labels["x"].append((x0 + x1) / 2)
            labels["y"].append((y0 + y1) / 2 + bend)
            labels["text"].append(f"{e['p']:.3g}{' async' if e.get('async') else ''}")
    fig.add_scatter(**labels, mode="text", textposition="top center", showlegend=False)
    fig.add_scatter(x=[pos[n][0] for n in nodes], y=[pos[n][1] for n in nodes],
                    mode="markers+text", text=nodes, textposition="top center",
                    marker={"size": 22}, showlegend=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _table(head: list[str], rows: list[list[Any]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>" +
            "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
            + "</table>")


def _e(value: Any) -> str:
    return html.escape(str(value))
