"""Checks across fields that a schema cannot express: references, routing, reachability,
fork/join pairing. Each problem names its field path and the fix."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ..errors import Problem, shown
from .batcher_check import check_window
from .behaviour_check import check_behaviours
from .consistency_check import check_consistency
from .profiles import RateProfile
from .requests import check_requests
from .sizing import check_clusters
from .spec import (
    BatchClass,
    BatcherNode,
    BrokerNode,
    ClosedClass,
    Failures,
    ForkNode,
    JoinNode,
    ModelSpec,
    OpenClass,
    QueueFields,
    Rebalance,
    ShardsNode,
    failure_blocks,
)


def check(spec: ModelSpec) -> list[Problem]:
    """Return every cross-field problem of a schema-valid model (empty when it is sound)."""
    problems = list(_classes(spec))
    problems += _references(spec)
    problems += _node_fields(spec)
    problems += check_behaviours(spec)
    problems += _expanded_names(spec)
    problems += _sizes(spec)
    problems += check_consistency(spec)
    if spec.requests is not None:
        problems += check_requests(spec.requests, class_names(spec), list(spec.nodes))
    if all(_broken_route(p) for p in problems):
        # routing is checked over the routes that exist: a route to a missing node (a
        # typo) hides no routing problem; anything else wrong makes routing moot
        problems += _forks(spec)
        problems += _routing(spec)
    if not problems:
        problems += _zero_time_cycles(spec)
    return problems


def _broken_route(problem: Problem) -> bool:
    return problem.message.startswith("no node named") and (
        problem.path.endswith((".next", ".to")) or ".class_next." in problem.path)


def raw_references(data: dict) -> Iterator[Problem]:
    """The references to missing nodes in a model document that failed the schema, so that
    a type error elsewhere does not hide them (the same messages as :func:`check`)."""
    nodes = data.get("nodes") if isinstance(data.get("nodes"), dict) else {}
    names = [str(n) for n in nodes]
    for group in ("arrivals", "users", "batches"):
        members = data.get(group) if isinstance(data.get(group), dict) else {}
        for cls, c in members.items():
            for target in _targets(c.get("to") if isinstance(c, dict) else None):
                if target not in nodes:
                    yield Problem(f"{group}.{cls}.to", _missing(target, names))
    for name, node in nodes.items():
        if not isinstance(node, dict):
            continue
        for target in _targets(node.get("next")):
            if target not in nodes:
                yield Problem(f"nodes.{name}.next", _missing(target, names))
        routes = node.get("class_next") if isinstance(node.get("class_next"), dict) else {}
        for cls, route in routes.items():
            for target in _targets(route):
                if target not in nodes:
                    yield Problem(f"nodes.{name}.class_next.{cls}", _missing(target, names))
        if node.get("kind") == "fork":
            join = node.get("join")
            if isinstance(join, str) and join not in nodes:
                yield Problem(f"nodes.{name}.join", _missing(join, names))
            branches = node.get("branches") if isinstance(node.get("branches"), list) else []
            for i, branch in enumerate(branches):
                if isinstance(branch, str) and branch not in nodes:
                    yield Problem(f"nodes.{name}.branches.{i}", _missing(branch, names))


def _targets(route: object) -> list[str]:
    if isinstance(route, str):
        return [route]
    return [t for t in route if isinstance(t, str)] if isinstance(route, dict) else []


def class_groups(spec: ModelSpec) -> dict[str, dict]:
    """The classes of jobs by section: open (arrivals), closed (users), bulk (batches)."""
    return {"arrivals": spec.arrivals, "users": spec.users, "batches": spec.batches}


def class_names(spec: ModelSpec) -> list[str]:
    return [name for members in class_groups(spec).values() for name in members]


def class_source(spec: ModelSpec, cls: str) -> tuple[str, OpenClass | ClosedClass | BatchClass]:
    """The section a class is defined in and its definition."""
    return next((group, members[cls]) for group, members in class_groups(spec).items()
                if cls in members)


def next_of(spec: ModelSpec, node: str, cls: str) -> dict[str, float]:
    """Where a job of class ``cls`` goes after ``node``: its class route or the default."""
    n = spec.nodes[node]
    if isinstance(n, ForkNode):
        return {}
    return n.class_next.get(cls, n.next)


def class_reach(spec: ModelSpec, cls: str) -> set[str]:
    """The nodes jobs of class ``cls`` may visit: from where the class enters along its
    routes, a fork's branches and its join."""
    seen: set[str] = set()
    todo = list(class_source(spec, cls)[1].to)
    while todo:
        name = todo.pop()
        if name in seen or name not in spec.nodes:
            continue
        seen.add(name)
        node = spec.nodes[name]
        todo += [*(node.branches or []), node.join] if isinstance(node, ForkNode) else \
            list(next_of(spec, name, cls))
    return seen


