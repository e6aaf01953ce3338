"""What a calibration returns: the calibrated :class:`~qmodel.model.model.Model`, one
:class:`Estimate` per parameter (value, 95% interval, how it was obtained, the fitted
distribution where there is one), what was assumed and what looked wrong in the data.

Both ways in — traces (:mod:`qmodel.calibrate.traces`) and metrics
(:mod:`qmodel.calibrate.metrics`) — return a :class:`Calibration`; its estimates become the
model file's ``calibration:`` section (:mod:`qmodel.model.calibration`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..model.model import Model

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = "qmodel.calibration/1"


@dataclass
class Estimate:
    """One estimated parameter, in seconds, per second or plain units.

    ``path`` is the model's address-book path it sets (``nodes.api.service.mean``);
    ``low``/``high`` bound its 95% interval (None: not known); ``fit`` describes the
    distribution chosen for it, when there is one (name, parameters, goodness-of-fit
    distance, the candidates tried)."""

    path: str
    component: str
    quantity: str
    value: float
    unit: str
    low: float | None = None
    high: float | None = None
    method: str = ""
    n: int | None = None
    fit: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in asdict(self).items()}


@dataclass
class Calibration:
    """A calibrated model and the report of how it was calibrated."""

    model: Model
    estimates: list[Estimate]
    source: str
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # counts: traces, spans, intervals...

    def estimate(self, path: str) -> Estimate:
        """The estimate of one parameter by its path; KeyError when there is none."""
        for e in self.estimates:
            if e.path == path:
                return e
        raise KeyError(path)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "model": self.model.name, "source": self.source,
                "data": self.data, "estimates": [e.to_dict() for e in self.estimates],
                "assumptions": self.assumptions, "warnings": self.warnings}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def frame(self) -> pd.DataFrame:
        """One row per estimate (fits summarised by name and distance)."""
        import pandas as pd

        rows = []
        for e in self.estimates:
            row = {k: v for k, v in e.to_dict().items() if k != "fit"}
            row["distribution"] = (e.fit or {}).get("dist")
            row["fit_distance"] = (e.fit or {}).get("distance")
            rows.append(row)
        return pd.DataFrame(rows)


def section(estimates: list[Estimate], source: str, assumptions: list[str]) -> dict[str, Any]:
    """The model file's ``calibration:`` section for ``estimates`` (values with units).

    >>> section([Estimate("arrivals.web.rate", "web", "arrival rate", 120.0, "1/s",
    ...                   110.0, 130.0, "root spans per second", 1200)], "traces", [])
    {'source': 'traces', 'parameters': {'arrivals.web.rate': {'estimate': '120/s', \
'low': '110/s', 'high': '130/s', 'method': 'root spans per second', 'n': 1200}}, \
'assumptions': []}
    """
    parameters = {}
    for e in estimates:
        entry: dict[str, Any] = {"estimate": with_unit(e.value, e.unit)}
        if e.low is not None and e.high is not None:
            entry["low"] = with_unit(min(e.low, e.value), e.unit)
            entry["high"] = with_unit(max(e.high, e.value), e.unit)
        if e.method:
            entry["method"] = e.method
        if e.n is not None:
            entry["n"] = int(e.n)
        parameters[e.path] = entry
    return {"source": source, "parameters": parameters, "assumptions": list(assumptions)}


def with_unit(value: float, unit: str) -> str | float:
    """A value as a model file writes it: durations in ms (or s), rates per second.

    >>> with_unit(0.0123, "s"), with_unit(2.5, "s"), with_unit(120.0, "1/s"), with_unit(0.8, "")
    ('12.3ms', '2.5s', '120/s', 0.8)
    """
    if unit == "s":
        return f"{value * 1e3:.6g}ms" if abs(value) < 1 else f"{value:.6g}s"
    if unit == "1/s":
        return f"{value:.6g}/s"
    return float(f"{value:.6g}")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
