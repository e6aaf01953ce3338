"""Discrete-event simulation of any model: :func:`simulate`, and :func:`compare` to set a
simulation beside an analytic result.

Modules: :mod:`.api` (simulate), :mod:`.engine` (the simpy engine), :mod:`.stations`,
:mod:`.preemptive`, :mod:`.batcher`, :mod:`.forkjoin` (station behaviour),
:mod:`.routing`, :mod:`.failures`, :mod:`.fast` (numba fast path), :mod:`.stats`,
:mod:`.record`, :mod:`.summary` (statistics), :mod:`.trace`, :mod:`.progress`,
:mod:`.streams` (random numbers), :mod:`.compare`, :mod:`.arrivals` (arrival gaps,
rate profiles), :mod:`.bins` and :mod:`.timeseries` (metrics per time bin),
:mod:`.distribution` (response-time distributions per class, analytic beside simulated).
"""

from __future__ import annotations

from .api import DEFAULT_CUSTOMERS, simulate
from .compare import compare
from .summary import SimResult
from .timeseries import TimeSeries

__all__ = ["DEFAULT_CUSTOMERS", "SimResult", "TimeSeries", "compare", "simulate"]