def _classes(spec: ModelSpec) -> Iterator[Problem]:
    if not class_names(spec):
        yield Problem("arrivals", "a model needs at least one class of jobs: an open class "
                                  "under 'arrivals' (rate), a closed one under 'users' or a "
                                  "batch under 'batches'")
    first: dict[str, str] = {}
    for group, members in class_groups(spec).items():
        for name in members:
            if name in first:
                yield Problem(f"{group}.{name}", f"class name {shown(name)} is already used under "
                                                 f"{first[name]}")
            first.setdefault(name, group)
    for name, batch in spec.batches.items():
        yield from _repeats(f"batches.{name}", batch)


def _repeats(path: str, batch: BatchClass) -> Iterator[Problem]:
    """Repeated batches need both ``every`` and ``count``."""
    if batch.every is not None and batch.count is None:
        yield Problem(f"{path}.count", "is required with every: the number of batches in all")
    if batch.every is None and (batch.count or 1) > 1:
        yield Problem(f"{path}.every", f"is required with count {batch.count}: the time "
                                       f"between batches")


def _references(spec: ModelSpec) -> Iterator[Problem]:
    nodes, classes = spec.nodes, set(class_names(spec))
    for group, members in class_groups(spec).items():
        for cls, c in members.items():
            for target in c.to:
                if target not in nodes:
                    yield Problem(f"{group}.{cls}.to", _missing(target, nodes))
    for name, node in nodes.items():
        if isinstance(node, ForkNode):
            yield from _fork_references(name, node, spec)
            continue
        for target in node.next:
            if target not in nodes:
                yield Problem(f"nodes.{name}.next", _missing(target, nodes))
        for cls, route in node.class_next.items():
            if cls not in classes:
                yield Problem(f"nodes.{name}.class_next.{cls}", _missing_class(cls, classes))
            for target in route:
                if target not in nodes:
                    yield Problem(f"nodes.{name}.class_next.{cls}", _missing(target, nodes))
        for cls in getattr(node, "class_service", {}):
            if cls not in classes:
                yield Problem(f"nodes.{name}.class_service.{cls}", _missing_class(cls, classes))


def _fork_references(name: str, node: ForkNode, spec: ModelSpec) -> Iterator[Problem]:
    join = spec.nodes.get(node.join)
    if join is None:
        yield Problem(f"nodes.{name}.join", _missing(node.join, spec.nodes))
    elif not isinstance(join, JoinNode):
        yield Problem(f"nodes.{name}.join", f"must name a node of kind join, {shown(node.join)} is "
                                            f"a {join.kind}")
    else:
        yield from _quorum(name, node, join)
    for i, branch in enumerate(node.branches or []):
        if branch not in spec.nodes:
            yield Problem(f"nodes.{name}.branches.{i}", _missing(branch, spec.nodes))
    for cls in node.class_task_service:
        if cls not in class_names(spec):
            yield Problem(f"nodes.{name}.class_task_service.{cls}",
                          _missing_class(cls, set(class_names(spec))))


def _quorum(name: str, fork: ForkNode, join: JoinNode) -> Iterator[Problem]:
    """A join's quorum can be at most the number of tasks its fork makes."""
    what, count = ("branches", len(fork.branches)) if fork.branches is not None else \
        ("tasks", fork.tasks)
    if join.quorum is not None and count is not None and join.quorum > count:
        yield Problem(f"nodes.{fork.join}.quorum", f"must be at most {count} (the {what} of "
                                                   f"fork {name}), got {join.quorum}")


def _missing(target: str, nodes) -> str:
    return f"no node named {shown(target)}; nodes are {', '.join(nodes)}"


def _missing_class(cls: str, classes) -> str:
    return f"no class named {shown(cls)}; classes are {', '.join(sorted(classes)) or 'none'}"


def _failures(path: str, node: QueueFields | BrokerNode) -> Iterator[Problem]:
    """Each failure block (``failures.i`` in a list) and the members it names."""
    listed = isinstance(node.failures, list)
    for i, block in enumerate(failure_blocks(node)):
        where = f"{path}.failures.{i}" if listed else f"{path}.failures"
        yield from _failure_block(where, block)
        if block.members is not None:
            yield from _failing_members(f"{where}.members", block.members, node)


