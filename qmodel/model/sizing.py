"""A sharded component's sizing from its batches, as BRKSS sizes a cluster (Pal & De,
IJEMR 9(1), 2019): ``m`` batch jobs reach ``c`` clusters of ``d`` shards (``clusters``),
so ``m / c`` per cluster and ``m / (c d)`` per shard (round robin or equal weights; with
unequal weights the most loaded shard's share), admitted into each shard ``ceil(share /
R)`` at a time (its ``capacity``, the threshold) in ``R`` rounds (``admission_rounds``).

The model states ``m`` (the batch sizes), ``c``, the shard count and ``R``; the
capacity and the push-migration groups (``rebalance.groups``, one per cluster) are
derived from them when the network is built (:func:`sized`), and :func:`sizing_notes`
reports every quantity with the results. Shares are per arrival of each batch class.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import Problem
from .spec import ShardsNode

if TYPE_CHECKING:
    from .network import Network



def check_clusters(path: str, node: ShardsNode, batches_reach: bool) -> Iterator[Problem]:
    """``clusters`` divides the shards and agrees with ``rebalance.groups``;
    ``admission_rounds`` replaces ``capacity``, needs ``on_full: block`` and batches
    that reach the node (``batches_reach``)."""
    if node.clusters is not None:
        if node.shards % node.clusters:
            yield Problem(f"{path}.clusters", f"must divide the {node.shards} shards into equal "
                                              f"clusters, got {node.clusters}")
        rebalance = node.rebalance
        if not isinstance(rebalance, float | None) and rebalance.groups is not None \
                and rebalance.groups != node.clusters:
            yield Problem(f"{path}.rebalance.groups", f"must equal clusters ({node.clusters}) "
                                                      f"when both are given, got {rebalance.groups}")
    if node.admission_rounds is not None:
        if node.capacity is not None:
            yield Problem(f"{path}.admission_rounds", "derives the capacity (share / rounds): "
                                                      "give capacity or admission_rounds, not both")
        elif node.on_full != "block":
            yield Problem(f"{path}.admission_rounds", "needs on_full: block (the rest of a "
                                                      "shard's share waits for its round)")
        elif not batches_reach:
            yield Problem(f"{path}.admission_rounds", "no batch reaches this component: "
                                                      "nothing to admit")


@dataclasses.dataclass(frozen=True)
class Sizing:
    """The sizing quantities of one sharded component, per arrival of its batches."""

    component: str
    jobs: float
    shards: int
    clusters: int
    cluster_share: float
    shard_share: float
    admitted: int | None
    rounds: int | None


def sizings(network: Network, spec_nodes: dict) -> list[Sizing]:
    """The :class:`Sizing` of each sharded component with ``clusters`` or
    ``admission_rounds`` that batches reach (the most loaded shard's share)."""
    out = []
    for name, node in spec_nodes.items():
        if not isinstance(node, ShardsNode) or (node.clusters or node.admission_rounds) is None:
            continue
        router = network.routers[name]
        share = max(_jobs(network, m) for m in router.members)
        jobs = sum(_jobs(network, m) for m in router.members)
        clusters = node.clusters or 1
        rounds = node.admission_rounds
        admitted = max(1, math.ceil(share / rounds - 1e-9)) if rounds and share > 0 else None
        out.append(Sizing(name, jobs, node.shards, clusters, jobs / clusters, share,
                          admitted, rounds))
    return out


def sized(network: Network, spec_nodes: dict) -> Network:
    """``network`` with its :class:`Sizing` list and each ``admission_rounds``
    component's capacity derived (the model check made sure batches reach it)."""
    found = sizings(network, spec_nodes)
    if not found:
        return network
    capacity = {s.component: s.admitted for s in found if s.admitted is not None}
    stations = tuple(dataclasses.replace(st, capacity=capacity[st.component])
                     if st.component in capacity else st for st in network.stations)
    return dataclasses.replace(network, stations=stations, sizing=tuple(found))


def sizing_notes(network: Network) -> list[str]:
    """One line per sized component.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"batches": {"b": {"to": "db", "size": 1200}}, "nodes": {"db": {
    ...     "kind": "shards", "shards": 6, "clusters": 2, "admission_rounds": 4,
    ...     "on_full": "block", "routing": "round_robin", "service": "1ms"}}})
    >>> sizing_notes(m.network)  # doctest: +NORMALIZE_WHITESPACE
    ['db: 1,200 batch jobs over 2 clusters of 3 shards: 600 per cluster, 200 per shard,
      admitted 50 at a time in 4 rounds']
    """
    notes = []
    for s in network.sizing:
        line = (f"{s.component}: {s.jobs:,.0f} batch jobs over {s.clusters} clusters of "
                f"{s.shards // s.clusters} shards: {s.cluster_share:,.0f} per cluster, "
                f"{s.shard_share:,.0f} per shard")
        if s.admitted is not None:
            line += f", admitted {s.admitted:,} at a time in {s.rounds} rounds"
        notes.append(line)
    return notes


def _jobs(network: Network, station: str) -> float:
    """Batch jobs of one arrival of each batch class that visit ``station``."""
    i = network.index[station]
    return sum(c.size * float(network.visits(c.name)[i]) for c in network.batch_classes)
