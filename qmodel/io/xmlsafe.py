"""Reading untrusted XML: defused (no DTD, so no entity expansion and no external
entities), bounded in size, depth and element count, every failure a :class:`QModelError`.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ..errors import QModelError

MAX_BYTES = 20_000_000
"""Largest file read (JMT's own example models are below 100 kB)."""
MAX_DEPTH = 64
"""Deepest element nesting accepted (JMT's files nest about ten deep)."""
MAX_ELEMENTS = 200_000
"""Most elements read (a JMT station takes about fifty)."""


def parse_xml(data: bytes | str, where: str = "the file") -> ET.Element:
    """The root element of an XML document, read without a DTD.

    >>> parse_xml(b"<sim name='m'><node name='q'/></sim>").find("node").get("name")
    'q'
    >>> parse_xml('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    Traceback (most recent call last):
    ...
    qmodel.errors.QModelError: the file: a DTD (<!DOCTYPE>) is refused: no entities, no external files
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise QModelError(f"{where}: {len(raw):,} bytes is larger than the "
                          f"{MAX_BYTES:,} bytes read")
    try:
        return _parse_bounded(raw, where)
    except (DefusedXmlException, ValueError) as exc:
        if "DTD" in type(exc).__name__ or "DTD" in str(exc):
            raise QModelError(f"{where}: a DTD (<!DOCTYPE>) is refused: no entities, "
                              "no external files") from None
        raise QModelError(f"{where}: unsafe XML refused ({exc})") from None
    except ET.ParseError as exc:
        raise QModelError(f"{where}: not well-formed XML ({exc})") from None


def _parse_bounded(raw: bytes, where: str) -> ET.Element:
    """Parse incrementally, stopping as soon as the nesting or the element count is too
    large (before a hostile document is built in memory)."""
    depth = count = 0
    root = None
    for event, element in SafeET.iterparse(io.BytesIO(raw), events=("start", "end"),
                                           forbid_dtd=True, forbid_entities=True,
                                           forbid_external=True):
        if event == "end":
            depth -= 1
            continue
        root = element if root is None else root
        depth, count = depth + 1, count + 1
        if depth > MAX_DEPTH:
            raise QModelError(f"{where}: elements nest deeper than {MAX_DEPTH} levels")
        if count > MAX_ELEMENTS:
            raise QModelError(f"{where}: more than {MAX_ELEMENTS:,} elements")
    if root is None:
        raise QModelError(f"{where}: no XML element")
    return root


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, its size checked before it is read."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise QModelError(f"{path}: {size:,} bytes is larger than the "
                              f"{MAX_BYTES:,} bytes read")
        return path.read_bytes()
    except OSError as exc:
        raise QModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
