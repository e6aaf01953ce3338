"""Printing and writing a simulation over time (``qmodel simulate --bins``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from ..sim.timeseries import TimeSeries
from .support import err, out

SHOW_BINS = 40


def show_series(series: TimeSeries, as_json: bool, path: Path | None) -> None:
    """Write the series to ``path`` (if given), then print it: JSON, or a table of at most
    :data:`SHOW_BINS` evenly spread bins with the peak and the recovery."""
    if path is not None:
        series.write(path)
        err.print(f"wrote {path}", highlight=False)
    if as_json:
        print(json.dumps(series.to_dict(), indent=1))
        return
    f = series.frame
    rows = sorted(set(np.linspace(0, len(f) - 1, min(len(f), SHOW_BINS)).round().astype(int)))
    table = Table(title=f"per {series.bin_s:g} s bin, {series.replications} replications "
                        "(± 95% half-width)")
    clients = "attempts_per_s" in f  # retries and hedges: attempts and give-ups per bin
    heads = ["t (s)", "offered/s", "arrivals/s", "done/s"]
    heads += ["attempts/s", "failed/s"] if clients else []
    for head in heads + ["in system", "mean", "p95"]:
        table.add_column(head, justify="right")
    for _, row in f.iloc[rows].iterrows():
        cells = [f"{row.time_s:g}", f"{row.rate_per_s:.4g}", f"{row.arrivals_per_s:.4g}",
                 f"{row.throughput_per_s:.4g}"]
        cells += [f"{row.attempts_per_s:.4g}", f"{row.failures_per_s:.4g}"] if clients else []
        table.add_row(*cells, _pm(row, "in_system", 1, ""),
                      _pm(row, "mean_response_s", 1000, "ms"),
                      _pm(row, "p95_response_s", 1000, "ms"))
    out.print(table)
    if len(rows) < len(f):
        out.print(f"{len(f) - len(rows)} bins not shown; write them all with --out series.csv")
    peak = series.peak
    out.print(f"peak: {peak['in_system']:.4g} jobs in system in the bin at {peak['time_s']:g} s; "
              f"p95 highest ({peak['p95_response_s'] * 1000:.4g}ms) at {peak['p95_time_s']:g} s")
    rec = series.recovery
    if rec is not None and rec["recovered"]:
        out.print(f"recovery: p95 within {rec['within']:.0%} of its steady "
                  f"{rec['steady_p95_s'] * 1000:.4g}ms {rec['recovery_s']:g} s after the load "
                  f"came back (at {rec['recovered_at_s']:g} s)")
    for note in series.notes:
        out.print(note, highlight=False, markup=False)


def _pm(row: Any, name: str, scale: float, unit: str) -> str:
    value, high = row[name] * scale, row[f"{name}_high"] * scale
    if np.isnan(value):
        return "-"
    half = f" ± {high - value:.2g}" if not np.isnan(high) else ""
    return f"{value:.4g}{unit}{half}"
