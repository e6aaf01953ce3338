"""``layered``: held threads, patience, balking, client timeouts with retries, and hedged
requests (issue 15), each by its analytic kernel:

- synchronous calls (held threads), in sequence, and pools: the method of layers
  (:mod:`..layered`, an approximation);
- one M/M/c queue with exponential patience and/or balking: the exact birth-death chain
  (:mod:`..erlang_a`);
- one queue whose clients time out and retry: the fixed point on the effective arrival
  rate (:mod:`..retry_fixed_point`), the healthy state reported, a note when a second,
  saturated state exists (metastable);
- one M/M/c queue whose clients hedge (copies not cancelled): order statistics and
  the copies' load (:mod:`..hedging`).

Pools held on calls to one callee or on the visits of one node are tasks of the layers
(:mod:`.held_tasks`). Anything else with these behaviours (a pool shared more widely,
parallel calls, timeouts on calls, several stations with timeouts, ...) is refused with
the reason; ``qmodel simulate`` takes it.
Each kernel is imported where it is used, when a network is solved (see
:mod:`..registry`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...errors import UnstableError
from ...results import ClassResult, Estimate, NodeResult, PoolResult, Result, SystemResult
from ..protocol import Method

if TYPE_CHECKING:
    from ...model.network import Network, Station

BEHAVIOURS = frozenset({"calls", "pools", "patience", "balking", "timeouts", "retries",
                        "hedging"})
LAYERED = "approximation(method of layers)"
FIXED_POINT = "approximation(retry fixed point)"
HEDGED = "approximation(independent copies)"


def supports(network: Network) -> str | None:
    """None when the network's behaviours are among those above, in the shapes above."""
    if network.closed_classes or network.batch_classes:
        return "the model has closed or batch classes; it takes open classes only"
    found = network.behaviours
    if not found:
        return ("the model has no held threads, timeouts, retries, hedging, patience or "
                "balking; use open")
    plain = _plain(network)
    if plain:
        return plain
    if found & {"calls", "pools"}:
        return _calls_reason(network)
    if len(network.stations) != 1 or len(network.classes) != 1:
        return ("patience, balking, timeouts and hedging are solved on one queue with one "
                "class; simulate")
    station, cls = network.stations[0], network.classes[0]
    if math.isinf(station.servers):
        return f"{station.name}: a delay has no queue to wait in; simulate"
    client = cls.client
    if client is not None and (station.patience is not None or station.balk is not None):
        return "timeouts, retries or hedging with patience or balking; simulate"
    if client is None:
        return _exponential(station) or (
            None if station.patience is None or station.patience.is_exponential else
            f"{station.name}: patience is solved when exponential (Erlang-A); simulate")
    if client.hedge is not None:
        if client.timeout is not None or client.retries is not None:
            return "hedging together with timeouts or retries; simulate"
        if client.hedge.cancel:
            return ("hedging is solved for copies that are not cancelled "
                    "(hedge: {cancel: false}); simulate")
        return _exponential(station)
    if client.timeout is None:
        return "retries without a timeout retry only rejections, and nothing rejects here"
    if client.on_timeout == "cancel":
        return _exponential(station)
    return None


def _plain(network: Network) -> str | None:
    """A reason when the network has what no kernel here models besides the behaviours."""
    for cls in network.classes:
        if cls.profile is not None:
            return f"class {cls.name}: a rate profile is a transient; simulate"
        if cls.interarrival is not None and not getattr(cls.interarrival, "is_exponential",
                                                        False):
            return f"class {cls.name}: arrivals are solved when Poisson; simulate"
        if network.routing[cls.name].any():
            return "jobs move on with next after a visit; only calls are modelled here"
    if network.routers or network.failures:
        return "shards, consumers or failures; simulate"
    for s in network.stations:
        if s.kind not in ("queue", "delay") or s.capacity is not None or \
                s.discipline != "fcfs" or s.mlfq is not None:
            return f"{s.name}: solved for fcfs queues and delays without a capacity"
        means = {d.mean for d in s.service.values()}
        if len(means) > 1:
            return f"{s.name}: classes with different service times; simulate"
    return None


