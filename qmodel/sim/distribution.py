"""Response-time distributions per class: analytic and simulated cumulative distributions
(and the histograms they imply) side by side, read from each result's quantile function
on one grid of probabilities.

A simulated quantile is the mean over replications of each replication's quantile (of its
kept, evenly spread sample of response times), with a Student-t 95% interval; the curve of
these means is the replications' averaged quantile function. An analytic quantile comes
from the method's end-to-end distribution (a single M/M/c queue: the closed form; networks:
the phase-type walk of :mod:`qmodel.solvers.end_to_end`); a class whose method gives no
distribution has no analytic curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..results import Result

PERCENTILES = (0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)
"""The percentiles a table may ask for (p50 … p99.99); each is on :data:`PROBS`."""
PROBS = tuple(sorted({*np.round(np.arange(0.05, 0.951, 0.05), 2).tolist(), 0.01, 0.025,
                      0.975, *PERCENTILES}))
"""The probabilities a simulated curve is read at (a lookup in sorted samples)."""
ANALYTIC_PROBS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, *PERCENTILES)
"""The probabilities an analytic curve is read at: each is a root search on a phase-type
distribution (tens of ms for a network), so fewer."""
SYSTEM = "all classes"
COLUMNS = ["class", "source", "p", "time_s", "low_s", "high_s", "method"]
_COLOURS = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f")


def label(p: float) -> str:
    """A percentile's name.

    >>> [label(p) for p in (0.5, 0.95, 0.999, 0.9999)]
    ['p50', 'p95', 'p99.9', 'p99.99']
    """
    return f"p{p * 100:.10g}"


def response_cdf(results: Mapping[str, Result], probs: Sequence[float] | None = None
                 ) -> pd.DataFrame:
    """Per class and source (the keys of ``results``, e.g. ``analytic`` and
    ``simulated``): the response time (seconds) at each probability of ``probs`` (default:
    :data:`PROBS` for a simulation, :data:`ANALYTIC_PROBS` otherwise), with its 95%
    interval where the result has one, one row per point (:data:`COLUMNS`). With
    more than one class, the end-to-end distribution over all of them is the class
    :data:`SYSTEM`. A class without quantiles (unstable, or no distribution from its
    method) has no rows.

    >>> from qmodel import Model, solve
    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "0.5s"}},
    ...                      "arrivals": {"web": {"to": "app", "rate": "1/s"}}})
    >>> f = response_cdf({"analytic": solve(m)}, [0.5, 0.95])  # M/M/1: Exp(mu - lam = 1)
    >>> f[["class", "source", "p", "time_s"]].round(6).values.tolist()
    [['web', 'analytic', 0.5, 0.693147], ['web', 'analytic', 0.95, 2.995732]]
    """
    rows = []
    for source, result in results.items():
        owners = dict(result.classes)
        if len(owners) > 1:
            owners[SYSTEM] = result.system
        grid = probs or (PROBS if result.method == "simulation" else ANALYTIC_PROBS)
        for name, owner in owners.items():
            if owner.quantile is None:
                continue
            for p in grid:
                est = owner.percentile(float(p))
                if est is None or not np.isfinite(float(est)):
                    continue
                low, high = est.ci95 if est.ci95 else (np.nan, np.nan)
                rows.append([name, source, float(p), float(est), low, high, est.method])
    return pd.DataFrame(rows, columns=COLUMNS).astype({"low_s": float, "high_s": float})


def percentile_table(frame: pd.DataFrame, percentiles: Sequence[float] = PERCENTILES[:4] +
                     (0.999,), scale: float = 1.0) -> pd.DataFrame:
    """One row per class and percentile (``p95``), one column per source and, for a source
    with intervals, its 95% interval as ``low``–``high`` text; times times ``scale``
    (``1000``: ms). A percentile not on :data:`PROBS` raises ValueError.

    >>> f = pd.DataFrame([["web", "simulated", 0.95, 0.3, 0.28, 0.32, "simulation"],
    ...                   ["web", "analytic", 0.95, 0.25, None, None, "exact"]],
    ...                  columns=COLUMNS)
    >>> list(percentile_table(f, [0.95], 1000).to_dict("records")[0].values())
    ['web', 'p95', 300.0, '280 – 320', 250.0]
    """
    missing = [p for p in percentiles if not np.isclose(PROBS, p).any()]
    if missing:
        raise ValueError(f"percentiles must be among {', '.join(map(label, PERCENTILES))}; "
                         f"got {', '.join(map(label, missing))}")
    rows = []
    for name in dict.fromkeys(frame["class"]):
        for p in percentiles:
            row: dict[str, object] = {"class": name, "percentile": label(p)}
            at = frame[(frame["class"] == name) & np.isclose(frame["p"], p)]
            for source in dict.fromkeys(frame["source"]):
                hit = at[at["source"] == source]
                row[source] = float(hit["time_s"].iloc[0]) * scale if len(hit) else None
                if frame.loc[frame["source"] == source, "low_s"].notna().any():
                    low, high = (hit[c].iloc[0] * scale if len(hit) else np.nan
                                 for c in ("low_s", "high_s"))
                    row[f"{source} 95%"] = "—" if np.isnan(low) else \
                        f"{low:.4g} – {high:.4g}"
            rows.append(row)
    return pd.DataFrame(rows)


def cdf_figure(frame: pd.DataFrame, time_unit: str = "ms", scale: float = 1000.0,
               title: str = "response-time distribution") -> go.Figure:
    """The cumulative distribution per class: simulated solid with its 95% band (the
    interval of each quantile), analytic dashed over it, one colour per class; times in
    ``time_unit`` (seconds times ``scale``)."""
    fig = go.Figure()
    for k, name in enumerate(dict.fromkeys(frame["class"])):
        colour = _COLOURS[k % len(_COLOURS)]
        for source, part in frame[frame["class"] == name].groupby("source", sort=False):
            analytic = part["low_s"].isna().all()
            if not analytic:
                fig.add_trace(go.Scatter(
                    x=pd.concat([part["low_s"], part["high_s"][::-1]]) * scale,
                    y=pd.concat([part["p"], part["p"][::-1]]), fill="toself", opacity=0.2,
                    line={"width": 0, "color": colour}, showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(
                x=part["time_s"] * scale, y=part["p"], name=f"{name} ({source})",
                mode="lines" if analytic else "lines+markers", marker={"size": 4},
                line={"color": colour, "dash": "dash" if analytic else "solid"},
                hovertemplate=f"%{{y:.4g}} of {name} within %{{x:.4g}} {time_unit}"
                              "<extra></extra>"))
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title={"text": title, "x": 0.01},
                      xaxis_title=f"response time ({time_unit})",
                      yaxis={"title": {"text": "P(response ≤ t)"}, "range": [0, 1.01]})
    return fig


def density_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The histogram of each class and source of a :func:`response_cdf` frame: between
    two consecutive quantiles ``t1 < t2`` (probabilities ``p1 < p2``) lies the mass
    ``p2 - p1``, so the bar over ``[t1, t2]`` has the density ``(p2 - p1) / (t2 - t1)``
    per second: bins of (nearly) equal probability, narrow where responses crowd. The
    tails beyond the first and last quantile are not drawn (their ``mass`` says how much
    is drawn). Columns: class, source, left_s, right_s, density_per_s, mass.

    >>> f = pd.DataFrame([["web", "analytic", p, t, None, None, "exact"]
    ...                   for p, t in ((0.1, 1.0), (0.5, 2.0), (0.9, 4.0))], columns=COLUMNS)
    >>> density_frame(f)[["left_s", "right_s", "density_per_s", "mass"]].values.tolist()
    [[1.0, 2.0, 0.4, 0.4], [2.0, 4.0, 0.2, 0.4]]
    """
    rows = []
    for (name, source), part in frame.groupby(["class", "source"], sort=False):
        part = part.sort_values("p")
        t, p = part["time_s"].to_numpy(float), part["p"].to_numpy(float)
        for t1, t2, p1, p2 in zip(t[:-1], t[1:], p[:-1], p[1:]):
            if t2 > t1:
                rows.append([name, source, t1, t2, (p2 - p1) / (t2 - t1), p2 - p1])
    return pd.DataFrame(rows, columns=["class", "source", "left_s", "right_s",
                                       "density_per_s", "mass"])


