"""qmodel: queueing models of architectures, solved analytically, simulated, and checked
against a real running system.

>>> import qmodel
>>> model = qmodel.Model.from_dict({
...     "nodes": {"app": {"kind": "queue", "servers": 4, "service": "20ms"}},
...     "arrivals": {"web": {"to": "app", "rate": "140/s"}}})
>>> result = qmodel.solve(model)
>>> round(result.system.mean_response_time * 1000, 2), round(result.node("app").utilization, 3)
(27.14, 0.7)
"""

from .errors import ModelError, Problem, QModelError, UnstableError, UnsupportedError
from .results import Estimate, NodeResult, Result, SystemResult
from .solve import solve

_LAZY = {"Distribution": "qmodel.distributions", "Model": "qmodel.model.model",
         "load": "qmodel.model.model", "json_schema": "qmodel.model.spec",
         "simulate": "qmodel.sim", "compare": "qmodel.sim", "sweep": "qmodel.experiments",
         "sensitivity": "qmodel.experiments", "plan": "qmodel.experiments",
         "headroom": "qmodel.experiments"}


def __getattr__(name: str):
    """Load the model layer (pydantic, numpy), the simulator and the experiments only when
    first used: ``qmodel --help`` needs none of them."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qmodel' has no attribute {name!r}")


__all__ = [
    "Distribution",
    "Estimate",
    "Model",
    "ModelError",
    "NodeResult",
    "Problem",
    "QModelError",
    "Result",
    "SystemResult",
    "UnstableError",
    "UnsupportedError",
    "compare",
    "headroom",
    "json_schema",
    "load",
    "plan",
    "sensitivity",
    "simulate",
    "solve",
    "sweep",
]