def _exponential(station: Station) -> str | None:
    if all(d.is_exponential for d in station.service.values()):
        return None
    return f"{station.name}: this behaviour is solved for an exponential service; simulate"


def _calls_reason(network: Network) -> str | None:
    if network.behaviours - {"calls", "pools"}:
        return ("calls or pools together with timeouts, retries, hedging, patience or "
                "balking; simulate")
    for s in network.stations:
        if s.calls and s.call_order != "sequence":
            return f"{s.name}: parallel calls; simulate"
    from . import held_tasks

    return held_tasks.pools_reason(network)


def solve(network: Network) -> Result:
    """Dispatch to the kernel of the network's behaviours."""
    if network.behaviours & {"calls", "pools"}:
        return _layered(network)
    cls = network.classes[0]
    if cls.client is None:
        return _abandonment(network)
    if cls.client.hedge is not None:
        return _hedged(network)
    return _retries(network)


def _node(station: Station, method: str, lam: float, x: float, busy: float, queue: float,
          wait: float, response: float, visits: float = 1.0) -> NodeResult:
    """A station's row: arrival rate ``lam``, throughput ``x``, busy servers, mean queue
    and times; mean in system by Little's law on the jobs served."""
    node = NodeResult(station.name, station.component, station.kind, station.servers, method)
    node.visits = Estimate(visits, method)
    for key, value in (("arrival_rate", lam), ("throughput", x), ("busy_servers", busy),
                       ("mean_in_queue", queue), ("mean_wait", wait),
                       ("mean_response", response), ("mean_in_system", x * response),
                       ("p_loss", 1.0 - x / lam if lam > 0 else 0.0)):
        setattr(node, key, Estimate(value, method))
    if not math.isinf(station.servers):
        node.utilization = Estimate(busy / station.servers, method)
        node.offered_load = busy / station.servers
    return node


def _system(network: Network, method: str, x: float, response: float, offered: float,
            nodes: dict[str, NodeResult], notes: list[str], per_class=None) -> Result:
    system = SystemResult(method=method)
    system.throughput = Estimate(x, method)
    system.mean_response_time = Estimate(response, method)
    system.mean_jobs = Estimate(x * response, method)
    system.loss_probability = Estimate(max(0.0, 1.0 - x / offered), method)
    classes = {}
    for cls in network.classes:
        cx, cr = per_class[cls.name] if per_class else (x, response)
        classes[cls.name] = ClassResult(cls.name, "open", Estimate(cx, method),
                                        Estimate(cr, method))
    return Result(network.name, method, network.time_unit, nodes, system, classes,
                  notes=notes, components=network.components())


# -- held threads ---------------------------------------------------------------------


def _layered(network: Network) -> Result:
    from .. import layered
    from . import held_tasks

    mapped = held_tasks.tasks_of(network)
    solved = layered.solve_layered(mapped.tasks)
    offered = sum(c.rate for c in network.open_classes)
    nodes = {}
    for s in network.stations:
        r = solved[s.name]
        nodes[s.name] = _node(s, LAYERED, r.throughput, r.throughput, r.busy_threads,
                              r.throughput * r.wait, r.wait, r.response,
                              r.throughput / offered)
        nodes[s.name].note = "per visit: wait for a thread, then service, calls, service after"
    per_class = {}
    for cls in network.open_classes:
        entry = network.entry[cls.name]
        response = sum(share * solved[network.stations[i].name].response
                       for i, share in enumerate(entry))
        per_class[cls.name] = (cls.rate, response)
    mean = sum(x * r for x, r in per_class.values()) / offered
    note = ("held threads: " + layered.METHOD + "; each call's response includes the "
            "callee's wait for a thread")
    result = _system(network, LAYERED, offered, mean, offered, nodes, [note], per_class)
    for name, task in mapped.pools.items():
        r = solved[task]
        result.pools[name] = PoolResult(name, network.pools[name], Estimate(r.wait, LAYERED),
                                        Estimate(r.utilization, LAYERED),
                                        Estimate(r.throughput, LAYERED))
    return result


