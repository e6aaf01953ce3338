"""JMT's exact-solver files (JMVA, ``.jmva``) both ways, with their stored solutions.

A JMVA model is stations with, per class, a mean service time and a mean number of
visits, and classes with a population (closed) or an arrival rate (open). qmodel reads
each class as a route through the stations in file order: a station with ``V`` visits
per job is entered once and revisited with probability ``1 - 1/V`` (``V >= 1``), so the
service time and the visits are both kept; with ``V < 1`` the station is visited once
and serves ``V x S`` (the same demand, which is all the product-form solution uses).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from ..errors import QModelError
from ..model.model import Model
from .jsim_xml import number
from .report import MappingReport, StoredSolution

MEASURES = ("Number of Customers", "Throughput", "Residence time", "Utilization")


def read_jmva(root: ET.Element, source: str) -> tuple[dict, MappingReport]:
    """The qmodel document and mapping report of a JMVA file's XML root; the report's
    ``solutions`` hold the solutions stored in the file.

    >>> from qmodel.io.xmlsafe import parse_xml
    >>> doc, report = read_jmva(parse_xml(EXAMPLE), "ex.jmva")
    >>> doc["users"], doc["nodes"]["cpu"]["service"]
    ({'c': {'population': 3, 'to': 'cpu'}}, {'dist': 'exponential', 'mean': 0.05})
    """
    if root.tag != "model":
        raise QModelError(f"{source}: not a JMVA model (the root is <{root.tag}>, "
                          "not <model>)")
    report = MappingReport(source, "qmodel model")
    params = root.find("parameters")
    if params is None or params.find("classes") is None or params.find("stations") is None:
        raise QModelError(f"{source}: a JMVA model needs <parameters> with <classes> and "
                          "<stations>")
    arrivals, users = {}, {}
    for element in params.find("classes"):
        name = element.get("name", "")
        if element.tag == "closedclass":
            n = number(element.get("population"), f"classes.{name}.population")
            if n < 1 or n != int(n):
                raise QModelError(f"{source}: closed class {name!r} has population {n:g}; a "
                                  "positive whole number is needed")
            users[name] = {"population": int(n)}
        elif element.tag == "openclass":
            rate = number(element.get("rate"), f"classes.{name}.rate")
            if not rate > 0:
                raise QModelError(f"{source}: open class {name!r} has rate {rate:g}")
            arrivals[name] = {"rate": rate}
        else:
            raise QModelError(f"{source}: class element <{element.tag}> is not read")
        report.add(f"class {name!r}", "mapped", element.tag)
    classes = [*arrivals, *users]
    from .jsimg_read import _qmodel_names
    stations = list(params.find("stations"))
    names = _qmodel_names([s.get("name", "") for s in stations])
    nodes: dict[str, dict] = {}
    demand: dict[str, dict[str, tuple[float, float]]] = {}
    for s in stations:
        name = s.get("name", "")
        q = names[name]
        if s.tag not in ("listation", "delaystation", "ldstation"):
            raise QModelError(f"{source}: station {name!r} is a <{s.tag}>; qmodel reads "
                              "listation, delaystation and ldstation")
        times = _per_class(s.find("servicetimes"), name, source, s.tag == "ldstation")
        visits = _per_class(s.find("visits"), name, source)
        demand[q] = {c: (times.get(c, 0.0), visits.get(c, 0.0)) for c in classes}
        node: dict = {"kind": "delay" if s.tag == "delaystation" else "queue"}
        if q != name:
            node["label"] = name
        servers = s.get("servers")
        if s.tag != "delaystation" and servers and int(servers) != 1:
            node["servers"] = int(servers)
        nodes[q] = node
        if s.tag == "ldstation":
            report.add(f"station {name!r}", "approximated",
                       "load-dependent service: the service time at one job is used")
        else:
            report.add(f"station {name!r}", "mapped", s.tag)
    _routes(nodes, demand, classes, arrivals, users, report)
    doc = {"name": (root.get("name") or source.rsplit("/", 1)[-1]).removesuffix(".jmva"),
           "time_unit": "s", "nodes": nodes}
    if root.findtext("description"):
        doc["description"] = root.findtext("description").strip()
    if arrivals:
        doc["arrivals"] = arrivals
    if users:
        doc["users"] = users
    for tag in ("blockingRegion", "whatIf"):
        if root.find(tag) is not None:
            report.add(tag, "refused", "not read: qmodel has no such section in a model")
    report.solutions.extend(_solutions(root, names, source))
    return doc, report


def _per_class(element: ET.Element | None, station: str, source: str,
               load_dependent: bool = False) -> dict[str, float]:
    if element is None:
        raise QModelError(f"{source}: station {station!r} has no service times or visits")
    out = {}
    for item in element:
        cls = item.get("customerclass", "")
        text = (item.text or "").strip()
        if load_dependent:  # "s1;s2;..." service times at 1, 2, ... jobs
            text = text.split(";")[0]
        out[cls] = number(text, f"stations.{station}.{element.tag}.{cls}")
        if out[cls] < 0:
            raise QModelError(f"{source}: station {station!r} has a negative "
                              f"{item.tag} for class {cls!r}")
    return out


def _routes(nodes, demand, classes, arrivals, users, report) -> None:
    """Each class's route through the stations it visits, in file order."""
    for cls in classes:
        path = []
        for q, per in demand.items():
            s, v = per[cls]
            if s <= 0 or v <= 0:
                continue
            path.append(q)
            node = nodes[q]
            service = {"dist": "exponential", "mean": s if v >= 1 else s * v}
            if v < 1:
                report.add(f"station {q!r} class {cls!r}", "approximated",
                           f"{v:g} visits: one visit of {v:g} x the service time (same "
                           "demand); the station's throughput is the class's, not V times it")
            node.setdefault("_service", {})[cls] = service
            node.setdefault("_next", {})[cls] = {q: 1 - 1 / v} if v > 1 else {}
        if not path:
            raise QModelError(f"class {cls!r} visits no station with a positive service time")
        for here, there in zip(path, path[1:]):
            nodes[here]["_next"][cls][there] = 1 - sum(nodes[here]["_next"][cls].values())
        (arrivals.get(cls) or users[cls])["to"] = path[0]
    for node in nodes.values():
        services, routes = node.pop("_service", {}), node.pop("_next", {})
        if not services:
            node["service"] = {"dist": "exponential", "mean": 1.0}
            continue
        first = next(iter(services.values()))
        node["service"] = first
        extra = {c: d for c, d in services.items() if d != first}
        if extra:
            node["class_service"] = extra
        node["class_next"] = {c: r for c, r in routes.items()}
        if len({repr(r) for r in routes.values()}) == 1:
            node["next"] = node.pop("class_next")[next(iter(routes))]
        if not node.get("next", True):
            node.pop("next")