def histogram_figure(frame: pd.DataFrame, time_unit: str = "ms", scale: float = 1000.0,
                     title: str = "response-time histogram") -> go.Figure:
    """The :func:`density_frame` of a :func:`response_cdf` frame: simulated bars per class,
    the analytic density as a dashed step line over them, one colour per class; times in
    ``time_unit`` (seconds times ``scale``), density per ``time_unit``."""
    fig = go.Figure()
    bars = density_frame(frame)
    for k, name in enumerate(dict.fromkeys(frame["class"])):
        colour = _COLOURS[k % len(_COLOURS)]
        for source, part in bars[bars["class"] == name].groupby("source", sort=False):
            left, right = part["left_s"] * scale, part["right_s"] * scale
            density = part["density_per_s"] / scale
            analytic = frame.loc[(frame["class"] == name) & (frame["source"] == source),
                                 "low_s"].isna().all()
            label = f"{name} ({source})"
            hover = (f"%{{y:.4g}} of {name} per {time_unit} around %{{x:.4g}} {time_unit}"
                     "<extra></extra>")
            if analytic:
                x = np.column_stack([left, right]).ravel()
                y = np.repeat(density.to_numpy(), 2)
                fig.add_trace(go.Scatter(x=x, y=y, name=label, mode="lines",
                                         line={"color": colour, "dash": "dash"},
                                         hovertemplate=hover))
            else:
                fig.add_trace(go.Bar(x=(left + right) / 2, y=density, width=right - left,
                                     name=label, marker={"color": colour}, opacity=0.45,
                                     hovertemplate=hover))
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 40, "b": 10}, barmode="overlay",
                      title={"text": title, "x": 0.01},
                      xaxis_title=f"response time ({time_unit})",
                      yaxis_title=f"density (per {time_unit})")
    return fig