# -- patience and balking ---------------------------------------------------------------


def _abandonment(network: Network) -> Result:
    from .. import erlang_a

    station, cls = network.stations[0], network.classes[0]
    mu = 1.0 / station.service[cls.name].mean
    theta = 0.0 if station.patience is None else 1.0 / station.patience.mean
    balk = station.balk
    join = None
    if balk is not None:
        size = (balk.above + 1) if balk.above is not None else len(balk.probabilities)
        join = [balk.joins(n) for n in range(size)]
    q = erlang_a.birth_death_queue(cls.rate, mu, int(station.servers), theta, join)
    x = q.throughput
    node = _node(station, "exact", cls.rate, x, q.mean_busy, x * q.mean_wait_served,
                 q.mean_wait_served, q.mean_response_served)
    node.p_wait = Estimate(q.p_wait, "exact")
    node.p_idle = Estimate(float(q.probs[0]), "exact")
    if station.patience is not None:
        node.p_abandon = Estimate(q.p_abandon, "exact")
    if station.balk is not None:
        node.p_balk = Estimate(q.p_balk, "exact")
    # jobs present count every job, those that will abandon too (as the simulator counts
    # them); times are of the jobs served; balking and abandoning are not losses to a
    # full capacity (p_loss), they have their own fields and count in the system's loss
    node.mean_in_queue = Estimate(q.mean_queue, "exact")
    node.mean_in_system = Estimate(q.mean_queue + q.mean_busy, "exact")
    node.p_loss = Estimate(0.0, "exact")
    node.note = ("wait and response are of the jobs served; jobs in queue and in system "
                 "count every job present, those that will abandon too")
    notes = [f"{station.name}: {q.method}; of the arrivals {q.p_balk:.4g} balk and "
             f"{q.p_abandon:.4g} abandon; the mean wait of every joining job (served or "
             f"not) is {q.mean_wait:.6g} s, {q.mean_queue:.6g} jobs wait on average"]
    result = _system(network, "exact", x, q.mean_response_served, cls.rate,
                     {station.name: node}, notes)
    result.system.mean_jobs = Estimate(q.mean_queue + q.mean_busy, "exact")
    return result


# -- timeouts and retries ---------------------------------------------------------------


def _retries(network: Network) -> Result:
    from .. import erlang_a, retry_fixed_point
    from ..mmc import erlang_c_values

    station, cls = network.stations[0], network.classes[0]
    client = cls.client
    service = station.service[cls.name]
    c = int(station.servers)
    if client.on_timeout == "cancel":
        kernel = retry_fixed_point.CancelledTimeouts(c, service.mean)
    elif service.is_exponential:
        kernel = retry_fixed_point.MMcTimeouts(c, service.mean)
    else:
        kernel = retry_fixed_point.MGcTimeouts(c, service.mean, service.scv)
    retries = client.retries
    # retries that follow only rejections never happen here: nothing rejects
    m = 0 if retries is None or "timeout" not in retries.when else retries.max
    budget = None
    if retries is not None and retries.budget is not None:
        budget = retries.budget.ratio + (retries.budget.min or 0.0) / cls.rate
    policy = retry_fixed_point.RetryPolicy(client.timeout, m, budget,
                                           _mean_backoff(retries) if m else ())
    stable = retry_fixed_point.stable_points(cls.rate, kernel, policy)
    healthy = stable[0]
    method = FIXED_POINT if not isinstance(kernel, retry_fixed_point.MMcTimeouts) or m else \
        "exact"
    if healthy.state == "saturated":
        raise UnstableError(healthy.rho, station.name, "retries keep it saturated: every "
                            "attempt times out")
    lam, p = healthy.lam_eff, healthy.p_timeout
    if client.on_timeout == "cancel":
        q = erlang_a.erlang_a(lam, 1.0 / service.mean, c, 1.0 / client.timeout)
        node = _node(station, method, lam, q.throughput, q.mean_busy,
                     q.throughput * q.mean_wait_served, q.mean_wait_served,
                     q.mean_response_served)
    else:
        a = lam * service.mean
        p_wait = float(erlang_c_values(c, a))
        wait = p_wait * service.mean / (c - a) * (1.0 + service.scv) / 2.0
        node = _node(station, method, lam, lam, a, lam * wait, wait, wait + service.mean)
        node.p_wait = Estimate(p_wait, method)
    node.note = "every attempt, retries included"
    goodput = healthy.goodput
    latency = retry_fixed_point.request_latency(healthy, policy)
    notes = [f"{station.name}: {kernel.method}; retries as a fixed point: "
             f"{lam:.6g} attempts/s for {cls.rate:.6g} requests/s (amplification "
             f"{healthy.amplification:.4g}), P(timeout) {p:.4g}, goodput {goodput:.6g}/s; "
             "back-off and jitter change how fast the states are reached, not the states"]
    if len(stable) > 1:
        bad = stable[-1]
        notes.append(f"METASTABLE: a second stable state exists at this load, "
                     f"{bad.lam_eff:.6g} attempts/s with P(timeout) {bad.p_timeout:.4g} "
                     f"and goodput {bad.goodput:.6g}/s; a spike or a slow spell can push "
                     "the system there and it stays after the trigger is gone "
                     "(`qmodel metastability` draws the loop and what removes it)")
    return _system(network, method, goodput, latency, cls.rate, {station.name: node}, notes)


