"""``open``: open networks by product form (exact) or QNA, with fork-join and
micro-batch stations (:mod:`..open_network`, result by :mod:`..open_result`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...results import Result
from ..protocol import Method

if TYPE_CHECKING:
    from ...model.network import Network


def supports(network: Network) -> str | None:
    """None when every class is open and every queue's service time has a positive mean
    and a finite variance (the Pollaczek-Khinchine mean wait is infinite otherwise)."""
    if network.closed_classes:
        return "the model has closed classes; use mva or amva"
    for station in network.stations:
        if math.isinf(station.servers):
            continue  # a delay: its response is the service time, whatever its variance
        for cls, dist in station.service.items():
            if not dist.mean > 0:
                return f"{station.name}: class {cls} has a service time of 0; simulate it"
            if not math.isfinite(dist.scv):
                return (f"{station.name}: the service time of class {cls} has an infinite "
                        "variance (a pareto with alpha <= 2), so the mean wait is infinite; "
                        "simulate it")
    return None


def solve(network: Network) -> Result:
    """The traffic equations, then each station, then the end-to-end metrics."""
    from ..open_network import solve_open
    from ..open_result import open_result

    return open_result(solve_open(network))


METHOD = Method("open", "product form, exact, or QNA for open networks", rank=20,
                supports=supports, solve=solve)
