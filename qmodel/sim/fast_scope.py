"""What the numba fast path (:mod:`.fast`) can simulate, decided without loading numba:
:func:`qmodel.simulate` asks for every model, and a model the fast path does not take runs
on the simpy engine without numba's start-up cost.

>>> from qmodel.model.model import Model
>>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms",
...                                        "capacity": 5}},
...                      "arrivals": {"web": {"to": "app", "rate": "80/s"}}})
>>> unsupported(m.network)
'nodes.app: finite capacity needs the simpy engine'
"""

from __future__ import annotations

import math

from ..model.network import Network


def unsupported(network: Network) -> str | None:
    """Why the fast path cannot run ``network``, or None when it can."""
    if network.closed_classes:
        return "closed classes (users) need the simpy engine"
    if network.batch_classes:
        return "batch arrivals (batches) need the simpy engine"
    if network.profiles:
        return "a rate profile (a rate that changes over time) needs the simpy engine"
    if network.behaviours:
        return f"{', '.join(sorted(network.behaviours))} need the simpy engine"
    if any(c.interarrival is not None and c.interarrival.name == "mmpp2"
           for c in network.open_classes):
        return "MMPP-2 (bursty) arrivals need the simpy engine"
    for s in network.stations:
        where = f"nodes.{s.component}"
        if s.kind not in ("queue", "delay"):
            return f"{where}: kind {s.kind} needs the simpy engine"
        if math.isfinite(s.servers) and s.discipline != "fcfs":
            return f"{where}: discipline {s.discipline} needs the simpy engine"
        if s.capacity is not None:
            return f"{where}: finite capacity needs the simpy engine"
        if s.failures is not None:
            return f"{where}: failures need the simpy engine"
    for name, router in network.routers.items():
        if router.policy in ("round_robin", "jsq", "primary_secondary"):
            return f"nodes.{name}: {router.policy} routing needs the simpy engine"
        if router.rebalance:
            return f"nodes.{name}: rebalance needs the simpy engine"
    return None
