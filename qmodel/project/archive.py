"""A project file: one zip archive ``NAME.qmodel.zip`` holding the model as typed and
whichever results were saved with it.

Members (only these names; each optional except the first two)::

    manifest.json     {"schema": "qmodel.project/1", "name", "qmodel_version", "created",
                       "members": [...]}
    model.yaml        the model's YAML text, byte for byte as typed
    solve.json        ``qmodel solve --json`` (schema qmodel.result/1)
    simulate.json     ``qmodel simulate --json``
    sweep.csv         a sweep's table
    validation.json   a validation report

A zip rather than one JSON document: the YAML stays a text file with its comments, the
sweep a CSV any spreadsheet opens, each result the exact ``--json`` document, and
``unzip -l`` shows what a project holds. Reading never extracts to disk: the archive is
read into memory (at most :data:`MAX_ARCHIVE_BYTES`), its directory checked — names from
the list above only, at most :data:`MAX_MEMBERS` members, each member's declared size
within its cap and their sum within :data:`MAX_TOTAL_BYTES` — before any member is
inflated, and each is inflated only up to its declared size.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ModelError, QModelError, shown
from ..model.files import MAX_MODEL_BYTES, read_bounded
from ..model.parse import read_yaml
from ..results import finite_json
from ..units import TIME_UNITS

SCHEMA = "qmodel.project/1"
RESULT_SCHEMA = "qmodel.result/1"
SUFFIX = ".qmodel.zip"
MAX_ARCHIVE_BYTES = 64 << 20
"""The largest project file read (64 MiB)."""
MAX_MEMBER_BYTES = 32 << 20
"""The largest uncompressed result member (32 MiB); ``model.yaml`` is capped as a model
file is (:data:`~qmodel.model.files.MAX_MODEL_BYTES`), ``manifest.json`` at 64 KiB."""
MAX_TOTAL_BYTES = 96 << 20
"""The most uncompressed bytes a project may hold in all (a zip bomb is refused unread)."""
MAX_MEMBERS = 8
MAX_DIRECTORY_BYTES = 64 << 10
"""The largest zip directory (its entries' names, extra fields and comments) read."""
MANIFEST, MODEL = "manifest.json", "model.yaml"
RESULTS = {"solve": "solve.json", "simulate": "simulate.json", "sweep": "sweep.csv",
           "validation": "validation.json"}
_CAPS = {MANIFEST: 64 << 10, MODEL: MAX_MODEL_BYTES} | dict.fromkeys(RESULTS.values(),
                                                                     MAX_MEMBER_BYTES)


class ProjectError(QModelError):
    """A project file that cannot be read or written; the message names the member (and
    the field in it) at fault."""


@dataclass(frozen=True, eq=False)
class Project:
    """A saved model and its results (``None`` where none was saved)."""

    name: str
    model_text: str
    qmodel_version: str
    created: str
    solve: dict | None = None
    simulate: dict | None = None
    sweep: pd.DataFrame | None = None
    validation: dict | None = None
    members: list[str] = field(default_factory=list)

    @property
    def model_dict(self) -> dict:
        """The model's YAML parsed (safely, bounded) into a dict."""
        return read_yaml(self.model_text, MODEL)


def _qmodel_version() -> str:
    try:
        return version("qmodel")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _plain(kind: str, value: Any) -> Any:
    """A result as stored: a :class:`~qmodel.results.Result` (or anything with
    ``to_dict``) as its dict, a sweep table as CSV text."""
    if kind == "sweep":
        if isinstance(value, pd.DataFrame):
            return value.to_csv(index=False)
        if isinstance(value, str):
            return value
        raise ProjectError(f"results.sweep: must be a table (DataFrame) or CSV text, "
                           f"got {type(value).__name__}")
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if not isinstance(value, dict):
        raise ProjectError(f"results.{kind}: must be a result document (a dict), got "
                           f"{type(value).__name__}")
    return finite_json(value)  # inf and NaN as null, as ``--json`` writes them


def project_bytes(model_text: str, results: Mapping[str, Any] | None = None,
                  name: str | None = None) -> bytes:
    """The project file's bytes (see :func:`save_project`), e.g. for a download."""
    results = dict(results or {})
    unknown = sorted(set(results) - set(RESULTS))
    if unknown:
        raise ProjectError(f"results: unknown kind {shown(unknown[0])}; one of "
                           f"{', '.join(RESULTS)}")
    parsed = _model(model_text)
    name = name or str(parsed.get("name") or "model")
    stored = {kind: _plain(kind, value) for kind, value in results.items() if value is not None}
    created = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = {"schema": SCHEMA, "name": name, "qmodel_version": _qmodel_version(),
                "created": created, "members": [RESULTS[k] for k in stored]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2))
        zf.writestr(MODEL, model_text)
        for kind, value in stored.items():
            zf.writestr(RESULTS[kind], value if kind == "sweep" else
                        json.dumps(value, indent=2, allow_nan=False))
    return buffer.getvalue()


