"""A JMT simulation model (``.jsimg`` archive or bare ``.jsim``) as a qmodel model
document, with the report of what mapped.

Stations become ``queue`` and ``delay`` nodes; ``fork`` and ``join`` nodes keep their
names; routing stations are folded into the routes through them, or become a ``shards``
node when they spread jobs over identical queues. A closed class's reference station,
when it is a delay only its own jobs visit, becomes the class's think time; otherwise
the class enters there. JMT node names that are not qmodel names are renamed (the JMT
name becomes the ``label``). Times are read as seconds.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import Counter

from ..distributions import Distribution
from ..errors import QModelError
from . import jsimg_nodes as nodes
from .jsim_xml import find_param, number, per_class, read_service
from .report import MappingReport, StoredSolution

ROUTERS = {"RoundRobinStrategy": "round_robin", "ShortestQueueLengthRoutingStrategy": "jsq"}


def read_jsim(root: ET.Element, source: str) -> tuple[dict, MappingReport]:
    """The qmodel document and mapping report of a JMT simulation model's XML root.

    >>> from qmodel.io.xmlsafe import parse_xml
    >>> from qmodel.io.jsimg_write import write_jsimg
    >>> from qmodel.model.model import Model
    >>> m = Model.from_dict({"arrivals": {"c": {"to": "q", "rate": 1}},
    ...                      "nodes": {"q": {"kind": "queue", "service": 0.5}}})
    >>> doc, report = read_jsim(parse_xml(write_jsimg(m)[0]), "ex.jsimg")
    >>> doc["nodes"]["q"]["service"], doc["arrivals"]["c"]["rate"]
    ({'dist': 'exponential', 'mean': 0.5}, 1.0)
    """
    sim = root if root.tag == "sim" else root.find("sim")
    if sim is None:
        raise QModelError(f"{source}: not a JMT simulation model (no <sim> element; the "
                          f"root is <{root.tag}>)")
    doc, report = _Reader(sim, source).read()
    results = root.find("results") if root.tag == "archive" else None
    if results is not None:
        report.solutions.append(_simulation_results(results, _qmodel_names(
            [n.get("name", "") for n in sim.findall("node")])))
        report.add("results", "mapped", "JMT's simulation results: in the report's "
                                        "solutions, to compare with qmodel's")
    return doc, report


def _simulation_results(results: ET.Element, names: dict[str, str]) -> StoredSolution:
    """The per-station means of a JSIMgraph ``<results>`` block (system measures, which
    name no station, are left out)."""
    values: dict[str, dict[str, dict[str, float]]] = {}
    for m in results.findall("measure"):
        station = m.get("referenceStation", "")
        if station not in names or m.get("finalValue") is None:
            continue
        measure = (m.get("name") or "").removeprefix(f"{station}_")
        per = values.setdefault(names[station], {}).setdefault(m.get("referenceClass", ""), {})
        per[measure] = number(m.get("finalValue"), f"results.{m.get('name')}")
    return StoredSolution("JMT simulation", values)


class _Reader:
    def __init__(self, sim: ET.Element, source: str):
        self.sim, self.source = sim, source
        self.report = MappingReport(source, "qmodel model")
        self.classes = {c.get("name", ""): c for c in sim.findall("userClass")}
        if not self.classes:
            raise QModelError(f"{source}: the model has no userClass")
        self.nodes = {n.get("name", ""): n for n in sim.findall("node")}
        self.kind = {name: self._kind(name, n) for name, n in self.nodes.items()}
        self.connections: dict[str, list[str]] = {name: [] for name in self.nodes}
        for c in sim.findall("connection"):
            s, t = c.get("source", ""), c.get("target", "")
            if s not in self.nodes or t not in self.nodes:
                raise QModelError(f"{source}: connection {s!r} -> {t!r} names a node that "
                                  "does not exist")
            self.connections[s].append(t)
        self.names = _qmodel_names(list(self.nodes))
        self.shard_nodes: set[str] = set()
        self._reach: dict[str, set[str]] = {}

    # -- node kinds ------------------------------------------------------------------
    def _kind(self, name: str, node: ET.Element) -> str:
        sections = [s.get("className", "") for s in node.findall("section")]
        if "RandomSource" in sections:
            return "source"
        if "JobSink" in sections:
            return "sink"
        if "Fork" in sections:
            return "fork"
        if "Join" in sections:
            return "join"
        if "Delay" in sections:
            return "delay"
        if {"Server", "PSServer", "PreemptiveServer"} & set(sections):
            return "queue"
        if sections and sections[-1] == "Router" and "ServiceTunnel" in sections and \
                "Queue" in sections:
            return "router"
        refused = ", ".join(s for s in sections if s not in ("Queue", "Router", "ServiceTunnel"))
        raise QModelError(f"{self.source}: node {name!r} ({refused or 'no sections'}) has no "
                          "qmodel equivalent; qmodel reads sources, sinks, queues, delays, "
                          "routers, forks and joins")

    def section(self, name: str, class_name: str) -> ET.Element | None:
        return next((s for s in self.nodes[name].findall("section")
                     if s.get("className") == class_name), None)

    # -- routing ---------------------------------------------------------------------
    def route(self, name: str, cls: str) -> dict[str, float]:
        """Where class ``cls`` goes after JMT node ``name`` (JMT names, probabilities)."""
        router = self.section(name, "Router")
        targets = self.connections[name]
        strategy = per_class(find_param(router, "RoutingStrategy")).get(cls)
        if strategy is None or not targets:
            return {t: 1.0 / len(targets) for t in targets} if targets else {}
        short = strategy.get("classPath", "").rsplit(".", 1)[-1]
        if short == "EmpiricalStrategy":
            out: dict[str, float] = {}
            for entry in strategy.iter("subParameter"):
                if entry.get("name") != "EmpiricalEntry":
                    continue
                values = {p.get("name"): p.findtext("value") for p in entry.findall("subParameter")}
                target = (values.get("stationName") or "").strip()
                if target not in self.nodes:
                    raise QModelError(f"{self.source}: node {name!r} routes class {cls!r} to "
                                      f"{target!r}, which is not a node")
                p = number(values.get("probability"), f"nodes.{name}.routing.{target}")
                if p > 0:
                    out[target] = out.get(target, 0.0) + p
            total = sum(out.values())
            if total <= 0:
                raise QModelError(f"{self.source}: node {name!r} routes class {cls!r} with "
                                  "probabilities that sum to 0")
            return {t: p / total for t, p in out.items()}
        if short != "RandomStrategy":
            policy = ROUTERS.get(short)
            if policy is None or self.kind[name] != "router":
                self.report.add(f"node {name!r} routing of class {cls!r}", "approximated",
                                f"{short}: qmodel routes by probability here; jobs are "
                                "spread evenly over the links")
        return {t: 1.0 / len(targets) for t in targets}

    def router_policy(self, name: str) -> str:
        strategies = per_class(find_param(self.section(name, "Router"), "RoutingStrategy"))
        shorts = {s.get("classPath", "").rsplit(".", 1)[-1] for s in strategies.values()}
        policies = {ROUTERS.get(s, "hash") for s in shorts}
        return policies.pop() if len(policies) == 1 else "hash"

    # -- reading ---------------------------------------------------------------------
    def read(self) -> tuple[dict, MappingReport]:
        doc: dict = {"name": self.sim.get("name", "model").removesuffix(".jsimg") or "model",
                     "time_unit": "s", "nodes": {}}
        self.report.add("time_unit", "mapped", "JMT times have no unit: read as seconds")
        prios = {c: int(number(e.get("priority", "0"), f"userClass {c} priority"))
                 for c, e in self.classes.items()}
        top = max(prios.values())
        self.exit: dict[str, set[str]] = {c: {n for n, k in self.kind.items() if k == "sink"}
                                          for c in self.classes}
        self.hidden: set[str] = set()
        arrivals, users = {}, {}
        refs = {c: e.get("referenceSource", "") for c, e in self.classes.items()}
        for cls, element in self.classes.items():
            kind = element.get("type")
            ref = refs[cls]
            if ref not in self.nodes:
                raise QModelError(f"{self.source}: class {cls!r} has reference station "
                                  f"{ref!r}, which is not a node")
            priority = top - prios[cls]
            if kind == "open":
                arrivals[cls] = self._open(cls, ref, priority)
            elif kind == "closed":
                users[cls] = self._closed(cls, element, ref, refs, priority)
            else:
                raise QModelError(f"{self.source}: class {cls!r} has type {kind!r}; qmodel "
                                  "reads open and closed classes")
        shards = self._shards()
        self.shard_nodes = set(shards["nodes"])
        for name, kind in self.kind.items():
            if name in self.hidden or kind in ("source", "sink") or name in shards["members"]:
                continue
            if kind == "router" and name not in shards["nodes"]:
                self.report.add(f"node {name!r}", "mapped",
                                "routing station: folded into the routes through it")
                continue
            doc["nodes"][self.names[name]] = (shards["nodes"][name] if name in shards["nodes"]
                                              else self._node(name, kind))
        for name in self.hidden:
            doc["nodes"].pop(self.names[name], None)
        for cls, entry in [*arrivals.items(), *users.items()]:
            entry["to"] = self._names(self._resolve(entry.pop("_to"), cls, exits=False))
        if arrivals:
            doc["arrivals"] = arrivals
        if users:
            doc["users"] = users
        for name, node in doc["nodes"].items():
            self._routes(name, node)
        self._extras()
        unique = dict.fromkeys(self.report.entries)
        self.report.entries = list(unique)
        return doc, self.report

    def _open(self, cls: str, ref: str, priority: int) -> dict:
        if self.kind[ref] != "source":
            raise QModelError(f"{self.source}: open class {cls!r} has reference station "
                              f"{ref!r}, which is not a source")
        strategy = per_class(find_param(self.section(ref, "RandomSource"),
                                        "ServiceStrategy")).get(cls)
        if strategy is None:
            raise QModelError(f"{self.source}: source {ref!r} gives no arrivals for class "
                              f"{cls!r}")
        gap, note = read_service(strategy, f"arrivals.{cls}.interarrival")
        if gap is None or gap.mean <= 0:
            raise QModelError(f"{self.source}: source {ref!r} gives class {cls!r} no "
                              "arrival distribution")
        if note:
            self.report.add(f"arrivals.{cls}.interarrival", "approximated", note)
        out: dict = {"_to": self.route(ref, cls), "rate": 1.0 / gap.mean}
        if not gap.is_exponential:
            out["interarrival"] = _shape(gap)
        if priority:
            out["priority"] = priority
        self.report.add(f"class {cls!r}", "mapped", "open class")
        return out

    def _closed(self, cls: str, element: ET.Element, ref: str, refs: dict, priority: int
                ) -> dict:
        population = number(element.get("customers"), f"userClass {cls} customers")
        if population < 1 or population != int(population):
            raise QModelError(f"{self.source}: closed class {cls!r} has {population:g} "
                              "customers; a positive whole number is needed")
        out: dict = {"population": int(population)}
        own = [c for c, r in refs.items() if r == ref]
        others_visit = any(ref in self.connections[n] for n in self.nodes
                           for c in self.classes if c not in own and ref in self.route(n, c))
        if self.kind[ref] == "delay" and own == [cls] and not others_visit:
            strategy = per_class(find_param(self.section(ref, "Delay"),
                                            "ServiceStrategy")).get(cls)
            think, note = (read_service(strategy, f"users.{cls}.think_time")
                           if strategy is not None else (None, ""))
            if note:
                self.report.add(f"users.{cls}.think_time", "approximated", note)
            if think is not None and think.mean > 0:
                out["think_time"] = think.to_spec()
            out["_to"] = self.route(ref, cls)
            self.hidden.add(ref)
            self.report.add(f"class {cls!r}", "mapped", f"closed class; its reference delay "
                                                        f"{ref!r} is its users' think time")
        else:
            out["_to"] = {ref: 1.0}
            self.report.add(f"class {cls!r}", "mapped", f"closed class entering at {ref!r}; "
                                                        "jobs that return there leave")
        self.exit[cls].add(ref)
        if priority:
            out["priority"] = priority
        return out

    def _node(self, name: str, kind: str) -> dict:
        node: dict = {"kind": kind}
        if self.names[name] != name:
            node["label"] = name
        if kind in ("queue", "delay"):
            node.update(nodes.station(self, name, kind))
            self.report.add(f"node {name!r}", "mapped", kind + (
                f" ({node.get('discipline', 'fcfs')})" if kind == "queue" else ""))
        elif kind == "fork":
            node.update(nodes.fork(self, name))
        elif kind == "join":
            node.update(nodes.join(self, name))
        return node

    def _shards(self) -> dict:
        out: dict = {"nodes": {}, "members": set()}
        for name, kind in self.kind.items():
            if kind != "router":
                continue
            targets = self.connections[name]
            if len(targets) < 2 or any(self.kind[t] != "queue" for t in targets):
                continue
            if any(len([n for n in self.nodes if t in self.connections[n]]) != 1
                   for t in targets):
                continue
            specs = [nodes.station(self, t, "queue") for t in targets]
            routes = [{c: self.route(t, c) for c in self.classes} for t in targets]
            if any(s != specs[0] for s in specs) or any(r != routes[0] for r in routes):
                continue
            policy = self.router_policy(name)
            node = {"kind": "shards", "shards": len(targets), "routing": policy, **specs[0]}
            if policy == "hash":
                weights = [self.route(name, c) for c in self.classes]
                share = weights[0]
                w = [share.get(t, 0.0) for t in targets]
                if any(abs(x - w[0]) > 1e-9 for x in w):
                    node["weights"] = w
            if self.names[name] != name:
                node["label"] = name
            node["_member_of"] = targets
            out["nodes"][name] = node
            out["members"].update(targets)
            self.report.add(f"node {name!r}", "mapped",
                            f"routing station over {len(targets)} identical queues: shards "
                            f"({policy})")
        return out

    # -- routes ----------------------------------------------------------------------
    def reach(self, cls: str) -> set[str]:
        cache = self._reach
        if cls not in cache:
            ref = self.classes[cls].get("referenceSource", "")
            seen, todo = set(), [ref]
            while todo:
                n = todo.pop()
                if n in seen or n not in self.nodes:
                    continue
                seen.add(n)
                todo += list(self.connections[n]) if self.kind[n] == "fork" else \
                    list(self.route(n, cls))
            cache[cls] = seen
        return cache[cls]

    def _resolve(self, route: dict[str, float], cls: str, depth: int = 0, exits: bool = True
                 ) -> dict[str, float]:
        """A route in qmodel terms: routing stations folded into it and, with ``exits``,
        sinks and the class's reference station dropped (the job leaves there)."""
        if depth > len(self.nodes):
            raise QModelError(f"{self.source}: routing stations route in a loop")
        out: dict[str, float] = {}
        for target, p in route.items():
            if exits and (target in self.exit[cls] or self.kind[target] == "sink"):
                continue
            if self.kind[target] == "router" and target not in self.shard_nodes:
                for t, q in self._resolve(self.route(target, cls), cls, depth + 1,
                                          exits).items():
                    out[t] = out.get(t, 0.0) + p * q
                continue
            out[target] = out.get(target, 0.0) + p
        return out

    def _names(self, route: dict[str, float]) -> dict[str, float] | str:
        return _compact({self.names[t]: p for t, p in route.items()})

    def _routes(self, qname: str, node: dict) -> None:
        jmt = next(n for n, q in self.names.items() if q == qname)
        members = node.pop("_member_of", None)
        source = members[0] if members else jmt
        if node["kind"] == "fork":
            return
        routes = {}
        for cls in self.classes:
            if jmt in self.reach(cls) or (members and members[0] in self.reach(cls)):
                routes[cls] = self._names(self._resolve(self.route(source, cls), cls))
        if not routes:
            return
        common = Counter(repr(r) for r in routes.values()).most_common(1)[0][0]
        default = next(r for r in routes.values() if repr(r) == common)
        if default:
            node["next"] = default
        others = {c: (r or {}) for c, r in routes.items() if repr(r) != common}
        if others:
            node["class_next"] = others

    def _extras(self) -> None:
        for m in self.sim.findall("measure"):
            self.report.add(f"measure {m.get('name')!r}", "mapped",
                            f"{m.get('type')}: qmodel reports it for every station and "
                            "the system")
        for region in self.sim.findall("blockingRegion"):
            self.report.add(f"blocking region {region.get('name')!r}", "refused",
                            "qmodel has no finite-capacity regions; stations inside keep "
                            "their own capacities only")
        if self.sim.find("preload") is not None:
            self.report.add("preload", "mapped", "closed classes start at their reference "
                                                 "stations, as in qmodel")


def _shape(gap: Distribution) -> dict:
    spec = gap.to_spec()
    if spec["dist"] in ("gamma", "lognormal"):
        return {"dist": spec["dist"], "cv": spec["cv"]}
    if spec["dist"] == "erlang":
        return {"dist": "erlang", "k": spec["k"]}
    if spec["dist"] == "deterministic":
        return {"dist": "deterministic"}
    return {"cv": math.sqrt(gap.scv)}


def _compact(route: dict[str, float]) -> dict[str, float] | str:
    if len(route) == 1 and abs(next(iter(route.values())) - 1.0) < 1e-12:
        return next(iter(route))
    return route


def _qmodel_names(names: list[str]) -> dict[str, str]:
    """A valid, unique qmodel name for each JMT node name (unchanged when already valid)."""
    out, taken = {}, set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_-]", "_", name) or "node"
        if not re.match(r"[A-Za-z_]", base):
            base = "_" + base
        candidate, i = base, 1
        while candidate in taken:
            i += 1
            candidate = f"{base}_{i}"
        taken.add(candidate)
        out[name] = candidate
    return out
