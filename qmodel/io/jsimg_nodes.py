"""The stations, forks and joins of a JMT simulation model in qmodel terms (the node
readers of :mod:`qmodel.io.jsimg_read`, which passes itself as ``r``)."""

from __future__ import annotations

import math
from collections import Counter

from ..distributions import Distribution
from ..errors import QModelError
from .jsim_xml import find_param, number, per_class, read_service

PUT_TO_DISCIPLINE = {"TailStrategy": "fcfs", "LCFSPRStrategy": "lcfs-pr",
                     "TailStrategyPriority": "priority",
                     "FCFSPRStrategyPriority": "priority-preemptive",
                     "FCFSPRStrategy": "fcfs"}


NEAREST_PUT = {"HeadStrategy": ("lcfs-pr", "LCFS (non-preemptive) read as LCFS-PR"),
               "HeadStrategyPriority": ("priority", "LCFS with priorities read as priority"),
               "RandStrategy": ("fcfs", "random order read as FCFS (same mean queue length)")}


def class_services(r, name: str, section_name: str) -> dict[str, Distribution]:
    """The service distribution of each class at JMT node ``name``."""
    out = {}
    strategies = per_class(find_param(r.section(name, section_name), "ServiceStrategy"))
    for cls in r.classes:
        strategy = strategies.get(cls)
        if strategy is None:
            continue
        where = f"nodes.{r.names[name]}.class_service.{cls}"
        dist, note = read_service(strategy, where)
        if note:
            r.report.add(where, "approximated", note)
        if dist is not None:
            out[cls] = dist
    return out


def station(r, name: str, kind: str) -> dict:
    """A queue or delay node's fields: service (the most common one, the others per
    class), servers, discipline, capacity."""
    out: dict = {}
    server = next(s for s in ("Server", "PSServer", "PreemptiveServer", "Delay")
                  if r.section(name, s) is not None)
    services = class_services(r, name, server)
    if not services:
        raise QModelError(f"{r.source}: station {name!r} serves no class")
    visiting = [c for c in services if name in r.reach(c)] or list(services)
    common = Counter(_key(services[c]) for c in visiting).most_common(1)[0][0]
    default = next(services[c] for c in visiting if _key(services[c]) == common)
    out["service"] = default.to_spec()
    overrides = {c: services[c].to_spec() for c in visiting if _key(services[c]) != common}
    if overrides:
        out["class_service"] = overrides
    if kind == "delay":
        return out
    section = r.section(name, server)
    servers = number(find_param(section, "maxJobs").findtext("value")
                     if find_param(section, "maxJobs") is not None else "1",
                     f"nodes.{name}.servers")
    if servers < 0 or math.isinf(servers):
        out["servers"] = "inf"
    elif servers != 1:
        out["servers"] = int(servers)
    rule = discipline(r, name, server)
    if rule != "fcfs":
        out["discipline"] = rule
    out.update(capacity(r, name))
    return out


def discipline(r, name: str, server: str) -> str:
    if server == "PSServer":
        ps = per_class(find_param(r.section(name, server), "PSStrategy"))
        kinds = {s.get("classPath", "").rsplit(".", 1)[-1] for s in ps.values()}
        if kinds - {"EPSStrategy"}:
            r.report.add(f"node {name!r} discipline", "approximated",
                            f"{', '.join(sorted(kinds))} read as processor sharing")
        return "ps"
    puts = per_class(find_param(r.section(name, "Queue"), "QueuePutStrategy"))
    shorts = {s.get("classPath", "").rsplit(".", 1)[-1] for s in puts.values()} or \
        {"TailStrategy"}
    short = sorted(shorts)[0]
    if len(shorts) > 1:
        r.report.add(f"node {name!r} discipline", "approximated",
                        f"one discipline per class ({', '.join(sorted(shorts))}): "
                        f"{short} is used for all")
    if short in PUT_TO_DISCIPLINE:
        return PUT_TO_DISCIPLINE[short]
    discipline, note = NEAREST_PUT.get(short, ("fcfs", f"{short} read as FCFS"))
    r.report.add(f"node {name!r} discipline", "approximated", note)
    return discipline