def _mean_backoff(retries) -> tuple[float, ...]:
    """The mean wait before each retry: ``min(cap, base factor^(k-1))``, halved by full
    jitter, three quarters of it with equal jitter."""
    backoff = retries.backoff
    if backoff is None:
        return (0.0,) * retries.max
    out = []
    for k in range(1, retries.max + 1):
        b = backoff.base * backoff.factor ** (k - 1)
        b = min(b, backoff.cap) if backoff.cap is not None else b
        out.append(b * {"none": 1.0, "full": 0.5, "equal": 0.75}[backoff.jitter])
    return tuple(out)


# -- hedging ------------------------------------------------------------------------------


def _hedged(network: Network) -> Result:
    from .. import hedging
    from ..mmc import erlang_c_values

    station, cls = network.stations[0], network.classes[0]
    service = station.service[cls.name]
    c = int(station.servers)
    loaded = hedging.hedge_mmc(cls.rate, c, service.mean, cls.client.hedge.after,
                               cls.client.hedge.copies)
    h, lam = loaded.hedge, loaded.lam_total
    a = lam * service.mean
    p_wait = float(erlang_c_values(c, a))
    wait = p_wait * service.mean / (c - a)
    node = _node(station, "exact", lam, lam, a, lam * wait, wait, wait + service.mean)
    node.p_wait = Estimate(p_wait, "exact")
    node.note = "every copy, hedged ones included"
    result = _system(network, HEDGED, cls.rate, h.mean, cls.rate, {station.name: node}, [
        f"{station.name}: {h.method}; copies every {h.delay:.6g} s (up to {h.copies}), "
        f"the first for {h.p_hedge:.4g} of the requests, add {h.extra_load:.4g} of the load (utilization "
        f"{loaded.utilization:.4g}); p99 {h.unhedged_quantiles((0.99,))[0.99]:.6g} s "
        f"unhedged, {h.quantiles((0.99,))[0.99]:.6g} s hedged"])
    if loaded.metastable:
        result.notes.append(
            f"METASTABLE: with every request sending its {h.copies} copies the station would "
            f"get {cls.rate * (1 + h.copies):.6g} attempts/s, at or above its capacity "
            f"{c / service.mean:.6g}/s: a spell of long queues (longer than the delay) can "
            "start a storm of copies that lasts")
    result.system.quantile = lambda q: Estimate(h.quantiles((q,))[q], HEDGED)
    result.classes[cls.name].quantile = result.system.percentile
    return result


METHOD = Method("layered", "held threads (method of layers), Erlang-A patience and balking, "
                "retries as a fixed point, hedging", rank=30, supports=supports, solve=solve,
                behaviours=BEHAVIOURS)
