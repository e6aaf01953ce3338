"""What the simulator needs to know before it runs a model with client and held-thread
behaviours: the combinations it refuses, and hedging delays given as quantiles (``p95``)
turned into seconds by a short pilot run of the same model without hedging."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from ..errors import UnsupportedError
from ..model.behaviour_spec import QUANTILE, ClientFields
from ..model.network import Network

PILOT_CUSTOMERS = 4_000
"""Requests completed by the pilot run that estimates a hedging quantile."""
CANCELLABLE = ("fcfs", "priority")
"""Disciplines whose visits the engine can cancel (a delay is FCFS with infinite servers)."""


def check_simulable(network: Network) -> None:
    """Raise :class:`UnsupportedError` for a behaviour the engine cannot combine."""
    held = [s for s in network.stations if s.calls or s.pool or s.patience or s.balk]
    for s in held:
        if s.failures:
            raise UnsupportedError("simulation", f"nodes.{s.component}: failures of a "
                                                 "station with calls, a pool, patience or "
                                                 "balking are not simulated")
    if not _cancels(network):
        return
    for s in network.stations:
        if s.kind in ("fork", "join", "batcher") or s.discipline not in CANCELLABLE:
            what = s.kind if s.kind != "queue" else f"discipline {s.discipline}"
            raise UnsupportedError("simulation", f"nodes.{s.component}: a cancelled attempt "
                                                 f"(on_timeout: cancel, or hedge with cancel) "
                                                 f"cannot be withdrawn from a {what}; use "
                                                 "on_timeout: continue / hedge cancel: false")


def _clients(network: Network) -> list[ClientFields]:
    found = [c.client for c in network.classes if c.client is not None]
    return found + [call for s in network.stations for call in s.calls if call.is_client]


def _cancels(network: Network) -> bool:
    return any(c.on_timeout == "cancel" or (c.hedge is not None and c.hedge.cancel)
               for c in _clients(network))


def amplification(network: Network) -> float:
    """The most attempts one request of an open class can make (retries × copies)."""
    return float(max((c.client.most_attempts for c in network.open_classes
                      if c.client is not None), default=1))


def resolve_hedges(network: Network, pilot: Callable[[Network], object]
                   ) -> tuple[Network, list[str]]:
    """``network`` with every hedge ``after: pNN`` replaced by seconds, and the notes
    saying so. ``pilot(net)`` simulates ``net`` (the model without hedging) and returns
    its result: a class's hedge uses the class's response-time quantile, a call's hedge
    the callee's visit quantile."""
    if not any(isinstance(c.hedge.after, str) for c in _clients(network) if c.hedge):
        return network, []
    result = pilot(_without_hedges(network))
    notes = []

    def fixed(fields: ClientFields, quantile_of, where: str) -> ClientFields:
        after = fields.hedge.after if fields.hedge is not None else None
        if not isinstance(after, str):
            return fields
        q = float(QUANTILE.match(after).group(1)) / 100
        value = quantile_of(q)
        if value is None or not math.isfinite(value):
            raise UnsupportedError("simulation", f"{where}.hedge.after: {after} could not "
                                                 "be estimated (the model without hedging "
                                                 "is unstable)")
        notes.append(f"{where}.hedge.after: {after} = {float(value) * 1000:.4g} ms, from a "
                     f"pilot run without hedging ({PILOT_CUSTOMERS:,} requests)")
        return fields.model_copy(update={"hedge": fields.hedge.model_copy(
            update={"after": float(value)})})

    classes = tuple(dataclasses.replace(c, client=fixed(
        c.client, result.classes[c.name].percentile, f"arrivals.{c.name}"))
        if c.client is not None else c for c in network.classes)
    stations = tuple(dataclasses.replace(s, calls=tuple(
        fixed(call, result.node(call.to).percentile, f"nodes.{s.component}.calls.{i}")
        for i, call in enumerate(s.calls))) if s.calls else s for s in network.stations)
    return dataclasses.replace(network, classes=classes, stations=stations), notes


def _without_hedges(network: Network) -> Network:
    def plain(fields: ClientFields) -> ClientFields:
        return fields.model_copy(update={"hedge": None}) if fields.hedge else fields

    classes = tuple(dataclasses.replace(c, client=plain(c.client)) if c.client else c
                    for c in network.classes)
    stations = tuple(dataclasses.replace(s, calls=tuple(plain(c) for c in s.calls))
                     if s.calls else s for s in network.stations)
    return dataclasses.replace(network, classes=classes, stations=stations)
