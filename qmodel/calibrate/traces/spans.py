"""The one span record every reader produces, and the bounded reading of span files.

A span file is untrusted input: :func:`documents` refuses files over ``max_bytes`` before
reading them, text that is not UTF-8, NaN and infinities, integers of more than 40 digits
and nesting deeper than Python's JSON parser allows, each as a :class:`ModelError` naming
the file (and the line, for JSON lines). The readers then check every field they use and
name the record at fault: ``spans.json line 3: span 2: startTimeUnixNano: not an
integer, got 'x'``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from ...errors import ModelError, Problem

KINDS = ("server", "client", "producer", "consumer", "internal")
MAX_BYTES = 64 * 2**20  # per file; a larger export is split, or max_bytes= raised
MAX_SPANS = 2_000_000  # over all files
MAX_ID = 128  # characters of a trace or span id
MAX_DEPTH = 8  # of a nested attribute value; deeper values are cut to a string


@dataclass(frozen=True, slots=True)
class Span:
    """One span, whatever format it came from. Times are seconds since the epoch;
    ``kind`` is one of :data:`KINDS`; ``links`` are ``(trace_id, span_id)`` pairs;
    ``host`` is the clock it was timed by (``host.name`` when known, else the service)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: str
    start: float
    end: float
    attributes: Mapping[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()
    host: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


def fail(where: str, message: str) -> NoReturn:
    """Raise the error a bad span file gives: ``where: message``."""
    raise ModelError([Problem(where, message)])


def documents(path: Path, max_bytes: int = MAX_BYTES) -> Iterator[tuple[str, Any]]:
    """The JSON documents in ``path`` with where each came from: one document
    (``("spans.json", doc)``) or JSON lines, one per line (``("spans.json line 3", doc)``)
    as the OpenTelemetry Collector's file exporter writes them."""
    name = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        fail(name, f"cannot read: {exc.strerror or exc}")
    if size > max_bytes:
        fail(name, f"{size / 2**20:.1f} MB is over the limit of {max_bytes / 2**20:.0f} MB "
                   "per file; split the export into several files (a directory is read "
                   "whole) or raise max_bytes")
    raw = path.read_bytes()[:max_bytes + 1]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(name, f"not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})")
    if not text.strip():
        fail(name, "empty file: no spans")
    try:
        yield name, _loads(text)
        return
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            fail(name, f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
                       + (" (the file looks truncated)" if exc.pos >= len(text.rstrip()) else ""))
    except _RefusedError as exc:
        fail(name, str(exc))
    for number, line in enumerate(text.splitlines(), 1):  # JSON lines
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            yield where, _loads(line)
        except json.JSONDecodeError as exc:
            fail(where, f"not valid JSON at column {exc.colno}: {exc.msg}"
                        + (" (the line looks truncated)" if exc.pos >= len(line.rstrip()) else ""))
        except _RefusedError as exc:
            fail(where, str(exc))


class _RefusedError(ValueError):
    pass


def _constant(name: str) -> NoReturn:
    raise _RefusedError(f"{name} is not a number JSON allows")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 40:
        raise _RefusedError(f"an integer of {len(text)} digits ({text[:12]}...) is out of range")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _RefusedError(f"{text[:20]} is out of range")
    return value


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_constant, parse_int=_int, parse_float=_float)
    except RecursionError:
        raise _RefusedError("nested too deeply to be a span file") from None


# -- checking fields ------------------------------------------------------------------------

def obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        fail(where, f"expected an object, got {_show(value)}")
    return value


def items(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        fail(where, f"expected a list, got {_show(value)}")
    return value


def text(record: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = record.get(key, default)
    if value is None:
        fail(f"{where}: {key}", "missing")
    if not isinstance(value, str):
        fail(f"{where}: {key}", f"expected a string, got {_show(value)}")
    return value


def ident(record: Mapping[str, Any], key: str, where: str, required: bool = True) -> str | None:
    """A trace or span id: a non-empty string of at most :data:`MAX_ID` characters (an
    integer is taken as its decimal text); ``None`` when absent, empty or all zeros and
    not required."""
    value = record.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or (isinstance(value, str) and value.strip("0") == ""):
        if required:
            fail(f"{where}: {key}", "missing" if not value else f"not a valid id: {value!r}")
        return None
    if not isinstance(value, str):
        fail(f"{where}: {key}", f"expected an id string, got {_show(value)}")
    if len(value) > MAX_ID:
        fail(f"{where}: {key}", f"an id of {len(value)} characters is too long")
    return value.lower()


def integer(record: Mapping[str, Any], key: str, where: str, strings: bool = False,
            high: int = 2**64) -> int:
    """A non-negative integer (also as decimal text when ``strings``), below ``high``."""
    value = record.get(key)
    if value is None:
        fail(f"{where}: {key}", "missing")
    if strings and isinstance(value, str) and value.isdigit() and len(value) <= 20:
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        fail(f"{where}: {key}", f"not an integer, got {_show(value)}")
    if not 0 <= value < high:
        fail(f"{where}: {key}", f"out of range, got {value}")
    return value


def times(start: int, end: int, scale: float, where: str, keys: tuple[str, str]
          ) -> tuple[float, float]:
    """Start and end in seconds from integer ticks of ``scale`` seconds; the end must not
    come before the start."""
    if end < start:
        fail(f"{where}: {keys[1]}", f"ends before it starts ({end} < {start})")
    return start * scale, end * scale


def plain(value: Any, depth: int = 0) -> Any:
    """An attribute value as plain Python, cut to a string below :data:`MAX_DEPTH`."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if depth >= MAX_DEPTH:
        return "..."
    if isinstance(value, list):
        return [plain(v, depth + 1) for v in value[:100]]
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in list(value.items())[:100]}
    return str(value)


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
