"""From spans to jobs: trace trees, clock skew, visits, exclusive times, classes, routes.

A **visit** is the work one component does for one job: it begins at an entry span (a
SERVER or CONSUMER span, a trace's root, or a span whose parent ran in another service)
and holds the spans of the same service below it. Its **exclusive time** is the entry
span's duration minus the union of the intervals it spent waiting on synchronous calls
(its CLIENT spans, and child visits entered without a CLIENT span), each clipped to the
entry span, so parallel calls count once. PRODUCER spans are the component's own work
(sending); the CONSUMER visit they lead to is the next station, the gap its wait.

A **job** is the tree under one root span; its **class** is the root operation. A job
whose tree lost a span (a parent id that is not in the trace) or whose parent ids form
a cycle gives no routes; its visits still give service times and concurrency.

Clock skew: for every pair of hosts (caller, callee) the offset d of the callee's clock
must put each synchronous callee span inside its caller span (child.end - parent.end <=
d <= child.start - parent.start) and each consumer after its producer's start. Over all
calls of the pair the feasible offsets form an interval; when it does not hold 0 its
midpoint is taken (equal network latency both ways, as Zipkin's skew adjuster assumes;
when calls disagree, the median of the offsets that centre each callee in its caller),
and the callee host's spans are shifted by it,
hosts chained from the busiest root host outwards.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from .spans import Span

ENTRY_KINDS = ("server", "consumer")
SKEW_TOLERANCE = 1e-6  # seconds: below this an apparent violation is rounding


@dataclass
class Visit:
    """One component's work for one job (see the module docstring)."""

    component: str
    entry: Span
    waits: list[tuple[float, float]] = field(default_factory=list)
    after: Span | None = None  # the PRODUCER span an async (CONSUMER) visit follows

    @property
    def busy(self) -> list[tuple[float, float]]:
        """The entry span's interval minus the (merged) waits: when it was working."""
        out, at = [], self.entry.start
        for lo, hi in _merge(self.waits):
            if lo > at:
                out.append((at, lo))
            at = max(at, hi)
        if self.entry.end > at:
            out.append((at, self.entry.end))
        return out

    @property
    def exclusive(self) -> float:
        return sum(hi - lo for lo, hi in self.busy)


@dataclass
class Job:
    """The visits under one root span, in order of their start; ``complete`` when no span
    of its trace was missing."""

    cls: str
    root: Span
    visits: list[Visit]
    complete: bool


@dataclass
class Graph:
    jobs: list[Job]
    visits: list[Visit]  # every visit, also those of incomplete traces
    labels: dict[str, str]  # component -> "service" or "service operation"
    classes: dict[str, str]  # class -> root operation as seen ("GET /api on gateway")
    skew: list[dict]  # per host pair: offset applied, calls it rests on
    notes: list[str]
    counts: dict[str, int]


def build(spans: list[Span], by: str = "service", outside: frozenset[str] = frozenset()
          ) -> Graph:
    """Jobs and visits from spans; ``by`` is ``"service"`` or ``"operation"``; the spans
    of the ``outside`` services (a front door or a client the model leaves out) are no
    component's work: their children start visits, and a root of theirs is still the
    job's arrival."""
    notes: list[str] = []
    spans = _follow_links(spans, notes)
    traces: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        traces[s.trace_id].append(s)
    spans, skew = _correct_skew(traces, notes)
    traces = defaultdict(list)
    for s in spans:
        traces[s.trace_id].append(s)
    names = _Names()
    jobs: list[Job] = []
    visits: list[Visit] = []
    counts = Counter(traces=len(traces), spans=len(spans))
    for trace_id, members in traces.items():
        by_id = {s.span_id: s for s in members}
        children: dict[str, list[Span]] = defaultdict(list)
        roots, orphans = [], []
        for s in members:
            if s.parent_id is None:
                roots.append(s)
            elif s.parent_id not in by_id:
                orphans.append(s)
            else:
                children[s.parent_id].append(s)
        reached = _reach(roots + orphans, children)
        if len(reached) < len(members):
            counts["traces_with_cycles"] += 1
            cyclic = [s.span_id for s in members if s.span_id not in reached][:4]
            notes.append(f"trace {trace_id}: parent ids form a cycle (spans "
                         f"{', '.join(cyclic)}); those spans are skipped")
        if orphans:
            counts["traces_missing_spans"] += 1
            counts["orphan_spans"] += len(orphans)
        if not roots:
            counts["traces_without_root"] += 1
        complete = not orphans and len(reached) == len(members)
        for top in roots + orphans:
            found = _visits(top, children, by, names, outside)
            visits += found
            if top in roots and found:
                cls = names.cls(top)
                jobs.append(Job(cls, top, sorted(found, key=lambda v: v.entry.start), complete))
    counts["jobs"] = len(jobs)
    counts["complete_jobs"] = sum(j.complete for j in jobs)
    if counts["traces_missing_spans"]:
        notes.append(f"{counts['traces_missing_spans']} trace(s) lost spans "
                     f"({counts['orphan_spans']} span(s) name a parent that is not there; "
                     f"{counts['traces_without_root']} have no root): their visits give "
                     "service times and concurrency but no routes, and those without a "
                     "root no arrivals")
    return Graph(jobs, visits, names.labels, names.classes, skew, notes, dict(counts))