def _failure_block(path: str, failures: Failures) -> Iterator[Problem]:
    if (failures.mttf is None) != (failures.mttr is None):
        yield Problem(path, "give mttf and mttr together (time to failure and time to repair)")
    if failures.at and failures.duration is None and failures.mttr is None:
        yield Problem(f"{path}.duration", "failures at given times need a duration (or mttr) "
                                          "for the repair")
    if not failures.at and failures.mttf is None:
        yield Problem(path, "give failure times (at) or mttf and mttr")


def _failing_members(path: str, members: list[int],
                     node: QueueFields | BrokerNode) -> Iterator[Problem]:
    expanded = _members(node)
    if expanded is None:
        yield Problem(path, f"only for shards and broker members; a {node.kind} is one "
                            f"station: remove members")
        return
    count, what = expanded
    if not members:
        yield Problem(path, "must list at least one member (leave it out for every member)")
    for i, k in enumerate(members):
        if k >= count:
            yield Problem(f"{path}.{i}", f"no member {k} ({what} 0..{count - 1})")
        elif k in members[:i]:
            yield Problem(f"{path}.{i}", f"member {k} is listed twice")


def _members(node: object) -> tuple[int, str] | None:
    """How many stations a shards or broker node expands to, and what they are."""
    if isinstance(node, ShardsNode):
        return node.shards, "shards"
    if isinstance(node, BrokerNode):
        return node.consumers, "consumers"
    return None


def _rebalance_groups(path: str, node: ShardsNode) -> Iterator[Problem]:
    groups = node.rebalance.groups
    if groups is not None and node.shards % groups:
        yield Problem(f"{path}.rebalance.groups", f"must divide the {node.shards} shards into "
                                                  f"equal groups, got {groups}")


def _batch_reach(spec: ModelSpec) -> set[str]:
    """The nodes a batch job may visit."""
    return set().union(*(class_reach(spec, cls) for cls in spec.batches))


def _node_fields(spec: ModelSpec) -> Iterator[Problem]:
    reached = _batch_reach(spec)
    for name, node in spec.nodes.items():
        path = f"nodes.{name}"
        if getattr(node, "failures", None) is not None:
            yield from _failures(path, node)
        if isinstance(node, ShardsNode) and isinstance(node.rebalance, Rebalance):
            yield from _rebalance_groups(path, node)
        if isinstance(node, ShardsNode):
            yield from check_clusters(path, node, name in reached)
        if isinstance(node, QueueFields):
            infinite = math.isinf(node.servers)
            if node.capacity is not None and not infinite and node.capacity < node.servers:
                yield Problem(f"{path}.capacity", f"must be at least servers ({node.servers}), "
                                                  f"got {node.capacity}")
            if node.capacity is not None and infinite:
                yield Problem(f"{path}.capacity", "an infinite-server queue never holds jobs "
                                                  "waiting; remove capacity or set servers")
            if (node.discipline == "mlfq") != (node.mlfq is not None):
                yield Problem(f"{path}.mlfq", "discipline mlfq needs an mlfq block and an mlfq "
                                              "block needs discipline: mlfq")
        if isinstance(node, ShardsNode) and node.weights is not None:
            yield from _weights(f"{path}.weights", node.weights, node.shards, "shards")
        if isinstance(node, BrokerNode) and node.partition_weights is not None:
            yield from _weights(f"{path}.partition_weights", node.partition_weights,
                                node.partitions, "partitions")
        if node.kind == "batcher" and node.interval is None and node.batch_size is None:
            yield Problem(f"{path}.interval", "a batcher needs an interval, a batch_size or both")
        if isinstance(node, BatcherNode):
            yield from check_window(path, node)
        if isinstance(node, ForkNode):
            yield from _fork_fields(path, node)


def _weights(path: str, weights: list[float], n: int, what: str) -> Iterator[Problem]:
    if len(weights) != n:
        yield Problem(path, f"must have one weight per {what[:-1]} ({n}), got {len(weights)}")
    elif sum(weights) <= 0:
        yield Problem(path, "must contain a positive weight")


