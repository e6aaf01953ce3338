"""Checks of the ``consistency:`` section (read and write quorums of a replicated store):
the read join and the write fork exist and fan out over branches, each replica pairs a
read branch with a write branch, and ``R``, ``W`` are at most ``N``."""

from __future__ import annotations

from collections.abc import Generator, Iterator

from ..errors import Problem, shown
from .spec import Consistency, ForkNode, JoinNode, ModelSpec


def check_consistency(spec: ModelSpec) -> Iterator[Problem]:
    """The problems of ``spec.consistency`` (none when absent), each at its field path.

    >>> spec = ModelSpec.model_validate({"arrivals": {"r": {"to": "read", "rate": 1}}, "nodes": {
    ...     "read": {"kind": "fork", "branches": ["a", "b"], "join": "done"},
    ...     "a": {"kind": "delay", "service": 1, "next": "done"},
    ...     "b": {"kind": "delay", "service": 1, "next": "done"},
    ...     "done": {"kind": "join"}},
    ...     "consistency": {"reads": "done", "writes": "read", "write_quorum": 3}})
    >>> [str(p) for p in check_consistency(spec)]
    ['consistency.writes: must be a fork other than the read fork read', \
'consistency.write_quorum: must be at most N = 2 (the branches of the read fork read), got 3']
    """
    section = spec.consistency
    if section is None:
        return
    read_fork = yield from _read_fork(spec, section)
    write_fork = yield from _write_fork(spec, section, read_fork)
    if read_fork is None:
        return
    name, fork = read_fork
    n = len(fork.branches or [])
    if section.write_quorum > n:
        yield Problem("consistency.write_quorum", f"must be at most N = {n} (the branches of "
                                                  f"the read fork {name}), got "
                                                  f"{section.write_quorum}")
    if len(section.replicas) > n:
        yield Problem("consistency.replicas", f"must pair at most N = {n} read branches (of "
                                              f"fork {name}), got {len(section.replicas)}")
        return
    updated: dict[str, str] = {}
    for read, write in section.replicas.items():
        path = f"consistency.replicas.{read}"
        if read not in (fork.branches or []):
            yield Problem(path, f"must be a branch of the read fork {name} "
                                f"({', '.join(fork.branches or [])}), got {shown(read)}")
        if write_fork is not None and write not in (write_fork[1].branches or []):
            yield Problem(path, f"must name a branch of the write fork {write_fork[0]} "
                                f"({', '.join(write_fork[1].branches or [])}), got "
                                f"{shown(write)}")
        elif write in updated:
            yield Problem(path, f"write branch {shown(write)} already updates the replica "
                                f"read by {updated[write]}")
        updated.setdefault(write, read)


def _read_fork(spec: ModelSpec, section: Consistency
               ) -> Generator[Problem, None, tuple[str, ForkNode] | None]:
    """The read fork (its name and node), after the problems of ``consistency.reads``."""
    join = spec.nodes.get(section.reads)
    if not isinstance(join, JoinNode):
        what = "no such node" if join is None else f"{shown(section.reads)} is a {join.kind}"
        yield Problem("consistency.reads", f"must name the join of the read fan-out ({what})")
        return None
    fork = next(((n, f) for n, f in spec.nodes.items()
                 if isinstance(f, ForkNode) and f.join == section.reads), None)
    if fork is None or not fork[1].branches:
        yield Problem("consistency.reads", "must be the join of a fork with branches (one "
                                           "per replica)")
        return None
    return fork


def _write_fork(spec: ModelSpec, section: Consistency, read_fork: tuple[str, ForkNode] | None
                ) -> Generator[Problem, None, tuple[str, ForkNode] | None]:
    """The write fork (its name and node), after the problems of ``consistency.writes``."""
    fork = spec.nodes.get(section.writes)
    if not isinstance(fork, ForkNode) or not fork.branches:
        what = "no such node" if fork is None else \
            f"{shown(section.writes)} is a {fork.kind}" if not isinstance(fork, ForkNode) \
            else f"{shown(section.writes)} runs tasks, not branches"
        yield Problem("consistency.writes", f"must name a fork with branches, one per replica "
                                            f"it updates ({what})")
        return None
    if read_fork is not None and read_fork[0] == section.writes:
        yield Problem("consistency.writes", f"must be a fork other than the read fork "
                                            f"{section.writes}")
        return None
    return section.writes, fork
