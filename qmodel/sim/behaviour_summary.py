"""The results of client and held-thread behaviours, from a replication's extra counters
(:class:`.record.Layout`): per open class what its clients saw, per station abandonment
and balking, per pool its wait and utilisation; each the mean over replications with a
Student-t 95% interval."""

from __future__ import annotations

import math

from ..model.network import Network
from ..results import ClassResult, ClientResult, Estimate, NodeResult, PoolResult
from .record import Layout
from .stats import mean_ci


def _est(values: list[float]) -> Estimate | None:
    m, ci = mean_ci(values)
    return None if math.isnan(m) else Estimate(m, "simulation", ci)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def add_behaviours(network: Network, windows: list, layout: Layout,
                   nodes: dict[str, NodeResult], classes: dict[str, ClassResult]
                   ) -> dict[str, PoolResult]:
    """Fill ``client`` of each open class, ``p_abandon``/``p_balk`` of each station with
    patience or balking, its ``call_*`` metrics when its calls time out, retry or hedge;
    return the pools' results. ``windows`` have ``diff`` (the
    counter row over the measured window) and ``T`` (its length)."""
    for k, cls in enumerate(network.classes):
        if cls.kind != "open":
            continue

        def per_s(name: str, k: int = k) -> Estimate | None:
            return _est([w.diff[layout.client(k, name)] / w.T for w in windows])

        out = classes[cls.name]
        out.client = ClientResult(
            offered_rate=per_s("first"), attempt_rate=per_s("attempts"),
            goodput=out.throughput, timeout_rate=per_s("timeouts"),
            failure_rate=per_s("failures"), wasted_work=per_s("wasted"),
            retry_amplification=_est([_ratio(w.diff[layout.client(k, "attempts")],
                                             w.diff[layout.client(k, "first")])
                                      for w in windows]))
    for i, s in enumerate(network.stations):
        arrivals = [w.diff[layout.st(i, "arrivals")] for w in windows]
        node = nodes[s.name]
        if s.patience is not None:
            node.p_abandon = _est([_ratio(w.diff[layout.held(i, "reneged")], a)
                                   for w, a in zip(windows, arrivals)])
        if s.balk is not None:
            node.p_balk = _est([_ratio(w.diff[layout.held(i, "balked")], a)
                                for w, a in zip(windows, arrivals)])
        if any(call.is_client for call in s.calls):
            node.call_amplification = _est([_ratio(w.diff[layout.held(i, "call_attempts")],
                                                   w.diff[layout.held(i, "call_first")])
                                            for w in windows])
            node.call_timeout_rate = _est([w.diff[layout.held(i, "call_timeouts")] / w.T
                                           for w in windows])
            node.call_failure_rate = _est([w.diff[layout.held(i, "call_failures")] / w.T
                                           for w in windows])
    pools = {}
    for j, (name, size) in enumerate(network.pools.items()):
        got = [w.diff[layout.pool(j, "acquired")] for w in windows]
        pools[name] = PoolResult(
            name, size,
            mean_wait=_est([_ratio(w.diff[layout.pool(j, "sum_wait")], g)
                            for w, g in zip(windows, got)]),
            utilization=_est([w.diff[layout.pool(j, "area_used")] / w.T / size
                              for w in windows]),
            acquire_rate=_est([g / w.T for w, g in zip(windows, got)]))
    return pools
