"""The building blocks of JMT's simulation XML (``SIMmodeldefinition.xsd``): parameters,
sub-parameters, per-class arrays and distributions, written and read."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..distributions import Deterministic, Distribution
from ..errors import QModelError
from .dists import CLASS_OF, ENGINE, from_jmt, to_jmt

STRATEGIES = "jmt.engine.NetStrategies."
SERVICE_TIME = STRATEGIES + "ServiceStrategies.ServiceTimeStrategy"
ZERO_TIME = STRATEGIES + "ServiceStrategies.ZeroServiceTimeStrategy"


def param(parent: ET.Element, tag: str, class_path: str, name: str | None = None,
          value: object | None = None, array: bool = False) -> ET.Element:
    """A ``parameter`` or ``subParameter`` element, with a ``value`` child when given."""
    element = ET.SubElement(parent, tag)
    if array:
        element.set("array", "true")
    element.set("classPath", class_path)
    if name is not None:
        element.set("name", name)
    if value is not None:
        ET.SubElement(element, "value").text = _text(value)
    return element


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def class_array(section: ET.Element, class_path: str, name: str, classes: list[str],
                write) -> ET.Element:
    """A per-class array parameter: ``refClass`` then what ``write(parent, cls)`` adds."""
    array = param(section, "parameter", class_path, name, array=True)
    for cls in classes:
        ET.SubElement(array, "refClass").text = cls
        write(array, cls)
    return array


def service_strategy(parent: ET.Element, dist: Distribution | None) -> str:
    """A ``ServiceTimeStrategy`` for ``dist`` (``null`` when None); the mapping note."""
    if isinstance(dist, Deterministic) and dist.value == 0:
        param(parent, "subParameter", ZERO_TIME, "ZeroServiceTimeStrategy")
        return ""
    strategy = param(parent, "subParameter", SERVICE_TIME, "ServiceTimeStrategy")
    if dist is None:
        ET.SubElement(strategy, "value").text = "null"
        return ""
    name, params, note = to_jmt(dist)
    engine, par = CLASS_OF[name]
    param(strategy, "subParameter", ENGINE + engine, name)
    block = param(strategy, "subParameter", ENGINE + par, "distrPar")
    for pname, java, value in params:
        param(block, "subParameter", java, pname, value)
    return note


def read_service(strategy: ET.Element, where: str) -> tuple[Distribution | None, str]:
    """The distribution of a ``ServiceTimeStrategy`` sub-parameter (None: ``null``) and a
    note (empty when exact)."""
    path = strategy.get("classPath", "")
    if path == ZERO_TIME:
        return Deterministic(0.0), ""
    if path != SERVICE_TIME:
        short = path.rsplit(".", 1)[-1]
        raise QModelError(f"{where}: service strategy {short} has no qmodel equivalent "
                          "(qmodel reads ServiceTimeStrategy and ZeroServiceTimeStrategy)")
    subs = strategy.findall("subParameter")
    if not subs:
        return None, ""
    engine = subs[0].get("classPath", "")
    params: dict[str, float] = {}
    if len(subs) > 1:
        for p in subs[1].findall("subParameter"):
            params[p.get("name", "")] = number(p.findtext("value"), f"{where}.{p.get('name')}")
    return from_jmt(engine, params, where)


def number(text: str | None, where: str) -> float:
    """A JMT number (``Infinity`` allowed)."""
    try:
        return float((text or "").strip())
    except ValueError:
        raise QModelError(f"{where}: expected a number, got {text!r}") from None


def per_class(parameter: ET.Element | None) -> dict[str, ET.Element]:
    """``{class: its sub-parameter}`` of a per-class array parameter."""
    out: dict[str, ET.Element] = {}
    if parameter is None:
        return out
    current = None
    for child in parameter:
        if child.tag == "refClass":
            current = (child.text or "").strip()
        elif child.tag == "subParameter" and current is not None:
            out[current] = child
            current = None
    return out


def find_param(section: ET.Element | None, name: str) -> ET.Element | None:
    if section is None:
        return None
    return next((p for p in section.findall("parameter") if p.get("name") == name), None)
