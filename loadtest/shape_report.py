"""The report of ``qmodel validate --shape``: the verdict per criterion as a rich table,
JSON, and a plotly page (the simulation's series with its 95% bands, the measured series
drawn over them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from rich.console import Console
from rich.table import Table

from qmodel.sim.timeseries import TimeSeries

from .shape_compare import Criterion

SHAPE_SCHEMA = "qmodel.validation-shape/1"
MEASURES_REQUESTS = ("requests, as the clients saw them: from the intended send time to the "
                     "answer")


@dataclass
class ShapeReport:
    """A profile run against the reference system and its simulated prediction.

    ``measured`` has one row per bin (the simulation's columns, :mod:`loadtest.series`);
    ``predicted`` is the calibrated model simulated over the same bins; ``checks`` are the
    run's self-checks (per class and ``system``); ``measures`` says what a measured
    response time is (the requests, or with a broker the records end to end)."""

    model: str
    backend: str
    bin_s: float
    horizon_s: float
    calibration: dict[str, Any]
    checks: dict[str, dict[str, Any]]
    measured: pd.DataFrame
    predicted: TimeSeries
    criteria: list[Criterion]
    notes: list[str] = field(default_factory=list)
    measures: str = MEASURES_REQUESTS

    @property
    def valid(self) -> bool:
        return all(c["valid"] for c in self.checks.values())

    @property
    def passed(self) -> bool:
        """A valid run, and every applicable criterion met."""
        judged = [c for c in self.criteria if c.passed is not None]
        return self.valid and bool(judged) and all(c.passed for c in judged)

    def to_json(self) -> dict[str, Any]:
        series = self.measured.astype(object).where(self.measured.notna(), None)
        return {"schema": SHAPE_SCHEMA, "model": self.model, "backend": self.backend,
                "bin_s": self.bin_s, "horizon_s": self.horizon_s, "valid": self.valid,
                "passed": self.passed, "measures": self.measures,
                "criteria": [c.to_json() for c in self.criteria],
                "calibration": self.calibration, "checks": self.checks, "notes": self.notes,
                "measured": series.to_dict("records"), "predicted": self.predicted.to_dict()}

    def write_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1))

    def figure(self) -> go.Figure:
        """The simulation's figure (bands, dashed analytic lines where it has them) with
        the measured series over it."""
        fig = self.predicted.figure()
        f = self.measured
        x = (f["time_s"] + f["end_s"]) / 2
        for row, name, scale, label in ((1, "arrivals_per_s", 1, "measured arrivals"),
                                        (2, "in_system", 1, "measured in system"),
                                        (3, "mean_response_s", 1000, "measured mean"),
                                        (3, "p95_response_s", 1000, "measured p95")):
            fig.add_trace(go.Scatter(x=x, y=f[name] * scale, name=label,
                                     mode="lines+markers", line=dict(width=1)), row, 1)
        verdict = "PASS" if self.passed else "FAIL" if self.valid else "INVALID"
        fig.update_layout(title=f"{self.model}: measured over simulated "
                                f"({self.predicted.replications} replications, 95% bands)"
                                f" — {verdict}")
        return fig

    def write_html(self, path: Path) -> None:
        self.figure().write_html(path)

    def print(self, console: Console | None = None) -> None:
        console = console or Console()
        table = Table(title=f"{self.model}: predicted vs measured over time ({self.bin_s:g} s "
                            f"bins, {self.horizon_s:g} s)", title_justify="left")
        for column in ("criterion", "measured", "predicted", "single runs (95%)",
                       "tolerance", "verdict"):
            table.add_column(column, justify="left" if column == "criterion" else "right")
        for c in self.criteria:
            unit = 1000 if c.metric.endswith("_s") and c.metric != "recovery_s" else 1
            suffix = " ms" if unit == 1000 else " s" if c.metric == "recovery_s" else ""
            shown = [_number(v, unit, suffix) for v in (c.measured, c.predicted)]
            band = "—" if c.single_low is None else \
                f"{_number(c.single_low, unit, '')}–{_number(c.single_high, unit, suffix)}"
            tolerance = "—" if c.tolerance is None else \
                f"±{_number(c.tolerance, unit, suffix)} ({c.rule})"
            verdict = {True: "[green]PASS[/]", False: "[red]FAIL[/]", None: "n/a"}[c.passed]
            table.add_row(c.name, *shown, band, tolerance, verdict)
        console.print(table)
        console.print(f"- measured: {self.measures}")
        for name, check in self.checks.items():
            if not check["valid"]:
                console.print(f"[yellow]{name}: INVALID[/] " + "; ".join(check["problems"]))
        for note in self.notes:
            console.print(f"- {note}")
        verdict = "[green]PASSED[/]" if self.passed else "[red]FAILED[/]" if self.valid \
            else "[yellow]INVALID run[/]"
        console.print(f"shape validation {verdict}")


def _number(value: float | None, unit: float, suffix: str) -> str:
    return "—" if value is None else f"{value * unit:.3g}{suffix}"
