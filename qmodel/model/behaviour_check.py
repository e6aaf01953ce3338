"""Cross-field rules of calls, pools, timeouts, retries, hedging, patience and balking
(:mod:`.behaviour_spec`): each problem names its field path and the fix."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ..errors import Problem, shown
from .behaviour_spec import MAX_CALLS_PER_VISIT, ClientFields
from .spec import BrokerNode, DelayNode, ModelSpec, QueueFields, ShardsNode


def check_behaviours(spec: ModelSpec) -> Iterator[Problem]:
    """Every problem of the behaviours of a schema-valid model."""
    for name, node in spec.nodes.items():
        if isinstance(node, QueueFields):
            yield from _held(spec, f"nodes.{name}", node)
    for cls, c in spec.arrivals.items():
        yield from _client(f"arrivals.{cls}", c)
    targets = _call_targets(spec)
    if not targets:
        cycles = list(_call_cycles(spec))
        yield from cycles or _call_volume(spec)
    yield from targets


def _held(spec: ModelSpec, path: str, node: QueueFields) -> Iterator[Problem]:
    waits = not math.isinf(node.servers)
    if (node.calls or node.pool or node.patience is not None) and node.discipline != "fcfs":
        field = "calls" if node.calls else ("pool" if node.pool else "patience")
        yield Problem(f"{path}.{field}", "needs discipline: fcfs (a held server, a pool or "
                                         f"patience is modelled for FCFS), got "
                                         f"{node.discipline}")
    if node.service_after is not None and not node.calls:
        yield Problem(f"{path}.service_after", "splits the service around calls, and this "
                                               "node makes none; add it to service instead")
    if node.pool is not None and node.pool not in spec.pools:
        yield Problem(f"{path}.pool", _missing_pool(node.pool, spec))
    for i, call in enumerate(node.calls):
        if call.pool is not None and call.pool not in spec.pools:
            yield Problem(f"{path}.calls.{i}.pool", _missing_pool(call.pool, spec))
        yield from _client(f"{path}.calls.{i}", call)
    if node.patience is not None and not waits:
        yield Problem(f"{path}.patience", "an infinite-server queue never keeps a job "
                                          "waiting; remove patience or set servers")
    if node.balk is not None:
        if not waits:
            yield Problem(f"{path}.balk", "an infinite-server queue never keeps a job "
                                          "waiting; remove balk or set servers")
        if (node.balk.above is None) == (node.balk.probabilities is None):
            yield Problem(f"{path}.balk", "give either above (a queue length) or "
                                          "probabilities (of joining by queue length)")


def _client(path: str, client: ClientFields) -> Iterator[Problem]:
    hedge, timeout = client.hedge, client.timeout
    if hedge is not None and isinstance(hedge.after, float) and timeout is not None \
            and hedge.after >= timeout:
        yield Problem(f"{path}.hedge.after", f"must be shorter than timeout ({timeout:g}s): "
                                             "a copy sent later is never waited for")
    retries = client.retries
    if retries is not None and timeout is None and "reject" not in retries.when:
        yield Problem(f"{path}.retries.when", "retries follow timeouts, and there is no "
                                            "timeout; set timeout")
    if client.on_timeout == "cancel" and timeout is None:
        yield Problem(f"{path}.on_timeout", "cancel needs a timeout")


def _call_targets(spec: ModelSpec) -> list[Problem]:
    problems = []
    for name, node in spec.nodes.items():
        for i, call in enumerate(getattr(node, "calls", ())):
            path = f"nodes.{name}.calls.{i}.to"
            target = spec.nodes.get(call.to)
            if target is None:
                problems.append(Problem(path, f"no node named {shown(call.to)}; nodes are "
                                              f"{', '.join(spec.nodes)}"))
            elif call.to == name:
                problems.append(Problem(path, "a component cannot call itself: its held "
                                              "thread would wait for itself"))
            elif isinstance(target, BrokerNode):
                problems.append(Problem(path, f"{call.to} is a broker: a message is sent, not "
                                              "awaited; route to it with next"))
            elif not isinstance(target, (QueueFields, DelayNode, ShardsNode)):
                problems.append(Problem(path, f"{call.to} is a {target.kind}; a call goes to "
                                              "a queue, delay or shards node"))
    return problems


def _call_cycles(spec: ModelSpec) -> Iterator[Problem]:
    """The first cycle of calls, found by a depth-first walk without recursion (a hostile
    file may chain thousands of nodes)."""
    graph = {name: [c.to for c in getattr(node, "calls", ())]
             for name, node in spec.nodes.items()}
    done: set[str] = set()
    for start in graph:
        if start in done:
            continue
        path, on_path, stack = [start], {start}, [iter(graph[start])]
        while stack:
            target = next(stack[-1], None)
            if target is None:
                finished = path.pop()
                done.add(finished)
                on_path.discard(finished)
                stack.pop()
            elif target in on_path:
                cycle = [*path[path.index(target):], target]
                yield Problem(f"nodes.{target}.calls", f"calls form a cycle ({_chain(cycle)}): "
                                                       "a held thread would wait for itself")
                return
            elif target not in done:
                path.append(target)
                on_path.add(target)
                stack.append(iter(graph[target]))


def _chain(names: list[str]) -> str:
    """A cycle as ``a -> b -> a``; a long one shows its ends and its length."""
    if len(names) <= 8:
        return " -> ".join(names)
    return f"{' -> '.join(names[:4])} -> ... -> {' -> '.join(names[-2:])}: " \
           f"{len(names) - 1} components"


def _call_volume(spec: ModelSpec) -> Iterator[Problem]:
    """The components where the calls one visit sets off (its calls' own calls included,
    each at its ``count``) first exceed :data:`MAX_CALLS_PER_VISIT`: a chain of fan-outs
    multiplies. Walked without recursion; the calls form no cycle."""
    graph = {name: [(c.to, c.count) for c in getattr(node, "calls", ())]
             for name, node in spec.nodes.items()}
    made: dict[str, int] = {}  # calls per visit, capped just above the limit
    for start in graph:
        stack = [start]
        while stack:
            name = stack[-1]
            waiting = [to for to, _ in graph[name] if to not in made]
            if waiting:
                stack.extend(waiting)
                continue
            stack.pop()
            if name in made:
                continue
            total = sum(count * (1 + made[to]) for to, count in graph[name])
            made[name] = min(total, MAX_CALLS_PER_VISIT + 1)
            if total > MAX_CALLS_PER_VISIT and all(made[to] <= MAX_CALLS_PER_VISIT
                                                   for to, _ in graph[name]):
                yield Problem(f"nodes.{name}.calls", (
                    f"one visit sets off {total:,} calls (the calls' own calls included, "
                    f"each at its count); at most {MAX_CALLS_PER_VISIT:,}"))


def _missing_pool(name: str, spec: ModelSpec) -> str:
    listed = ", ".join(spec.pools) or "none"
    return f"no pool named {shown(name)}; pools are {listed} (define it under pools:)"