def save_project(path: str | Path, model_text: str, results: Mapping[str, Any] | None = None,
                 name: str | None = None) -> Path:
    """Write ``model_text`` (YAML, kept as typed) and ``results`` — any of ``solve``,
    ``simulate`` (a :class:`~qmodel.results.Result` or its ``to_dict()``), ``sweep`` (a
    DataFrame or CSV text), ``validation`` (a dict) — to the project file ``path``.

    >>> import tempfile, qmodel
    >>> text = "name: shop\\nnodes: {app: {kind: queue, service: 10ms}}\\n" \\
    ...        "arrivals: {web: {to: app, rate: 50/s}}\\n"
    >>> path = Path(tempfile.mkdtemp()) / "shop.qmodel.zip"
    >>> _ = save_project(path, text, {"solve": qmodel.solve(qmodel.Model.from_yaml(text))})
    >>> p = load_project(path)
    >>> p.name, p.model_text == text, p.solve["system"]["mean_response_time"]["value"]
    ('shop', True, 0.02)
    """
    path = Path(path)
    path.write_bytes(project_bytes(model_text, results, name))
    return path


def _model(text: str) -> dict:
    if not isinstance(text, str):
        raise ProjectError(f"{MODEL}: must be text, got {type(text).__name__}")
    try:
        data = read_yaml(text, MODEL)
    except ModelError as exc:
        raise ProjectError(f"{MODEL}: {exc}") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{MODEL}: must be a YAML mapping (name:, nodes:, ...), got "
                           f"{type(data).__name__}")
    return data


def load_project(source: str | Path | bytes) -> Project:
    """A project from its file (or its bytes, as an upload gives them), checked: every
    problem is a :class:`ProjectError` naming the member and field at fault."""
    if isinstance(source, bytes):
        data = source
        if len(data) > MAX_ARCHIVE_BYTES:
            raise ProjectError(f"a project file is at most {MAX_ARCHIVE_BYTES >> 20} MiB")
    else:
        try:
            data = read_bounded(Path(source), MAX_ARCHIVE_BYTES)
        except OSError as exc:
            raise ProjectError(f"{source}: {exc.strerror or exc}") from None
    _check_directory(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise ProjectError(f"not a project file (a {SUFFIX} zip archive)") from None
    with archive:
        raw = _members(archive)
    manifest = _json(MANIFEST, raw, required=True)
    _check_manifest(manifest)
    if MODEL not in raw:
        raise ProjectError(f"{MODEL}: missing (a project holds its model)")
    text = _text(MODEL, raw[MODEL])
    _model(text)
    solve, simulate = (_result(RESULTS[k], _json(RESULTS[k], raw)) for k in ("solve", "simulate"))
    validation = _json(RESULTS["validation"], raw)
    if validation is not None and not isinstance(validation, dict):
        raise ProjectError(f"{RESULTS['validation']}: must be a JSON object")
    return Project(manifest["name"], text, manifest["qmodel_version"], manifest["created"],
                   solve, simulate, _sweep(raw.get(RESULTS["sweep"])), validation,
                   sorted(raw))


def _check_directory(data: bytes) -> None:
    """Refuse, from the end-of-directory record alone, an archive whose directory is too
    large to be a project's, before ``zipfile`` parses every entry of it (a directory of a
    million entries would take gigabytes as objects)."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - (22 + 0xFFFF)))
    if at < 0 or len(data) < at + 22:
        raise ProjectError(f"not a project file (a {SUFFIX} zip archive)")
    entries, size = struct.unpack("<HL", data[at + 10:at + 16])
    if entries > MAX_MEMBERS:
        raise ProjectError(f"holds {entries:,} members; a project has at most {MAX_MEMBERS}")
    if size > MAX_DIRECTORY_BYTES:
        raise ProjectError(f"its zip directory is {size:,} bytes; a project's is at most "
                           f"{MAX_DIRECTORY_BYTES:,}")


def _members(archive: zipfile.ZipFile) -> dict[str, bytes]:
    """Each member's bytes by name, after checking the directory as a whole."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ProjectError(f"holds {len(infos)} members; a project has at most {MAX_MEMBERS}")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name not in _CAPS:
            raise ProjectError(f"member {shown(name)} is not part of a project (allowed: "
                               f"{', '.join(_CAPS)})")
        if name in seen:
            raise ProjectError(f"{name}: appears twice")
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ProjectError(f"{name}: is encrypted")
        if info.file_size > _CAPS[name]:
            raise ProjectError(f"{name}: {info.file_size:,} bytes uncompressed; at most "
                               f"{_CAPS[name]:,}")
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise ProjectError(f"{total:,} bytes uncompressed in all; a project holds at most "
                           f"{MAX_TOTAL_BYTES:,}")
    out = {}
    for info in infos:
        try:
            with archive.open(info) as member:
                body = member.read()  # zipfile stops at the declared size
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, ValueError) as exc:
            raise ProjectError(f"{info.filename}: cannot be read ({exc})") from None
        out[info.filename] = body
    return out