def capacity(r, name: str) -> dict:
    queue = r.section(name, "Queue")
    size_param = find_param(queue, "size")
    size = number(size_param.findtext("value"), f"nodes.{name}.capacity") \
        if size_param is not None else -1
    if size < 0:
        return {}
    drops = {(s.findtext("value") or "drop").strip().lower()
             for s in per_class(find_param(queue, "dropStrategies")).values()} or {"drop"}
    out: dict = {"capacity": int(size)}
    if drops == {"drop"}:
        return out
    out["on_full"] = "block"
    if drops != {"waiting queue"}:
        r.report.add(f"node {name!r} drop strategy", "approximated",
                        f"{', '.join(sorted(drops))}: qmodel holds arrivals that find "
                        "the station full in order (on_full: block)")
    return out


def fork(r, name: str) -> dict:
    section = r.section(name, "Fork")
    per_link = find_param(section, "jobsPerLink")
    k = int(number(per_link.findtext("value"), f"nodes.{name}.jobsPerLink")) \
        if per_link is not None else 1
    targets = r.connections[name]
    strategy = find_param(section, "ForkStrategy")
    if strategy is not None:  # JMT 1.0 on: the strategy, not jobsPerLink, says it
        numbers = {(p.findtext("value") or "").strip() for p in strategy.iter("subParameter")
                   if p.get("name") == "numbers"}
        probs = {number(p.findtext("value"), f"nodes.{name}.fork")
                 for p in strategy.iter("subParameter") if p.get("name") == "probability"}
        if len(numbers) == 1 and probs <= {1.0} and next(iter(numbers)).isdigit():
            k = int(numbers.pop())
        else:
            k = 1
            r.report.add(f"node {name!r} fork strategy", "approximated",
                         "branch probabilities and random task counts are not read: "
                         "every branch gets one task")
    join = join_of(r, name)
    if k > 1 and len(targets) == 1 and r.kind[targets[0]] in ("queue", "delay") and \
            all(r.route(targets[0], c) == {join: 1.0} for c in r.classes):
        pool = targets[0]
        pool_station = station(r, pool, r.kind[pool])
        r.hidden.add(pool)
        r.report.add(f"node {name!r}", "mapped",
                        f"fork of {k} tasks run on {pool!r} ({pool_station.get('servers', 1)} "
                        "slots)")
        out = {"join": r.names[join], "tasks": k,
               "slots": pool_station.get("servers", "inf" if r.kind[pool] == "delay" else 1),
               "task_service": pool_station["service"]}
        if "class_service" in pool_station:
            out["class_task_service"] = pool_station["class_service"]
        return out
    if k != 1:
        raise QModelError(f"{r.source}: fork {name!r} sends {k} tasks down each of "
                          f"{len(targets)} links; qmodel forks one task per branch, or "
                          "n tasks onto one pool of slots")
    r.report.add(f"node {name!r}", "mapped", f"fork into {', '.join(targets)}")
    return {"join": r.names[join], "branches": [r.names[t] for t in targets]}


def join_of(r, fork: str) -> str:
    seen, todo = set(), list(r.connections[fork])
    while todo:
        n = todo.pop(0)
        if n in seen:
            continue
        seen.add(n)
        if r.kind[n] == "join":
            return n
        todo += r.connections[n]
    raise QModelError(f"{r.source}: fork {fork!r} reaches no join; qmodel forks "
                      "need one")


def join(r, name: str) -> dict:
    strategies = per_class(find_param(r.section(name, "Join"), "JoinStrategy"))
    required = set()
    for s in strategies.values():
        for p in s.iter("subParameter"):
            if p.get("name") == "numRequired":
                required.add(int(number(p.findtext("value"), f"nodes.{name}.quorum")))
    r.report.add(f"node {name!r}", "mapped", "join")
    quorum = max(required) if required else -1
    return {"quorum": quorum} if quorum > 0 else {}

# -- routers that are shards -------------------------------------------------------


def _key(dist: Distribution) -> str:
    return repr(dist.to_spec())
