"""A simulation over time: :func:`simulate_bins` runs replications from empty through a
model's rate profile and returns a :class:`TimeSeries` (metrics per bin with 95%
intervals, the peak queue and when, the recovery after a spike, a plotly figure)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ModelError, Problem
from ..model.model import Model
from ..model.network import Network
from .bins import binned, run_logged, summarise
from .streams import replication_seeds

if TYPE_CHECKING:  # plotly loads when a figure is drawn
    import plotly.graph_objects as go

MAX_BINS = 100_000
MAX_CTMC_STEPS = 40_000


@dataclass
class TimeSeries:
    """Metrics per time bin (``frame``: one row per bin, see :data:`.bins.METRICS`), with
    ``rate_per_s``, the offered rate averaged over the bin. ``peak`` is the bin with the
    largest mean number in system; ``recovery`` (None when the load does not come back
    to its starting rate) says when p95 was back within ``within`` of its value before
    the load changed. For a single M/M/c queue the frame also has labelled analytic
    columns (``psa_*``, ``fluid_in_system``, ``ctmc_in_system``; see
    :mod:`qmodel.solvers.transient`)."""

    frame: pd.DataFrame
    bin_s: float
    horizon_s: float
    replications: int
    seed: int
    peak: dict[str, float]
    recovery: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rows = self.frame.astype(object).where(self.frame.notna(), None).to_dict("records")
        return {"method": "simulation", "bin_s": self.bin_s, "horizon_s": self.horizon_s,
                "replications": self.replications, "seed": self.seed, "peak": self.peak,
                "recovery": self.recovery, "notes": self.notes, "series": rows}

    def write(self, path: str | Path) -> Path:
        """Write the series to ``.csv``, ``.parquet``, ``.json`` (with the summary) or
        ``.html`` (the figure)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            self.frame.to_csv(path, index=False)
        elif suffix == ".parquet":
            self.frame.to_parquet(path, index=False)
        elif suffix == ".json":
            path.write_text(json.dumps(self.to_dict(), indent=1))
        elif suffix == ".html":
            self.figure().write_html(path)
        else:
            raise ModelError([Problem("--out", "must end in .csv, .json, .parquet or .html, "
                                               f"got {str(path)!r}")])
        return path

    def figure(self) -> go.Figure:
        """Rate, number in system and response time (mean, p95) over time, with bands, and
        the analytic predictions (dashed) when the frame has them."""
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        f = self.frame
        x = (f["time_s"] + f["end_s"]) / 2
        fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                            subplot_titles=("arrivals (per s)", "jobs in system",
                                            "response time by completion (ms)"))
        fig.add_trace(go.Scatter(x=x, y=f["rate_per_s"], name="offered rate",
                                 line=dict(dash="dot")), 1, 1)
        for row, name, scale, label in ((1, "arrivals_per_s", 1, "arrivals"),
                                        (2, "in_system", 1, "in system"),
                                        (3, "mean_response_s", 1000, "mean"),
                                        (3, "p95_response_s", 1000, "p95")):
            _band(fig, x, f, name, scale, row)
            fig.add_trace(go.Scatter(x=x, y=f[name] * scale, name=label, mode="lines"), row, 1)
        if "attempts_per_s" in f:  # clients: attempts (retries, hedges) beside the goodput
            for name, label in (("attempts_per_s", "attempts"), ("throughput_per_s", "goodput")):
                fig.add_trace(go.Scatter(x=x, y=f[name], name=label, mode="lines"), 1, 1)
        for column, row, scale, label in (("ctmc_in_system", 2, 1, "exact (CTMC)"),
                                          ("fluid_in_system", 2, 1, "fluid"),
                                          ("psa_in_system", 2, 1, "PSA"),
                                          ("psa_p95_response_s", 3, 1000, "p95 (PSA)")):
            if column in f:
                fig.add_trace(go.Scatter(x=x, y=f[column] * scale, name=label, mode="lines",
                                         line=dict(dash="dash")), row, 1)
        fig.update_xaxes(title_text="time (s)", row=3, col=1)
        fig.update_layout(height=720, title=f"simulated over time ({self.replications} "
                                            f"replications, 95% bands)")
        return fig


