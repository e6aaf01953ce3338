"""Discrete-event simulation of any model: :func:`simulate`, and :func:`compare` to set a
simulation beside an analytic result.

Modules: :mod:`.api` (simulate), :mod:`.engine` (the simpy engine), :mod:`.stations`,
:mod:`.preemptive`, :mod:`.batcher`, :mod:`.forkjoin` (station behaviour),
:mod:`.routing`, :mod:`.failures`, :mod:`.fast` (numba fast path; :mod:`.fast_scope`, what
it takes), :mod:`.stats`, :mod:`.record`, :mod:`.summary` (statistics), :mod:`.trace`,
:mod:`.progress`, :mod:`.streams` (random numbers), :mod:`.compare`, :mod:`.arrivals`
(arrival gaps, rate profiles), :mod:`.bins` and :mod:`.timeseries` (metrics per time bin),
:mod:`.distribution` (response-time distributions per class, analytic beside simulated).
"""

from __future__ import annotations

from .api import DEFAULT_CUSTOMERS, simulate
from .compare import compare
from .summary import SimResult

__all__ = ["DEFAULT_CUSTOMERS", "SimResult", "TimeSeries", "compare", "simulate"]


def __getattr__(name: str):
    """Load :class:`.timeseries.TimeSeries` (pandas, the transient solvers) on first use:
    numba, pandas and plotly load only on the paths that use them."""
    if name == "TimeSeries":
        from .timeseries import TimeSeries

        return TimeSeries
    raise AttributeError(f"module 'qmodel.sim' has no attribute {name!r}")