def _fork_fields(path: str, node: ForkNode) -> Iterator[Problem]:
    if (node.branches is None) == (node.tasks is None):
        yield Problem(path, "a fork needs either branches (one task per branch) or tasks "
                            "(with task_service, run on slots)")
    if node.branches is not None:
        if len(node.branches) < 1:
            yield Problem(f"{path}.branches", "must list at least one branch")
        for key in ("task_service", "slots"):
            if key in node.model_fields_set:
                yield Problem(f"{path}.{key}", "only for a fork with tasks; branches do their "
                                               "own work")
    if node.tasks is not None and node.task_service is None:
        yield Problem(f"{path}.task_service", "is required for a fork with tasks")


def _expanded_names(spec: ModelSpec) -> Iterator[Problem]:
    for name, node in spec.nodes.items():
        expanded = _members(node)
        if expanded is None:
            continue
        for i in range(expanded[0]):
            if f"{name}-{i}" in spec.nodes:
                yield Problem(f"nodes.{name}-{i}", f"clashes with member {i} of {node.kind} "
                                                   f"{shown(name)}; rename one of them")


def _forks(spec: ModelSpec) -> Iterator[Problem]:
    joins = {}
    for name, node in spec.nodes.items():
        if isinstance(node, ForkNode):
            if node.join in joins:
                yield Problem(f"nodes.{name}.join", f"{shown(node.join)} already joins fork "
                                                    f"{shown(joins[node.join])}; give each fork its own join")
            joins[node.join] = name
    for name, node in spec.nodes.items():
        if isinstance(node, JoinNode) and name not in joins:
            yield Problem(f"nodes.{name}", "a join needs a fork whose 'join' names it")
    reached = {cls: _reachable(_class_graph(spec, cls), _entries(spec, cls))
               for cls in class_names(spec)}
    for name, node in spec.nodes.items():
        if isinstance(node, ForkNode) and node.branches:
            for cls in class_names(spec):
                if name in reached[cls]:  # only the classes whose jobs come to this fork
                    yield from _branch_paths(spec, name, node, cls)


def _entries(spec: ModelSpec, cls: str) -> list[str]:
    return [n for n, p in class_source(spec, cls)[1].to.items() if p > 0 and n in spec.nodes]


def _branch_paths(spec: ModelSpec, fork: str, node: ForkNode, cls: str) -> Iterator[Problem]:
    """Every task of a branch must reach the join: no exit, no way around it."""
    seen, stack = set(), list(node.branches)
    while stack:
        current = stack.pop()
        if current in seen or current == node.join or current not in spec.nodes:
            continue
        seen.add(current)
        if current == fork:
            yield Problem(f"nodes.{fork}.branches", "a branch leads back to its own fork "
                                                    "before the join")
            return
        route = next_of(spec, current, cls)
        if isinstance(spec.nodes[current], ForkNode):
            route = {spec.nodes[current].join: 1.0}
        if sum(route.values()) < 1 - 1e-9:
            yield Problem(f"nodes.{current}.next", f"tasks of fork {shown(fork)} (class {shown(cls)}) can "
                                                   f"leave the system here before join "
                                                   f"{shown(node.join)}: probabilities must sum to 1")
            return
        stack.extend(route)


def _routing(spec: ModelSpec) -> Iterator[Problem]:
    reached: set[str] = set()
    order = {name: i for i, name in enumerate(spec.nodes)}
    calls = {name: [c.to for c in getattr(node, "calls", ()) if c.to in spec.nodes]
             for name, node in spec.nodes.items()}
    for cls in class_names(spec):
        group, source = class_source(spec, cls)
        entry = source.to
        forward = _class_graph(spec, cls)
        starts = _entries(spec, cls)
        if sum(entry.values()) < 1 - 1e-9:
            yield Problem(f"{group}.{cls}.to", f"entry probabilities sum to "
                                               f"{sum(entry.values()):g}; they must sum to 1")
        mine = _reachable(forward, starts) - {EXIT}
        reached |= _reachable(calls, list(mine))  # a called node returns to its caller
        can_leave = _reachable(_reversed(forward), [EXIT])
        for node in sorted(mine - can_leave, key=order.__getitem__):
            what = "never finish and return to think" if group == "users" else \
                "never leave the system"
            yield Problem(f"nodes.{node}.next", f"jobs of class {shown(cls)} that reach {shown(node)} can "
                                                f"{what}: every route from it loops back; give "
                                                f"some route an exit (probabilities summing "
                                                f"below 1)")
    for node in spec.nodes:
        if node not in reached:
            yield Problem(f"nodes.{node}", "no job can reach this component: no class arrives "
                                           "here and no route leads here")


EXIT = "<exit>"
"""The pseudo-node a job goes to when it leaves (no model node can have this name)."""