def _solutions(root: ET.Element, names: dict[str, str], source: str) -> list[StoredSolution]:
    out = []
    for sol in root.findall("solutions"):
        values: dict[str, dict[str, dict[str, float]]] = {}
        for st in sol.findall("stationresults"):
            station = names.get(st.get("station", ""), st.get("station", ""))
            for cr in st.findall("classresults"):
                per = values.setdefault(station, {}).setdefault(cr.get("customerclass", ""), {})
                for m in cr.findall("measure"):
                    if m.get("meanValue") is not None:
                        per[m.get("measureType", "")] = number(
                            m.get("meanValue"), f"solutions.{station}.{m.get('measureType')}")
        out.append(StoredSolution(sol.get("solutionMethod", "analytical"), values))
    return out


def write_jmva(model: Model, name: str = "model.jmva") -> tuple[bytes, MappingReport]:
    """The JMVA document of a product-form ``model`` and the report of what mapped;
    a model JMVA cannot hold (forks, capacities, priorities, batchers, batch classes) is
    refused with a :class:`QModelError` that names each part.

    >>> m = Model.from_dict({"users": {"u": {"to": "cpu", "population": 2}},
    ...                      "nodes": {"cpu": {"kind": "queue", "service": 0.05}}})
    >>> write_jmva(m)[0].count(b"<listation")
    1
    """
    net, report = model.network, MappingReport(model.source or model.name, name)
    refused = [f"batches.{c.name}" for c in net.batch_classes]
    refused += [f"arrivals.{c}.rate (a rate profile)" for c in net.profiles]
    for s in net.stations:
        if s.kind in ("fork", "join", "batcher"):
            refused.append(f"{s.component} ({s.kind})")
        elif s.capacity is not None:
            refused.append(f"{s.component} (capacity {s.capacity})")
        elif s.discipline in ("priority", "priority-preemptive"):
            refused.append(f"{s.component} ({s.discipline} discipline)")
    if refused:
        raise QModelError("JMVA holds product-form models only; these parts have no JMVA "
                          f"equivalent: {', '.join(dict.fromkeys(refused))} (export --to "
                          "jsimg instead)")
    classes = list(net.classes)
    for field_name in ("slo", "requests", "calibration"):
        if getattr(model.spec, field_name):
            report.add(field_name, "refused", "JMVA has no such section; not written")
    for component in net.failures:
        report.add(f"nodes.{component}.failures", "refused", "JMVA has no failures")
    for component, router in net.routers.items():
        if router.policy not in ("hash", "random"):
            report.add(f"nodes.{component}", "approximated",
                       f"{router.policy} routing: JMVA has visits only; each member gets "
                       "its share of the traffic")
    root = ET.Element("model", {"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                                "xsi:noNamespaceSchemaLocation": "JMTmodel.xsd"})
    if model.spec.description:
        ET.SubElement(root, "description").text = model.spec.description
    params = ET.SubElement(root, "parameters")
    cls_el = ET.SubElement(params, "classes", {"number": str(len(classes))})
    for c in classes:
        if c.kind == "open":
            ET.SubElement(cls_el, "openclass", {"name": c.name, "rate": repr(c.rate)})
            if c.interarrival is not None and not c.interarrival.is_exponential:
                report.add(f"arrivals.{c.name}.interarrival", "approximated",
                           "JMVA assumes Poisson arrivals")
        else:
            ET.SubElement(cls_el, "closedclass", {"name": c.name,
                                                  "population": str(c.population)})
        report.add(f"class {c.name!r}", "mapped", f"{c.kind} class")
    thinking = [c for c in net.closed_classes if c.think is not None and c.think.mean > 0]
    taken = {s.name for s in net.stations}
    think = "think"
    while think in taken:
        think += "_"
    rows = []
    if thinking:
        rows.append((think, "delaystation", None,
                     {c.name: (c.think.mean if c in thinking else 0.0,
                               1.0 if c in thinking else 0.0) for c in classes}))
        report.add(f"station {think!r}", "mapped", "the closed classes' think times")
    for s in net.stations:
        per = {}
        for c in classes:
            v = float(net.visits(c.name)[net.index[s.name]])
            d = s.service.get(c.name)
            per[c.name] = (d.mean if d is not None else 0.0, v)
            if d is not None and v > 0 and not d.is_exponential and s.kind != "delay" and \
                    s.discipline == "fcfs":
                report.add(f"{s.name} (class {c.name})", "approximated",
                           f"JMVA uses the mean service time only ({d.name} at a FCFS "
                           "station: the product-form answer assumes exponential)")
        if s.discipline == "mlfq":
            report.add(f"{s.name}.discipline", "approximated", "MLFQ solved as PS by JMVA")
        kind = "delaystation" if math.isinf(s.servers) else "listation"
        rows.append((s.name, kind, None if kind == "delaystation" else int(s.servers), per))
        report.add(f"station {s.name!r}", "mapped", kind)
    stations = ET.SubElement(params, "stations", {"number": str(len(rows))})
    for station, kind, servers, per in rows:
        attrs = {"name": station}
        if servers is not None:
            attrs["servers"] = str(servers)
        el = ET.SubElement(stations, kind, attrs)
        times = ET.SubElement(el, "servicetimes")
        for c in classes:
            ET.SubElement(times, "servicetime", {"customerclass": c.name}).text = \
                repr(per[c.name][0])
        visits = ET.SubElement(el, "visits")
        for c in classes:
            ET.SubElement(visits, "visit", {"customerclass": c.name}).text = \
                repr(per[c.name][1])
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + body + "\n"
            ).encode("utf-8"), report


EXAMPLE = """<model><parameters>
<classes number="1"><closedclass name="c" population="3"/></classes>
<stations number="1"><listation name="cpu">
<servicetimes><servicetime customerclass="c">0.05</servicetime></servicetimes>
<visits><visit customerclass="c">1</visit></visits></listation></stations>
</parameters></model>"""
"""A one-station closed JMVA model (the doctest above reads it)."""
