"""A solution stored in a JMVA file side by side with what qmodel solves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..model.model import Model
from .report import StoredSolution

if TYPE_CHECKING:
    import pandas as pd

_OURS = {"Number of Customers": "mean_in_system", "Throughput": "throughput",
         "Utilization": "utilization"}


def compare_solution(model: Model, solution: StoredSolution) -> pd.DataFrame:
    """Per station and measure (summed over classes): the stored value, qmodel's
    (``qmodel.solve``) and their relative difference. A delay's utilization is, as JMT
    gives it, its mean number of busy servers.

    >>> from qmodel.io.jmva import read_jmva, EXAMPLE
    >>> from qmodel.io.xmlsafe import parse_xml
    >>> doc, _ = read_jmva(parse_xml(EXAMPLE), "ex")
    >>> stored = StoredSolution("MVA", {"cpu": {"c": {"Throughput": 20.0}}})
    >>> compare_solution(Model.from_dict(doc), stored)["qmodel"].round(6).tolist()
    [20.0]
    """
    import pandas as pd  # with the solvers: not for reading or writing a file

    from ..solve import solve

    result = solve(model)
    rows = []
    for station, per_class in solution.values.items():
        for measure, ours in _OURS.items():
            values = [v[measure] for v in per_class.values() if measure in v]
            if not values or station not in result.nodes:
                continue
            stored = sum(values)
            node = result.nodes[station]
            if measure == "Utilization" and node.servers == float("inf"):
                ours = "busy_servers"  # JMT's "utilization" of a delay: its mean jobs
            mine = float(getattr(node, ours) or 0.0)
            rel = abs(mine - stored) / abs(stored) if stored else abs(mine)
            rows.append({"station": station, "measure": measure, "stored": stored,
                         "qmodel": mine, "rel_diff": rel})
    return pd.DataFrame(rows, columns=["station", "measure", "stored", "qmodel", "rel_diff"])
