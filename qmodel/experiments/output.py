"""Writing experiment tables: ``.csv``, ``.json`` (rows plus the table's metadata) or
``.html`` (the plotly figure: sweep plot or tornado chart)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ModelError, Problem
from ..results import finite_json
from .plots import sweep_figure, tornado_figure

FORMATS = (".csv", ".json", ".html")


def write(table: pd.DataFrame, path: str | Path, metric: str | None = None) -> Path:
    """Write ``table`` in the format its suffix names; return the path.

    >>> import tempfile
    >>> t = pd.DataFrame({"x": [1.0, 2.0], "y": [0.5, float("nan")]})
    >>> out = write(t, Path(tempfile.mkdtemp()) / "t.json")
    >>> json.loads(out.read_text())["rows"]
    [{'x': 1.0, 'y': 0.5}, {'x': 2.0, 'y': None}]
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ModelError([Problem("--out", f"cannot write {path.name!r}; use a name ending in "
                                           f"{', '.join(FORMATS)}")])
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".json":
        rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_dict("records")]
        doc = {"attrs": {k: _plain(v) for k, v in table.attrs.items()}, "rows": rows}
        path.write_text(json.dumps(finite_json(doc), indent=1, allow_nan=False))
    else:
        kind = table.attrs.get("kind")
        figure = tornado_figure(table) if kind == "sensitivity" else sweep_figure(table, metric)
        figure.write_html(path)
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
