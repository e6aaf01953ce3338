"""Models in and out: JMT's JSIMgraph (``.jsimg``, ``.jsim``) and JMVA (``.jmva``) files.

``read_jmt(path)`` gives a :class:`~qmodel.model.model.Model` and a
:class:`MappingReport`; ``write_jmt(model, path, to=...)`` writes a JMT file and returns
the report. The report names every part that did not map exactly, with the nearest
equivalent used (``approximated``) or why it was left out (``refused``); nothing is
dropped silently. XML is read defused (no DTD, entities or external references) and
bounded in size and depth. The mapping table is in ``docs/interoperability.md``.

>>> import tempfile, pathlib
>>> from qmodel.model.model import Model
>>> m = Model.from_dict({"users": {"u": {"to": "cpu", "population": 2}},
...                      "nodes": {"cpu": {"kind": "queue", "service": 0.05}}})
>>> path = pathlib.Path(tempfile.mkdtemp()) / "m.jsimg"
>>> write_jmt(m, path).exact
True
>>> back, report = read_jmt(path)
>>> back.network.station("cpu").service["u"].mean, back.spec.users["u"].population
(0.05, 2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..errors import QModelError
from ..model.model import Model
from .jmva import read_jmva, write_jmva
from .jsimg_read import read_jsim
from .jsimg_write import write_jsimg
from .report import Mapping, MappingReport, StoredSolution
from .solutions import compare_solution
from .xmlsafe import parse_xml, read_bytes

FORMATS = ("jsimg", "jmva")
SUFFIXES = (".jsimg", ".jsim", ".jmva")


def read_jmt(path: str | Path) -> tuple[Model, MappingReport]:
    """Read a JMT file (by its root element: ``archive``/``sim`` or JMVA's ``model``)."""
    return from_jmt_bytes(read_bytes(path), str(path))


def from_jmt_bytes(data: bytes, source: str = "upload") -> tuple[Model, MappingReport]:
    """:func:`read_jmt` of a document already in memory (an upload)."""
    root = parse_xml(data, source)
    if root.tag in ("archive", "sim"):
        doc, report = read_jsim(root, source)
    elif root.tag == "model":
        doc, report = read_jmva(root, source)
    else:
        raise QModelError(f"{source}: not a JMT model: the root element is <{root.tag}>; "
                          "JSIMgraph files start with <archive> or <sim>, JMVA files "
                          "with <model>")
    try:
        model = Model.from_dict(doc, source=source)
    except QModelError as exc:
        raise QModelError(f"{source}: the model read from JMT is not valid: {exc}") from None
    return model, report


def to_jmt_bytes(model: Model, to: Literal["jsimg", "jmva"] = "jsimg",
                 name: str = "model") -> tuple[bytes, MappingReport]:
    """The JMT document of ``model`` in memory (a download) and its report."""
    if to == "jsimg":
        return write_jsimg(model, f"{name}.jsimg")
    if to == "jmva":
        return write_jmva(model, f"{name}.jmva")
    raise QModelError(f"to: must be one of {', '.join(FORMATS)}, got {to!r}")


def write_jmt(model: Model, path: str | Path,
              to: Literal["jsimg", "jmva"] | None = None) -> MappingReport:
    """Write ``model`` as a JMT file (``to`` defaults to the path's suffix)."""
    path = Path(path)
    fmt = to or path.suffix.lstrip(".").lower()
    data, report = to_jmt_bytes(model, fmt, path.stem)  # type: ignore[arg-type]
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise QModelError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return report


__all__ = ["read_jmt", "write_jmt", "from_jmt_bytes", "to_jmt_bytes", "compare_solution",
           "MappingReport", "Mapping", "StoredSolution", "FORMATS", "SUFFIXES"]