def _reach(tops: list[Span], children: dict[str, list[Span]]) -> set[str]:
    seen: set[str] = set()
    stack = list(tops)
    while stack:
        s = stack.pop()
        if s.span_id in seen:
            continue
        seen.add(s.span_id)
        stack += children.get(s.span_id, [])
    return seen


def _visits(top: Span, children: dict[str, list[Span]], by: str, names: _Names,
            outside: frozenset[str] = frozenset()) -> list[Visit]:
    """The visits in the tree under ``top`` (iterative: a deep tree cannot overflow)."""
    out: list[Visit] = []
    # a root CLIENT/PRODUCER span with children is the outside caller (a load generator),
    # an orphan one the waiting of a caller that was lost: not a component's work; their
    # children start the visits
    if top.kind in ("client", "producer") and (top.parent_id is not None
                                               or children.get(top.span_id)):
        stack = [(c, None, top) for c in children.get(top.span_id, [])]
    else:
        stack = [(top, None, None)]
    seen: set[str] = set()
    while stack:
        span, visit, parent = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        if span.service in outside:  # not modelled: what it hands on starts visits
            stack += [(child, None, span) for child in children.get(span.span_id, [])]
            continue
        if visit is None or span.kind in ENTRY_KINDS or span.service != visit.entry.service:
            caller = visit
            visit = Visit(names.component(span, by), span)
            if parent is not None and parent.kind == "producer" or span.kind == "consumer":
                visit.after = parent
            elif caller is not None and parent is not None and parent.kind != "client":
                caller.waits.append(_clip(span, caller.entry))  # a call with no client span
            out.append(visit)
        elif span.kind == "client":
            visit.waits.append(_clip(span, visit.entry))
        for child in children.get(span.span_id, []):
            stack.append((child, visit, span))
    return out


def _clip(span: Span, to: Span) -> tuple[float, float]:
    lo = min(max(span.start, to.start), to.end)
    return lo, max(lo, min(span.end, to.end))


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


class _Names:
    """Model names (``[A-Za-z_][A-Za-z0-9_-]*``) for components and classes, unique."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}
        self.classes: dict[str, str] = {}
        self._component: dict[tuple[str, str], str] = {}
        self._class: dict[tuple[str, str], str] = {}

    def component(self, span: Span, by: str) -> str:
        key = (span.service, span.name if by == "operation" else "")
        if key not in self._component:
            label = f"{span.service} {span.name}" if by == "operation" else span.service
            name = _unique(safe_name(label), self.labels)
            self._component[key] = name
            self.labels[name] = label
        return self._component[key]

    def cls(self, root: Span) -> str:
        key = (root.service, root.name)
        if key not in self._class:
            name = _unique(safe_name(root.name or root.service), self.classes)
            self._class[key] = name
            self.classes[name] = f"{root.name or '(unnamed)'} on {root.service}"
        return self._class[key]


def safe_name(text: str) -> str:
    """A name the model format accepts: ``GET /api/users`` -> ``GET_api_users``.

    >>> safe_name("GET /api/users"), safe_name("9lives"), safe_name("")
    ('GET_api_users', '_9lives', '_')
    """
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:60] or "_"
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def _unique(name: str, taken: dict[str, str]) -> str:
    out, i = name, 2
    while out in taken:
        out, i = f"{name}-{i}", i + 1
    return out


# -- links and skew ---------------------------------------------------------------------------

def _follow_links(spans: list[Span], notes: list[str]) -> list[Span]:
    """A root CONSUMER span linked to a PRODUCER span in another trace joins that trace
    as the producer's child (messaging instrumentations often start a new trace)."""
    index = {(s.trace_id, s.span_id): s for s in spans}
    moved: dict[str, tuple[str, str]] = {}
    for s in spans:
        if s.parent_id is None and s.kind == "consumer":
            for link in s.links:
                target = index.get(link)
                if target is not None and target.trace_id != s.trace_id:
                    moved[s.trace_id] = (target.trace_id, target.span_id)
                    break
    if not moved:
        return spans
    notes.append(f"{len(moved)} consumer trace(s) linked to a producer span were joined to "
                 "the producer's trace")
    out = []
    for s in spans:
        if s.trace_id in moved:
            trace, producer = moved[s.trace_id]
            s = replace(s, trace_id=trace, parent_id=producer if s.parent_id is None
                        and s.kind == "consumer" else s.parent_id)
        out.append(s)
    return out


