"""How many visits one request sets off: on average, and at worst (every retry and hedged
copy sent, every call made), a fork's tasks each counted as a visit. The simulator sizes
its event budget from the first (:mod:`qmodel.sim.budget`) and refuses a model by the
second; ``qmodel check`` says so."""

from __future__ import annotations

import numpy as np

from ..errors import Problem
from .network import JobClass, Network

MAX_VISITS_PER_REQUEST = 1_000_000
"""The most visits one request may set off in the worst case (every retry and hedged copy
sent, every call made): tens of seconds of simulation for that one request alone."""


def _tasks(network: Network) -> np.ndarray:
    return np.array([s.tasks for s in network.stations], dtype=float)


def worst_visits(network: Network, cls: JobClass) -> float:
    """The most visits one request of ``cls`` can set off (:meth:`Network.visits` with
    ``most``, a fork's tasks each counted, times the class's own attempts).

    >>> from qmodel import Model
    >>> net = Model.from_dict({
    ...     "arrivals": {"web": {"to": "app", "rate": "1/s", "retries": {"max": 2}}},
    ...     "nodes": {"app": {"kind": "queue", "service": "1ms",
    ...                       "calls": [{"to": "db", "count": 5, "hedge": {"after": "5ms"}}]},
    ...               "db": {"kind": "queue", "service": "1ms"}}}).network
    >>> worst_visits(net, net.classes[0])  # 3 attempts x (1 + 5 calls x 2 copies)
    33.0
    """
    attempts = cls.client.most_attempts if cls.client is not None else 1
    return attempts * float(network.visits(cls.name, most=True) @ _tasks(network))


def request_size_problems(network: Network) -> list[Problem]:
    """The classes one of whose requests may set off more than
    :data:`MAX_VISITS_PER_REQUEST` visits, each a :class:`Problem` at its path."""
    problems = []
    for cls in network.classes:
        most = worst_visits(network, cls)
        if most > MAX_VISITS_PER_REQUEST:
            where = {"open": "arrivals", "closed": "users", "batch": "batches"}[cls.kind]
            problems.append(Problem(f"{where}.{cls.name}", (
                f"one request may set off {most:,.0f} visits (attempts x hedged copies x "
                f"calls x their attempts): too many to simulate in bounded time; at "
                f"most {MAX_VISITS_PER_REQUEST:,}: lower retries.max, hedge.copies or the "
                "calls' count")))
    return problems


def visits_per_request(network: Network) -> float:
    """The mean visits of one request (a fork's tasks each counted), over the model's
    classes the largest."""
    tasks = _tasks(network)
    return max(float(network.visits(c.name) @ tasks) for c in network.classes)
