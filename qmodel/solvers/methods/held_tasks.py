"""A network with synchronous calls (and pools) as the tasks of :mod:`..layered`.

Each station is a task: its servers are the threads, ``service`` and ``service_after``
its host demands (mean and SCV), its calls the mean number and variance per callee. A
pool is a task of ``size`` threads and no demand of its own:

- on a call (``calls: [{to: db, pool: conn}]``): the caller calls the pool, which calls
  the callee once, so a unit is held for the callee's wait and response;
- on a node (``pool: lock``): the station's threads call the pool once per visit, and
  the pool does the station's work (demands and calls), so a thread waits for a unit
  (holding the thread), then holds both for the work.

A pool maps so only when every caller of it reaches the same node: one callee for a
call pool, one node for a node pool (:func:`pools_reason` says why not otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...model.network import Network
from .. import layered


def pool_task(name: str) -> str:
    """The task name of pool ``name`` (a space: no station is named so)."""
    return f"pool {name}"


def pools_reason(network: Network) -> str | None:
    """None when each pool is held on calls to one callee, or on the visits of one node."""
    to: dict[str, set[str]] = {}
    for s in network.stations:
        if s.pool is not None:
            to.setdefault(s.pool, set()).add(f"the visits of {s.name}")
        for call in s.calls:
            if call.pool is not None:
                to.setdefault(call.pool, set()).add(f"calls to {call.to}")
    for name, uses in sorted(to.items()):
        if len(uses) > 1:
            return (f"pool {name} is held for {' and for '.join(sorted(uses))}: solved "
                    "when a pool guards one node; simulate")
    return None


@dataclass(frozen=True)
class Tasks:
    """The tasks, and for each pool the name of its task."""

    tasks: list[layered.Task]
    pools: dict[str, str]


def _calls(calls) -> tuple[dict[str, float], dict[str, float]]:
    """Mean and variance of the number of calls per target (a call entry: ``count``
    calls with a ``probability``); a call with a pool targets the pool's task."""
    mean: dict[str, float] = {}
    spread: dict[str, float] = {}
    for call in calls:
        to = call.to if call.pool is None else pool_task(call.pool)
        mean[to] = mean.get(to, 0.0) + call.mean_count
        spread[to] = (spread.get(to, 0.0)
                      + call.count**2 * call.probability * (1.0 - call.probability))
    return mean, spread


def tasks_of(network: Network) -> Tasks:
    """The layered tasks of ``network`` (open classes; calls and pools as above).

    >>> from qmodel import Model
    >>> net = Model.from_dict({"nodes": {
    ...     "app": {"kind": "queue", "servers": 8, "service": "2ms",
    ...             "calls": [{"to": "db", "pool": "conn"}]},
    ...     "db": {"kind": "queue", "servers": 4, "service": "5ms"}},
    ...     "pools": {"conn": {"size": 3}},
    ...     "arrivals": {"web": {"to": "app", "rate": "100/s"}}}).network
    >>> [(t.name, t.threads, dict(t.calls)) for t in tasks_of(net).tasks]
    [('pool conn', 3, {'db': 1.0}), ('app', 8, {'pool conn': 1.0}), ('db', 4, {})]
    """
    rates = {s.name: 0.0 for s in network.stations}
    for cls in network.open_classes:
        for i, share in enumerate(network.entry[cls.name]):
            rates[network.stations[i].name] += cls.rate * share
    tasks: list[layered.Task] = []
    pools: dict[str, str] = {}
    for s in network.stations:
        calls, spread = _calls(s.calls)
        for call in s.calls:
            if call.pool is not None and call.pool not in pools:
                pools[call.pool] = pool_task(call.pool)
                tasks.append(layered.Task(pools[call.pool], network.pools[call.pool], 0.0,
                                          calls={call.to: 1.0}))
        service = next(iter(s.service.values()))
        after = s.after
        work = dict(before=service.mean, after=after.mean if after is not None else 0.0,
                    calls=calls, before_scv=service.scv,
                    after_scv=after.scv if after is not None else 1.0,
                    calls_variance=spread)
        if s.pool is None:
            tasks.append(layered.Task(s.name, s.servers, arrivals=rates[s.name], **work))
        else:
            pools[s.pool] = pool_task(s.pool)
            tasks.append(layered.Task(s.name, s.servers, 0.0, calls={pools[s.pool]: 1.0},
                                      arrivals=rates[s.name]))
            tasks.append(layered.Task(pools[s.pool], network.pools[s.pool], **work))
    return Tasks(tasks, pools)