def _band(fig: go.Figure, x: pd.Series, f: pd.DataFrame, name: str, scale: float,
          row: int) -> None:
    import plotly.graph_objects as go

    low, high = f[f"{name}_low"] * scale, f[f"{name}_high"] * scale
    fig.add_trace(go.Scatter(x=pd.concat([x, x[::-1]]), y=pd.concat([high, low[::-1]]),
                             fill="toself", line=dict(width=0), opacity=0.25,
                             showlegend=False, hoverinfo="skip"), row, 1)


def _check_size(network: Network, horizon: float) -> None:
    """Refuse a run over time that would take more than the largest event budget per
    replication (:data:`~.budget.MAX_EVENTS`; it has no budget of its own): the arrival
    candidates the thinning draws (each class at its profile's peak, else its rate) for
    the horizon, with a start and an end per visit."""
    from ..model.request_size import visits_per_request
    from .budget import MAX_EVENTS

    arrivals = sum((c.profile.peak if c.profile is not None else c.rate) * horizon
                   for c in network.open_classes)
    events = arrivals * (1 + 2 * visits_per_request(network))
    if not events <= MAX_EVENTS:
        raise ModelError([Problem("bins", f"a run over {horizon:g} s would take about "
                                          f"{events:.3g} events per replication, over "
                                          f"{MAX_EVENTS:,} (ten to thirty minutes): give a "
                                          "shorter horizon or lower rates")])


def bin_edges(bins: float, horizon: float) -> np.ndarray:
    """The boundaries of bins ``bins`` seconds wide from 0 to ``horizon`` (the last one
    cut at the horizon).

    >>> bin_edges(2.0, 5.0).tolist()
    [0.0, 2.0, 4.0, 5.0]
    """
    return np.minimum(np.arange(math.ceil(horizon / bins - 1e-9) + 1) * bins, horizon)


def simulate_bins(model: Model | Network, bins: float, *, horizon: float | None = None,
                  replications: int = 10, seed: int | None = None,
                  within: float = 0.1, progress: Callable[[float], None] | None = None
                  ) -> TimeSeries:
    """Simulate ``model`` from empty to ``horizon`` (default: the longest rate profile's
    length) and report metrics per bin of ``bins`` seconds (:func:`qmodel.simulate` with
    ``bins=`` checks the arguments and calls this). ``progress`` receives the fraction of
    replications done after each one.

    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
    ...     "arrivals": {"web": {"to": "app", "rate": {"profile": "spike", "base": "50/s",
    ...                  "peak": "150/s", "at": "10s", "duration": "5s"}}}})
    >>> ts = simulate_bins(m, 1.0, replications=3, seed=1)
    >>> len(ts.frame), ts.peak["time_s"] in range(10, 16), ts.recovery["recovered"]
    (30, True, True)
    """
    network = model.network if isinstance(model, Model) else model
    if horizon is None:
        if not network.profiles:
            raise ModelError([Problem("horizon", "is required: the model has no rate "
                                                 "profile to take its length from")])
        horizon = max(p.length for p in network.profiles.values())
    count = math.ceil(horizon / bins - 1e-9)
    if count > MAX_BINS:
        raise ModelError([Problem("bins", f"{count:,} bins of {bins:g} s in {horizon:g} s; "
                                          f"at most {MAX_BINS:,}: use wider bins")])
    _check_size(network, horizon)
    edges = bin_edges(bins, horizon)
    root, seqs = replication_seeds(seed, replications)
    runs = []
    for seq in seqs:
        runs.append(binned(run_logged(network, seq, horizon), edges))
        if progress is not None:
            progress(len(runs) / replications)
    frame = summarise(runs, edges)
    frame.insert(2, "rate_per_s", _offered(network, edges))
    notes = [f"{replications} replication(s) with the simpy engine from an empty system; "
             f"bins of {bins:g} s; response times by completion bin"]
    notes.append(_analytic(network, frame, edges))
    recovery = recovery_of(network, frame, within)
    if recovery is not None and not recovery["recovered"]:
        notes.append(f"p95 was not back within {within:.0%} of its steady value by the end "
                     "of the run")
    return TimeSeries(frame, bins, horizon, replications, root, _peak(frame), recovery, notes)


