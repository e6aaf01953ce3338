"""A qmodel :class:`~qmodel.model.model.Model` as a JMT JSIMgraph archive (``.jsimg``).

Open classes arrive at one ``Source`` and leave at one ``Sink``; each closed class's
users think at a delay station of their own (its reference station, where its jobs start)
and jobs that leave the network go back there. Shards and brokers become a routing
station in front of their members. Routing is written per class with JMT's
``EmpiricalStrategy`` (probabilities). What has no JMT equivalent is in the report.
"""

from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET

from ..distributions import Deterministic, Distribution, Exponential
from ..errors import QModelError
from ..model.check import class_reach, next_of
from ..model.model import Model
from ..model.spec import (
    BatcherNode,
    BrokerNode,
    DelayNode,
    ForkNode,
    JoinNode,
    QueueNode,
    ShardsNode,
)
from .jsim_xml import STRATEGIES, class_array, param, service_strategy
from .report import MappingReport

ROUTING = STRATEGIES + "RoutingStrategies."
QUEUE_PUT = STRATEGIES + "QueuePutStrategies."
PUT_OF = {"fcfs": "TailStrategy", "ps": "TailStrategy", "mlfq": "TailStrategy",
          "lcfs-pr": "LCFSPRStrategy", "priority": "TailStrategyPriority",
          "priority-preemptive": "FCFSPRStrategyPriority"}
PREEMPTIVE = ("lcfs-pr", "priority-preemptive")
"""Disciplines JMT serves with a ``PreemptiveServer`` (JMT's GUI: ``XMLWriter``)."""
ROUTER_OF = {"round_robin": ("RoundRobinStrategy", "Round Robin"),
             "jsq": ("ShortestQueueLengthRoutingStrategy", "Join the Shortest Queue (JSQ)")}
STATION_MEASURES = ("Number of Customers", "Response Time", "Utilization", "Throughput")
SYSTEM_MEASURES = ("System Response Time", "System Throughput")


def write_jsimg(model: Model, name: str = "model.jsimg") -> tuple[bytes, MappingReport]:
    """The ``.jsimg`` document of ``model`` and the report of what mapped.

    >>> from qmodel.model.model import Model
    >>> m = Model.from_dict({"arrivals": {"web": {"to": "app", "rate": 5}},
    ...                      "nodes": {"app": {"kind": "queue", "service": 0.1}}})
    >>> data, report = write_jsimg(m)
    >>> data[:5], report.exact
    (b'<?xml', True)
    """
    profiled = list(model.network.profiles) + [
        c.name for c in model.network.open_classes
        if c.interarrival is not None and c.interarrival.name == "mmpp2"]
    if profiled:
        raise QModelError(f"arrivals.{profiled[0]}: a rate profile or MMPP-2 arrivals have no "
                          "JSIMgraph equivalent here; export a constant Poisson rate")
    return _Writer(model, name, MappingReport(model.source or model.name, name)).write()


def _behaviour_field(model: Model) -> str:
    """The first field of ``model`` that JMT cannot express (calls, pools, clients…)."""
    found = [f"nodes.{name}.{field}" for name, node in model.spec.nodes.items()
             for field in ("calls", "pool", "patience", "balk") if getattr(node, field, None)]
    found += [f"arrivals.{c.name}" for c in model.network.classes if c.client is not None]
    return (found or ["pools"])[0]