def _text(name: str, body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectError(f"{name}: is not UTF-8 text") from None


def _no_nan(word: str) -> Any:
    raise ValueError(f"{word} is not a JSON number")


def _json(name: str, raw: dict[str, bytes], required: bool = False) -> Any:
    if name not in raw:
        if required:
            raise ProjectError(f"{name}: missing (not a qmodel project?)")
        return None
    try:
        return json.loads(_text(name, raw[name]), parse_constant=_no_nan)
    except RecursionError:
        raise ProjectError(f"{name}: nested too deeply") from None
    except ValueError as exc:
        raise ProjectError(f"{name}: not valid JSON ({exc})") from None


def _check_manifest(manifest: Any) -> None:
    if not isinstance(manifest, dict):
        raise ProjectError(f"{MANIFEST}: must be a JSON object")
    if manifest.get("schema") != SCHEMA:
        raise ProjectError(f"{MANIFEST}: schema must be {SCHEMA!r}, got "
                           f"{shown(manifest.get('schema'))}")
    for key in ("name", "qmodel_version", "created"):
        if not isinstance(manifest.get(key), str):
            raise ProjectError(f"{MANIFEST}: {key} must be text, got {shown(manifest.get(key))}")


def _result(name: str, doc: Any) -> dict | None:
    """A ``--json`` result document, its shape checked where :func:`compare_projects`
    reads it: every metric an object whose ``value`` is a number or null."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ProjectError(f"{name}: must be a JSON object")
    if doc.get("schema") != RESULT_SCHEMA:
        raise ProjectError(f"{name}: schema must be {RESULT_SCHEMA!r}, got "
                           f"{shown(doc.get('schema'))}")
    if doc.get("time_unit") not in TIME_UNITS:
        raise ProjectError(f"{name}: time_unit must be one of {', '.join(TIME_UNITS)}, got "
                           f"{shown(doc.get('time_unit'))}")
    for section in ("system", "nodes"):
        if not isinstance(doc.get(section), dict):
            raise ProjectError(f"{name}: {section} must be an object")
    _metrics(name, "system", doc["system"])
    for node, values in doc["nodes"].items():
        if not isinstance(values, dict):
            raise ProjectError(f"{name}: nodes.{node} must be an object")
        _metrics(name, f"nodes.{node}", values)
    return doc


def _metrics(name: str, where: str, values: dict) -> None:
    for key, est in values.items():
        if isinstance(est, dict) and "value" in est:
            v = est["value"]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise ProjectError(f"{name}: {where}.{key}.value must be a number or null, "
                                   f"got {shown(v)}")


def _sweep(body: bytes | None) -> pd.DataFrame | None:
    if body is None:
        return None
    name = RESULTS["sweep"]
    try:
        return pd.read_csv(io.StringIO(_text(name, body)))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ProjectError(f"{name}: not a CSV table ({exc})") from None
