"""``qbd``: one FCFS queue with MMPP-2 arrivals (bursts: correlated gaps) and exponential
service, exactly, by the matrix-geometric method (:mod:`..map_queue`): the MMPP/M/c
queue as a quasi-birth-death process. Other models with MMPP-2 arrivals are refused with
the reason; ``qmodel simulate`` takes them."""

from __future__ import annotations

import math

from ...model.network import Network
from ...results import ClassResult, Estimate, NodeResult, Result, SystemResult
from ..map_queue import solve_map_mc
from ..protocol import Method, bursty_classes

METHOD_LABEL = "exact"


def supports(network: Network) -> str | None:
    """None for one FCFS queue with finite servers, no capacity, exponential service and
    one open class whose arrivals are an MMPP-2."""
    if not bursty_classes(network):
        return "the model has no MMPP-2 arrivals; use open"
    if len(network.stations) != 1 or len(network.classes) != 1:
        return "MMPP-2 arrivals are solved for one queue and one class; simulate"
    station, cls = network.stations[0], network.classes[0]
    if cls.profile is not None:
        return f"class {cls.name}: a rate profile is a transient; simulate"
    if network.routers or network.failures or network.routing[cls.name].any():
        return "MMPP-2 arrivals are solved for one queue without routing or failures; simulate"
    if station.kind != "queue" or math.isinf(station.servers):
        return f"{station.name}: MMPP-2 arrivals are solved for a queue with c servers; simulate"
    if station.capacity is not None or station.discipline != "fcfs" or station.mlfq is not None:
        return f"{station.name}: solved for an fcfs queue without a capacity; simulate"
    if not station.service[cls.name].is_exponential:
        return f"{station.name}: MMPP-2 arrivals are solved for an exponential service; simulate"
    return None


def solve(network: Network) -> Result:
    """The MMPP/M/c queue's stationary metrics, with exact response-time percentiles."""
    station, cls = network.stations[0], network.classes[0]
    d0, d1 = cls.interarrival.generators
    mu = 1.0 / station.service[cls.name].mean
    q = solve_map_mc(d0, d1, int(station.servers), mu, station.name)
    node = NodeResult(station.name, station.component, station.kind, station.servers,
                      METHOD_LABEL)
    values = {"visits": 1.0, "arrival_rate": q.rate, "throughput": q.rate,
              "utilization": q.utilization, "busy_servers": q.rate / mu,
              "mean_in_queue": q.mean_in_queue, "mean_in_system": q.mean_in_system,
              "mean_wait": q.mean_wait, "mean_response": q.mean_response,
              "p_wait": q.p_wait, "p_idle": q.p_idle, "p_loss": 0.0}
    for key, value in values.items():
        setattr(node, key, Estimate(value, METHOD_LABEL))
    node.offered_load = q.utilization
    node.quantile = q.response_quantile
    system = SystemResult(METHOD_LABEL, throughput=Estimate(q.rate, METHOD_LABEL),
                          mean_response_time=Estimate(q.mean_response, METHOD_LABEL),
                          mean_jobs=Estimate(q.mean_in_system, METHOD_LABEL),
                          loss_probability=Estimate(0.0, METHOD_LABEL),
                          bottleneck=station.name, saturation_rate=station.servers * mu,
                          quantile=q.response_quantile)
    classes = {cls.name: ClassResult(cls.name, "open", Estimate(q.rate, METHOD_LABEL),
                                     Estimate(q.mean_response, METHOD_LABEL),
                                     quantile=lambda p: Estimate(q.response_quantile(p),
                                                                 METHOD_LABEL))}
    note = (f"{station.name}: MMPP-2 arrivals (gaps' SCV {cls.interarrival.scv:.3g}, "
            "correlated), solved as a quasi-birth-death process (matrix-geometric)")
    return Result(network.name, "qbd", network.time_unit, {station.name: node}, system,
                  classes, notes=[note], components=network.components())


METHOD = Method("qbd", "one queue with MMPP-2 (bursty) arrivals: exact, matrix-geometric",
                rank=15, supports=supports, solve=solve, bursty=True)
