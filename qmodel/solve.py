"""``qmodel.solve``: one entry point over the analytic solvers.

``method="auto"`` picks, per model: open networks → product form (exact) or QNA; closed
networks → exact MVA (approximate MVA for large populations); mixed → mixed MVA; small
Markovian models with finite buffers → CTMC; models with batches (a transient) →
"needs simulation" and a makespan lower bound. Every number says how it was obtained.
"""

from __future__ import annotations

from .errors import QModelError, UnsupportedError
from .model.model import Model
from .model.network import Network
from .results import Result
from .solvers import batches, closed_network
from .solvers.open_network import solve_open
from .solvers.open_result import open_result

METHODS = ("auto", "open", "mva", "amva", "ctmc")


def solve(model: Model | Network, method: str = "auto") -> Result:
    """Solve a model analytically.

    Parameters
    ----------
    model : Model or Network
    method : "auto" (default), "open" (product form / QNA), "mva" (exact MVA), "amva"
        (Bard–Schweitzer), or "ctmc" (explicit Markov chain, small Markovian models).

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"cpu": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"jobs": {"to": "cpu", "rate": "80/s"}}})
    >>> r = qmodel.solve(m)
    >>> round(r.system.mean_response_time, 6), r.system.mean_response_time.method
    (0.05, 'exact')
    """
    if method not in METHODS:
        raise QModelError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    network = model.network if isinstance(model, Model) else model
    if network.batch_classes:  # a transient: whatever the method, only a makespan bound
        return batches.solve(network)
    has_closed = bool(network.closed_classes)
    if method == "ctmc":
        from .solvers import ctmc_adapter  # scipy.stats: loaded only when needed

        return ctmc_adapter.solve(network)
    if method == "auto" and any(s.capacity is not None for s in network.stations):
        from .solvers import ctmc_adapter

        exact = ctmc_adapter.try_solve(network) if ctmc_adapter.preferred(network) else None
        if exact is not None:
            return exact
    if has_closed:
        if method == "open":
            raise UnsupportedError("open", "the model has closed classes; use mva or amva")
        return closed_network.solve(network, approximate=(method == "amva"))
    if method in ("mva", "amva"):
        raise UnsupportedError(method, "the model has only open classes; use open or auto")
    return open_result(solve_open(network))