def _class_graph(spec: ModelSpec, cls: str) -> dict[str, list[str]]:
    """Where a job of class ``cls`` can go from each node (``EXIT`` when it can leave)."""
    graph: dict[str, list[str]] = {EXIT: []}
    for name, node in spec.nodes.items():
        if isinstance(node, ForkNode):
            graph[name] = [n for n in [*(node.branches or []), node.join] if n in spec.nodes]
            continue
        route = next_of(spec, name, cls)
        graph[name] = [target for target, p in route.items() if p > 0 and target in spec.nodes]
        if sum(route.values()) < 1 - 1e-9 or len(graph[name]) < sum(p > 0 for p in route.values()):
            # (a route to a missing node, reported as such, counts as a way out)
            graph[name].append(EXIT)
    return graph


def _reversed(graph: dict[str, list[str]]) -> dict[str, list[str]]:
    back: dict[str, list[str]] = {name: [] for name in graph}
    for name, targets in graph.items():
        for target in targets:
            back[target].append(name)
    return back


def _reachable(graph: dict[str, list[str]], starts: list[str]) -> set[str]:
    """The nodes reachable from ``starts`` (``starts`` included)."""
    seen, stack = set(starts), list(starts)
    while stack:
        for target in graph[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


MAX_STATIONS = 300
"""The most stations a model expands to: routing is a stations x stations matrix per
class, and a simulation keeps a bounded sample per station."""
MAX_BATCH_JOBS = 1_000_000
"""The most jobs all repeats of one bulk arrival bring (``size`` x ``count``): a
simulation runs until every one has left."""
MAX_TICKS_PER_JOB = 1000
"""The most times a timer (a batcher's clock, an MLFQ boost, a rebalance) may fire per
job arriving from outside: a simulation handles every tick."""


def _sizes(spec: ModelSpec) -> Iterator[Problem]:
    """What a solver or a simulation could not afford: too many stations, batch jobs, or
    a timer that fires far more often than jobs arrive."""
    stations = sum((_members(node) or (1, ""))[0] for node in spec.nodes.values())
    if stations > MAX_STATIONS:
        yield Problem("nodes", f"expands to {stations:,} stations (shards and consumers count "
                               f"one each); at most {MAX_STATIONS:,}")
    for name, batch in spec.batches.items():
        if batch.size * (batch.count or 1) > MAX_BATCH_JOBS:
            yield Problem(f"batches.{name}.count", f"size x count is "
                                                   f"{batch.size * (batch.count or 1):,} jobs; at "
                                                   f"most {MAX_BATCH_JOBS:,}")
    rate = sum(c.rate.mean_rate() if isinstance(c.rate, RateProfile) else c.rate
               for c in spec.arrivals.values())
    if rate <= 0:
        return
    shortest = 1.0 / (MAX_TICKS_PER_JOB * rate)
    for name, node in spec.nodes.items():
        timers = {}
        if node.kind == "batcher" and node.batch_size is None and node.interval is not None:
            timers["interval"] = node.interval
        if isinstance(node, QueueFields) and node.mlfq is not None and node.mlfq.boost:
            timers["mlfq.boost"] = node.mlfq.boost
        if isinstance(node, ShardsNode) and node.rebalance is not None:
            timers["rebalance"] = node.rebalance if isinstance(node.rebalance, float) \
                else node.rebalance.period
        for field, period in timers.items():
            if period < shortest:
                yield Problem(f"nodes.{name}.{field}", (
                    f"fires more than {MAX_TICKS_PER_JOB:,} times per arriving job (every "
                    f"{period:.3g} s, {rate:.4g} jobs/s arrive); at least {shortest:.3g} s"))


def _zero_time_cycles(spec: ModelSpec) -> Iterator[Problem]:
    """A closed class that never thinks and is served in no time anywhere would cycle
    forever at one instant of simulated time."""
    for cls, users in spec.users.items():
        if users.think_time is not None and users.think_time.mean > 0:
            continue
        route = _reachable(_class_graph(spec, cls), _entries(spec, cls)) - {EXIT}
        services = [getattr(spec.nodes[n], "class_service", {}).get(cls, spec.nodes[n].service)
                    for n in route if hasattr(spec.nodes[n], "service")]
        if len(services) == len(route) and all(d.mean == 0 for d in services):
            yield Problem(f"users.{cls}.think_time", "jobs of this class take no time anywhere "
                                                     "(no think time, service times of 0): give "
                                                     "a think time or a positive service time")