def _correct_skew(traces: dict[str, list[Span]], notes: list[str]
                  ) -> tuple[list[Span], list[dict]]:
    lows: dict[tuple[str, str], float] = defaultdict(lambda: -np.inf)
    highs: dict[tuple[str, str], float] = defaultdict(lambda: np.inf)
    centred: dict[tuple[str, str], list[float]] = defaultdict(list)
    roots: Counter = Counter()
    for members in traces.values():
        by_id = {s.span_id: s for s in members}
        for s in members:
            p = by_id.get(s.parent_id) if s.parent_id else None
            if p is None:
                roots[s.host] += 1
                continue
            if p.host == s.host:
                continue
            pair = (p.host, s.host)
            highs[pair] = min(highs[pair], s.start - p.start)
            if s.kind != "consumer" and p.kind != "producer":  # synchronous: inside
                lows[pair] = max(lows[pair], s.end - p.end)
                centred[pair].append(((s.start - p.start) - (p.end - s.end)) / 2)
    pairs = set(highs)
    offset: dict[tuple[str, str], float] = {}
    for pair in pairs:
        lo, hi = lows[pair], highs[pair]
        if lo <= SKEW_TOLERANCE and hi >= -SKEW_TOLERANCE:
            offset[pair] = 0.0
        elif lo <= hi:
            offset[pair] = (lo + hi) / 2 if np.isfinite(lo) else hi
        else:
            offset[pair] = float(np.median(centred[pair])) if centred[pair] else hi
    # chain hosts outwards from the busiest root host: each host's clock relative to it
    clock: dict[str, float] = {}
    for start, _ in roots.most_common():
        if start in clock:
            continue
        clock[start] = 0.0
        frontier = [start]
        while frontier:
            host = frontier.pop()
            for (a, b), d in offset.items():
                if a == host and b not in clock:
                    clock[b] = clock[a] + d
                    frontier.append(b)
    report = []
    for (a, b), d in sorted(offset.items()):
        if d != 0.0:
            calls = len(centred[(a, b)]) or None
            report.append({"caller": a, "callee": b, "offset_s": d, "calls": calls})
            notes.append(f"clock skew: {b}'s clock runs {abs(d) * 1e3:.3g} ms "
                         f"{'ahead of' if d > 0 else 'behind'} {a}'s (callee spans outside "
                         f"their callers); {b}'s spans were shifted by {-d * 1e3:.3g} ms")
    if not any(clock.values()):
        return [s for m in traces.values() for s in m], report
    return [s if not clock.get(s.host) else
            replace(s, start=s.start - clock[s.host], end=s.end - clock[s.host])
            for m in traces.values() for s in m], report


# -- what the estimators read -----------------------------------------------------------------

def concurrency(intervals: list[tuple[float, float]]) -> tuple[int, float]:
    """The largest number of ``intervals`` open at once, and the time-average number.

    >>> concurrency([(0, 2), (1, 3), (2, 4)])
    (2, 1.5)
    """
    if not intervals:
        return 0, 0.0
    arr = np.asarray(intervals, dtype=float)
    times = np.concatenate([arr[:, 1], arr[:, 0]])
    steps = np.concatenate([-np.ones(len(arr)), np.ones(len(arr))])
    order = np.lexsort((steps, times))  # at a tie, ends before starts
    level = np.cumsum(steps[order])
    span = times.max() - times.min()
    mean = float((arr[:, 1] - arr[:, 0]).sum() / span) if span > 0 else float(len(arr))
    return int(level.max()), mean


def routes(jobs: list[Job]) -> tuple[dict, dict]:
    """Per class: visits per component and transitions ``(a, b)`` (``b`` None: leaves),
    counted over complete jobs, whose visits in order of their start are the route."""
    visits: dict[str, Counter] = defaultdict(Counter)
    moves: dict[str, Counter] = defaultdict(Counter)
    for job in jobs:
        if not job.complete:
            continue
        path = [v.component for v in job.visits]
        visits[job.cls].update(path)
        moves[job.cls].update(zip(path, path[1:] + [None]))
    return visits, moves