class _Writer:
    def __init__(self, model: Model, name: str, report: MappingReport):
        self.model, self.spec, self.name, self.report = model, model.spec, name, report
        self.classes = [c for c in self.spec.arrivals] + [c for c in self.spec.users]
        taken = set(self.spec.nodes)
        self.source = _unique("Source", taken) if self.spec.arrivals else None
        self.sink = _unique("Sink", taken | {self.source}) if self.spec.arrivals else None
        self.think = {}
        for cls in self.spec.users:
            self.think[cls] = _unique(f"{cls}_think", taken | {self.source, self.sink}
                                      | set(self.think.values()))
        self.sim = ET.Element("sim")
        self.nodes: list[str] = []
        self.connections: dict[tuple[str, str], None] = {}
        self.stations: list[str] = []
        self._reach: dict[str, set[str]] = {}

    def write(self) -> tuple[bytes, MappingReport]:
        if not self.classes:
            raise QModelError("the model has only batch classes: JMT has no one-off bulk "
                              "arrivals, so there is nothing to export")
        if self.model.network.behaviours:  # dropped, the callees would read back unreachable
            raise QModelError(f"{_behaviour_field(self.model)}: JMT has no synchronous calls, "
                              f"pools, client timeouts, retries, hedging, patience or "
                              f"balking; a model with them is not exported (qmodel simulate "
                              f"models them)")
        archive = ET.Element("archive", {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "name": self.name,
            "timestamp": time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime()),
            "xsi:noNamespaceSchemaLocation": "Archive.xsd"})
        self.sim = ET.SubElement(archive, "sim", {
            "disableStatisticStop": "false", "logDecimalSeparator": ".", "logDelimiter": ",",
            "logPath": "", "logReplaceMode": "0", "maxSamples": "1000000",
            "name": self.name, "polling": "1.0",
            "xsi:noNamespaceSchemaLocation": "SIMmodeldefinition.xsd"})
        self._report_model()
        self._user_classes()
        if self.source:
            self._source()
        for cls in self.spec.users:
            self._think(cls)
        for node_name, node in self.spec.nodes.items():
            self._node(node_name, node)
        if self.sink:
            ET.SubElement(ET.SubElement(self.sim, "node", {"name": self.sink}), "section",
                          {"className": "JobSink"})
            self.nodes.append(self.sink)
        self._measures()
        for source, target in self.connections:
            ET.SubElement(self.sim, "connection", {"source": source, "target": target})
        self._preload()
        self._gui(archive)
        ET.indent(archive)
        body = ET.tostring(archive, encoding="unicode")
        data = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + body + "\n")
        return data.encode("utf-8"), self.report

    # -- the model as a whole ------------------------------------------------------
    def _report_model(self) -> None:
        spec, r = self.spec, self.report
        r.add("time_unit", "mapped", f"JMT times have no unit: written in seconds "
                                     f"(the model's time_unit is {spec.time_unit})")
        for field_name in ("description", "slo", "requests", "calibration"):
            if getattr(spec, field_name):
                r.add(field_name, "refused", "JMT has no such section; not written")
        for cls in spec.batches:
            r.add(f"batches.{cls}", "refused",
                  "JMT has no one-off bulk arrivals; the batch class is not written")
        for cls, a in spec.arrivals.items():
            shape = "Poisson" if a.interarrival is None else a.interarrival.name
            r.add(f"arrivals.{cls}", "mapped", f"open class, {shape} arrivals at {self.source}")
        for cls in spec.users:
            r.add(f"users.{cls}", "mapped", f"closed class; users think at {self.think[cls]}")

    def _user_classes(self) -> None:
        prios = [c.priority for c in [*self.spec.arrivals.values(), *self.spec.users.values()]]
        top = max(prios)
        if len(set(prios)) > 1:
            self.report.add("priorities", "mapped", "JMT serves the higher number first: "
                                                    f"written as {top} - priority")
        for cls, a in self.spec.arrivals.items():
            ET.SubElement(self.sim, "userClass", {
                "name": cls, "priority": str(top - a.priority), "referenceSource": self.source,
                "type": "open"})
        for cls, u in self.spec.users.items():
            ET.SubElement(self.sim, "userClass", {
                "customers": str(u.population), "name": cls, "priority": str(top - u.priority),
                "referenceSource": self.think[cls], "type": "closed"})

    # -- nodes ---------------------------------------------------------------------
    def _new_node(self, name: str) -> ET.Element:
        self.nodes.append(name)
        return ET.SubElement(self.sim, "node", {"name": name})

    def _source(self) -> None:
        node = self._new_node(self.source)
        section = ET.SubElement(node, "section", {"className": "RandomSource"})

        def arrivals(parent, cls):
            a = self.spec.arrivals.get(cls)
            gap = None if a is None else (a.interarrival or Exponential(1.0 / a.rate))
            note = service_strategy(parent, gap)
            if note:
                self.report.add(f"arrivals.{cls}.interarrival", "approximated", note)

        class_array(section, STRATEGIES + "ServiceStrategy", "ServiceStrategy", self.classes,
                    arrivals)
        ET.SubElement(node, "section", {"className": "ServiceTunnel"})
        self._router(node, {c: (dict(a.to) if c in self.spec.arrivals else {})
                            for c, a in ((c, self.spec.arrivals.get(c)) for c in self.classes)})

    def _think(self, cls: str) -> None:
        u = self.spec.users[cls]
        think = u.think_time or Deterministic(0.0)
        service = {c: (think if c == cls else Deterministic(0.0)) for c in self.classes}
        node = self._new_node(self.think[cls])
        self.stations.append(self.think[cls])
        self._buffer(node, None, "reject", "fcfs")
        self._service(node, "Delay", service, f"users.{cls}.think_time", servers=math.inf)
        self._router(node, {c: (dict(u.to) if c == cls else {}) for c in self.classes})

    def _node(self, name: str, node) -> None:
        where = f"nodes.{name}"
        if getattr(node, "label", None):
            self.report.add(f"{where}.label", "refused", "JMT shows node names only")
        if getattr(node, "failures", None):
            self.report.add(f"{where}.failures", "refused",
                            "JMT has no station failures; not written")
        if isinstance(node, (QueueNode, DelayNode)):
            self._station(name, node, where)
        elif isinstance(node, ShardsNode):
            self._shards(name, node, where)
        elif isinstance(node, BrokerNode):
            self._broker(name, node, where)
        elif isinstance(node, BatcherNode):
            self._batcher(name, node, where)
        elif isinstance(node, ForkNode):
            self._fork(name, node, where)
        elif isinstance(node, JoinNode):
            self._join(name, node, where)

    def _services(self, node) -> dict[str, Distribution]:
        return {c: node.class_service.get(c, node.service) for c in self.classes}

    def _station(self, name: str, node, where: str, member_of: str | None = None) -> None:
        element = self._new_node(name)
        self.stations.append(name)
        servers = math.inf if isinstance(node, DelayNode) else node.servers
        discipline = getattr(node, "discipline", "fcfs")
        capacity = getattr(node, "capacity", None)
        on_full = getattr(node, "on_full", "reject")
        if math.isinf(servers):
            self._buffer(element, capacity, on_full, "fcfs")
            self._service(element, "Delay", self._services(node), where, servers)
        else:
            if discipline == "mlfq":
                self.report.add(f"{where}.discipline", "approximated",
                                "JMT has no multi-level feedback queue: processor sharing "
                                "(what MLFQ approaches with short quanta) is used")
            self._buffer(element, capacity, on_full, discipline)
            server = ("PSServer" if discipline in ("ps", "mlfq") else
                      "PreemptiveServer" if discipline in PREEMPTIVE else "Server")
            self._service(element, server, self._services(node), where, servers,
                          PUT_OF[discipline])
        owner = member_of or name
        self._router(element, {c: next_of(self.spec, owner, c)
                               for c in self.classes})
        if member_of is None:
            kind = "delay" if math.isinf(servers) else f"queue ({discipline})"
            self.report.add(where, "mapped", kind)

    def _shards(self, name: str, node: ShardsNode, where: str) -> None:
        members = [f"{name}-{i}" for i in range(node.shards)]
        weights = node.weights or [1.0] * node.shards
        policy = node.routing
        if policy == "primary_secondary":
            self.report.add(f"{where}.routing", "approximated",
                            "JMT has no primary/secondary overflow: routed by weights")
        if node.rebalance is not None:
            self.report.add(f"{where}.rebalance", "refused", "JMT does not move queued jobs")
        self._routing_station(name, members, weights, policy)
        for m in members:
            self._station(m, node, where, member_of=name)
        self.report.add(where, "mapped", f"{node.shards} queues {members[0]}.. behind the "
                                         f"routing station {name} ({policy})")

    def _broker(self, name: str, node: BrokerNode, where: str) -> None:
        router = self.model.network.routers[name]
        members = list(router.members)
        self._routing_station(name, members, list(router.weights), "hash")
        for m in members:
            element = self._new_node(m)
            self.stations.append(m)
            self._buffer(element, node.capacity, "reject", "fcfs")
            self._service(element, "Server", self._services(node), where, 1)
            self._router(element, {c: next_of(self.spec, name, c)
                                   for c in self.classes})
        self.report.add(where, "approximated",
                        f"JMT has no broker with a consumer group: its {len(members)} "
                        "consumers are queues behind a routing station that sends each the "
                        "share of its partitions (partition order is not kept)")

    def _batcher(self, name: str, node: BatcherNode, where: str) -> None:
        per_item = (node.per_item.mean if node.per_item else 0.0) * (  # in W/S windows
            node.window / (node.slide or node.interval) if node.window else 1.0)
        fixed = node.fixed.mean if node.fixed else 0.0
        size = node.batch_size or 1
        mean = max(per_item + fixed / size, 1e-12)
        element = self._new_node(name)
        self.stations.append(name)
        self._buffer(element, None, "reject", "fcfs")
        self._service(element, "Server", {c: Exponential(mean) for c in self.classes}, where,
                      node.servers)
        self._router(element, {c: next_of(self.spec, name, c) for c in self.classes})
        self.report.add(where, "approximated",
                        "JMT has no micro-batcher: a queue of its servers serving each item "
                        f"in per_item{' x window / slide' if node.window else ''} + fixed / "
                        f"batch_size = {mean:.6g} s (exponential); the collection wait is lost")

    def _fork(self, name: str, node: ForkNode, where: str) -> None:
        element = self._new_node(name)
        self._buffer(element, None, "reject", "fcfs")
        ET.SubElement(element, "section", {"className": "ServiceTunnel"})
        fork = ET.SubElement(element, "section", {"className": "Fork"})
        if node.branches:
            targets = list(node.branches)
            per_link = 1
            self.report.add(where, "mapped", f"fork into {', '.join(targets)}")
        else:
            pool = _unique(f"{name}_tasks", set(self.spec.nodes) | set(self.nodes))
            targets, per_link = [pool], node.tasks
            self.report.add(where, "mapped",
                            f"fork of {node.tasks} tasks into {pool}, a queue of its "
                            f"{node.slots} slots serving task_service")
        param(fork, "parameter", "java.lang.Integer", "jobsPerLink", per_link)
        param(fork, "parameter", "java.lang.Integer", "block", -1)
        param(fork, "parameter", "java.lang.Boolean", "isSimplifiedFork", False)
        class_array(fork, STRATEGIES + "ForkStrategy", "ForkStrategy", self.classes,
                    lambda parent, cls: _fork_strategy(parent, targets, per_link))
        for t in targets:
            self.connections[name, t] = None
        if not node.branches:
            services = {c: node.class_task_service.get(c, node.task_service)
                        for c in self.classes}
            pool_element = self._new_node(targets[0])
            self.stations.append(targets[0])
            self._buffer(pool_element, None, "reject", "fcfs")
            self._service(pool_element, "Delay" if math.isinf(node.slots) else "Server",
                          services, f"{where}.task_service", node.slots)
            self._router(pool_element, {c: {node.join: 1.0} for c in self.classes})

    def _join(self, name: str, node: JoinNode, where: str) -> None:
        element = self._new_node(name)
        join = ET.SubElement(element, "section", {"className": "Join"})

        def strategy(parent, cls):
            s = param(parent, "subParameter", STRATEGIES + "JoinStrategies.NormalJoin",
                      "Standard Join")
            param(s, "subParameter", "java.lang.Integer", "numRequired",
                  node.quorum if node.quorum else -1)

        class_array(join, STRATEGIES + "JoinStrategy", "JoinStrategy", self.classes, strategy)
        ET.SubElement(element, "section", {"className": "ServiceTunnel"})
        self._router(element, {c: next_of(self.spec, name, c)
                               for c in self.classes})
        self.report.add(where, "mapped", "join" + (f" (quorum {node.quorum})"
                                                   if node.quorum else ""))

    def _routing_station(self, name: str, members: list[str], weights: list[float],
                         policy: str) -> None:
        element = self._new_node(name)
        self._buffer(element, None, "reject", "fcfs")
        ET.SubElement(element, "section", {"className": "ServiceTunnel"})
        total = sum(weights)
        share = {m: w / total for m, w in zip(members, weights)}
        for m in members:
            self.connections[name, m] = None
        if policy in ROUTER_OF:
            section = ET.SubElement(element, "section", {"className": "Router"})
            cls_name, label = ROUTER_OF[policy]

            def write(parent, cls):
                param(parent, "subParameter", ROUTING + cls_name, label)

            class_array(section, STRATEGIES + "RoutingStrategy", "RoutingStrategy",
                        self.classes, write)
        else:
            self._router(element, {c: share for c in self.classes}, exits=False)

    # -- sections ------------------------------------------------------------------
    def _buffer(self, node: ET.Element, capacity: int | None, on_full: str,
                discipline: str) -> None:
        section = ET.SubElement(node, "section", {"className": "Queue"})
        param(section, "parameter", "java.lang.Integer", "size",
              capacity if capacity is not None else -1)
        drop = "waiting queue" if on_full == "block" else "drop"
        class_array(section, "java.lang.String", "dropStrategies", self.classes,
                    lambda parent, cls: param(parent, "subParameter", "java.lang.String",
                                              "dropStrategy", drop))
        param(section, "parameter", STRATEGIES + "QueueGetStrategies.FCFSstrategy",
              "FCFSstrategy")
        put = PUT_OF[discipline]
        class_array(section, STRATEGIES + "QueuePutStrategy", "QueuePutStrategy", self.classes,
                    lambda parent, cls: param(parent, "subParameter", QUEUE_PUT + put, put))

    def _service(self, node: ET.Element, kind: str, services: dict[str, Distribution],
                 where: str, servers: float, put: str = "TailStrategy") -> None:
        """The service section; a ``PreemptiveServer`` repeats the queue's put strategy
        as its ``PreemptiveStrategy``, as JMT's GUI writes it."""
        section = ET.SubElement(node, "section", {"className": kind})
        if kind != "Delay":
            param(section, "parameter", "java.lang.Integer", "maxJobs", int(servers))
            class_array(section, "java.lang.Integer", "numberOfVisits", self.classes,
                        lambda parent, cls: param(parent, "subParameter", "java.lang.Integer",
                                                  "numberOfVisits", 1))

        def write(parent, cls):
            note = service_strategy(parent, services.get(cls))
            if note:
                self.report.add(f"{where} (class {cls})", "approximated", note)

        class_array(section, STRATEGIES + "ServiceStrategy", "ServiceStrategy", self.classes,
                    write)
        if kind == "PreemptiveServer":
            class_array(section, STRATEGIES + "QueuePutStrategy", "PreemptiveStrategy",
                        self.classes, lambda parent, cls: param(parent, "subParameter",
                                                                QUEUE_PUT + put, put))
        if kind == "PSServer":
            class_array(section, STRATEGIES + "PSStrategy", "PSStrategy", self.classes,
                        lambda parent, cls: param(parent, "subParameter",
                                                  STRATEGIES + "PSStrategies.EPSStrategy",
                                                  "EPSStrategy"))
            class_array(section, "java.lang.Double", "serviceWeights", self.classes,
                        lambda parent, cls: param(parent, "subParameter", "java.lang.Double",
                                                  "serviceWeight", 1.0))

    def _exit(self, cls: str) -> str:
        return self.think[cls] if cls in self.think else self.sink

    def _router(self, node: ET.Element, routes: dict[str, dict[str, float]],
                exits: bool = True) -> None:
        """A ``Router`` section: per class, probabilities to the next nodes; the rest of
        each route (jobs that leave) goes to the sink or the class's think station."""
        section = ET.SubElement(node, "section", {"className": "Router"})
        name = node.get("name")

        def write(parent, cls):
            route = {t: p for t, p in routes.get(cls, {}).items() if p > 0}
            rest = 1.0 - sum(route.values())
            if exits and routes.get(cls) is not None and rest > 1e-12 and \
                    (route or name in self.reach(cls)):
                route[self._exit(cls)] = route.get(self._exit(cls), 0.0) + rest
            if not route:
                param(parent, "subParameter", ROUTING + "RandomStrategy", "Random")
                return
            strategy = param(parent, "subParameter", ROUTING + "EmpiricalStrategy",
                             "Probabilities")
            entries = param(strategy, "subParameter", "jmt.engine.random.EmpiricalEntry",
                            "EmpiricalEntryArray", array=True)
            for target, p in route.items():
                self.connections[name, target] = None
                entry = param(entries, "subParameter", "jmt.engine.random.EmpiricalEntry",
                              "EmpiricalEntry")
                param(entry, "subParameter", "java.lang.String", "stationName", target)
                param(entry, "subParameter", "java.lang.Double", "probability", float(p))

        class_array(section, STRATEGIES + "RoutingStrategy", "RoutingStrategy", self.classes,
                    write)

    def reach(self, cls: str) -> set[str]:
        """The nodes jobs of ``cls`` visit (only there do their exits need a link)."""
        if cls not in self._reach:
            seen = class_reach(self.spec, cls)
            members = {m for n in seen if n in self.model.network.routers
                       for m in self.model.network.routers[n].members}
            self._reach[cls] = seen | members
        return self._reach[cls]

    # -- measures, preload, GUI ----------------------------------------------------
    def _measures(self) -> None:
        for station in self.stations:
            for measure in STATION_MEASURES:
                ET.SubElement(self.sim, "measure", {
                    "alpha": "0.01", "name": f"{station}_{measure}", "nodeType": "station",
                    "precision": "0.03", "referenceNode": station, "referenceUserClass": "",
                    "type": measure, "verbose": "false"})
        for measure in SYSTEM_MEASURES:
            ET.SubElement(self.sim, "measure", {
                "alpha": "0.01", "name": measure, "nodeType": "", "precision": "0.03",
                "referenceNode": "", "referenceUserClass": "", "type": measure,
                "verbose": "false"})
        self.report.add("measures", "mapped",
                        "response time, utilization, throughput and number of customers at "
                        "every station, and the system's response time and throughput")

    def _preload(self) -> None:
        if not self.spec.users:
            return
        preload = ET.SubElement(self.sim, "preload")
        for cls, u in self.spec.users.items():
            station = ET.SubElement(preload, "stationPopulations",
                                    {"stationName": self.think[cls]})
            ET.SubElement(station, "classPopulation",
                          {"population": str(u.population), "refClass": cls})

    def _gui(self, archive: ET.Element) -> None:
        gui = ET.SubElement(archive, "jmodel",
                            {"xsi:noNamespaceSchemaLocation": "JModelGUI.xsd"})
        palette = ["#FF0000FF", "#FF00FF00", "#FFFF0000", "#FFFF00FF", "#FF00FFFF"]
        for i, cls in enumerate(self.classes):
            ET.SubElement(gui, "userClass", {"color": palette[i % len(palette)], "name": cls})
        for i, name in enumerate(self.nodes):
            station = ET.SubElement(gui, "station", {"name": name})
            ET.SubElement(station, "position", {
                "rotate": "false", "x": repr(60.0 + 140.0 * (i % 6)),
                "y": repr(60.0 + 120.0 * (i // 6))})


def _fork_strategy(parent: ET.Element, targets: list[str], per_link: int) -> None:
    """JMT's ``ProbabilitiesFork`` sending ``per_link`` tasks down every link, as its GUI
    writes it (JMT's Fork section reads the strategy, not ``jobsPerLink``)."""
    fork = STRATEGIES + "ForkStrategies."
    entry = "jmt.engine.random.EmpiricalEntry"
    strategy = param(parent, "subParameter", fork + "ProbabilitiesFork", "Branch Probabilities")
    paths = param(strategy, "subParameter", fork + "OutPath", "EmpiricalEntryArray", array=True)
    for target in targets:
        path = param(paths, "subParameter", fork + "OutPath", "OutPathEntry")
        unit = param(path, "subParameter", entry, "outUnitProbability")
        param(unit, "subParameter", "java.lang.String", "stationName", target)
        param(unit, "subParameter", "java.lang.Double", "probability", 1.0)
        jobs = param(path, "subParameter", entry, "JobsPerLinkDis", array=True)
        count = param(jobs, "subParameter", entry, "EmpiricalEntry")
        param(count, "subParameter", "java.lang.String", "numbers", per_link)
        param(count, "subParameter", "java.lang.Double", "probability", 1.0)


def _unique(name: str, taken: set) -> str:
    while name in taken:
        name += "_"
    return name