def _analytic(network: Network, frame: pd.DataFrame, edges: np.ndarray) -> str:
    """Add the labelled analytic predictions of a single M_t/M/c queue to ``frame``
    (:mod:`qmodel.solvers.transient`); returns the note that says what they are."""
    if network.behaviours:
        return ("no analytic columns: the transient M/M/c solutions do not model "
                f"{', '.join(sorted(network.behaviours))}")
    from ..solvers import transient  # scipy's ODE solver: only for a series

    queue = transient.single_queue(network)
    if isinstance(queue, str):
        return f"no analytic columns: {queue}"
    for name, values in transient.psa(queue, edges).items():
        frame[f"psa_{name}"] = values
    frame["fluid_in_system"] = transient.fluid(queue, edges)
    note = ("analytic columns: psa_* (pointwise stationary M/M/c, NaN in overload), "
            "fluid_in_system (fluid model)")
    if len(frame) * transient.POINTS > MAX_CTMC_STEPS:
        return note + f"; no ctmc_in_system: over {MAX_CTMC_STEPS // transient.POINTS:,} bins"
    frame["ctmc_in_system"], at_cap = transient.ctmc(queue, edges)
    return note + f", ctmc_in_system (exact transient; P(truncation) <= {at_cap:.1g})"


def _offered(network: Network, edges: np.ndarray, points: int = 64) -> np.ndarray:
    """The offered rate of all open classes, averaged over each bin (midpoint rule)."""
    fractions = (np.arange(points) + 0.5) / points
    t = edges[:-1, None] + fractions[None, :] * np.diff(edges)[:, None]
    total = np.zeros(t.shape)
    for c in network.open_classes:
        total += c.profile.rate_at(t) if c.profile is not None else c.rate
    return total.mean(axis=1)


def _peak(frame: pd.DataFrame) -> dict[str, float]:
    i = int(np.nanargmax(frame["in_system"].to_numpy()))
    row = frame.iloc[i]
    j = int(np.nanargmax(frame["p95_response_s"].fillna(-1).to_numpy()))
    return {"time_s": float(row["time_s"]), "in_system": float(row["in_system"]),
            "in_system_low": float(row["in_system_low"]),
            "in_system_high": float(row["in_system_high"]),
            "p95_time_s": float(frame["time_s"].iloc[j]),
            "p95_response_s": float(frame["p95_response_s"].iloc[j])}


def recovery_of(network: Network, frame: pd.DataFrame, within: float
                ) -> dict[str, Any] | None:
    """When the load comes back to its starting rate after changing: the reference p95
    (the median over the second half of the bins before the change, past the start from
    empty), and the first bin after the last change whose mean p95 is within ``within``
    of it."""
    profiles = list(network.profiles.values())
    if not profiles:
        return None
    first = min(p.changes[0] for p in profiles)
    last = max(p.changes[1] for p in profiles)
    offered = frame["rate_per_s"].to_numpy()
    if not math.isfinite(last) or last <= first or not np.isclose(offered[0], offered[-1]):
        return None
    before = frame[(frame["end_s"] <= first) & (frame["time_s"] >= first / 2)]
    steady = float(np.nanmedian(before["p95_response_s"])) if len(before) else math.nan
    if not math.isfinite(steady):
        return None
    after = frame[frame["time_s"] >= last]
    ok = after[after["p95_response_s"] <= steady * (1 + within)]
    out: dict[str, Any] = {"steady_p95_s": steady, "within": within, "load_back_s": last,
                           "recovered": bool(len(ok))}
    if len(ok):
        out["recovered_at_s"] = float(ok["end_s"].iloc[0])
        out["recovery_s"] = out["recovered_at_s"] - last
    return out
