"""What-if experiments: sweeps, sensitivity, capacity planning and headroom, run in this
process, on a local process pool or on a Dask cluster.

>>> import qmodel
>>> from qmodel.experiments import sweep
>>> m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "20ms"}},
...                             "arrivals": {"web": {"to": "app", "rate": "10/s"}}})
>>> sweep(m, {"nodes.app.servers": "1..3"})["mean_response_time_s"].round(5).tolist()
[0.025, 0.0202, 0.02001]
"""

from __future__ import annotations

from .deadline import DeadlinePlan, plan_deadline
from .headroom import Headroom, headroom
from .planning import Plan, PlanError, plan
from .sensitivity import sensitivity
from .sweep import evaluate, sweep

__all__ = [
    "DeadlinePlan",
    "Headroom",
    "Plan",
    "PlanError",
    "evaluate",
    "headroom",
    "plan",
    "plan_deadline",
    "sensitivity",
    "sweep",
]
