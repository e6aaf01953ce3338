"""Two saved scenarios side by side: their key metrics with the difference and relative
change, and the model fields that differ."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..units import TIME_UNITS
from .archive import Project, ProjectError

SYSTEM_METRICS = (("throughput", "rate"), ("mean_response_time", "time"),
                  ("p95_response_time", "time"))
NODE_METRICS = (("mean_response", "time"), ("p95_response", "time"), ("utilization", ""),
                ("throughput", "rate"))
KINDS = ("solve", "simulate")


@dataclass(frozen=True, eq=False)
class ProjectDiff:
    """``metrics``: one row per (scope, metric) with A, B, difference (B − A) and relative
    change ((B − A) / A); times in A's ``time_unit``, rates per second. ``model``: one row
    per field path whose value differs (``changed``, ``added`` in B, ``removed`` from A)."""

    result: str
    time_unit: str
    metrics: pd.DataFrame
    model: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` (NaN as null)."""
        def rows(table: pd.DataFrame) -> list[dict]:
            return [{k: None if isinstance(v, float) and math.isnan(v) else v
                     for k, v in row.items()} for row in table.to_dict("records")]
        return {"schema": "qmodel.project-diff/1", "result": self.result,
                "time_unit": self.time_unit, "metrics": rows(self.metrics),
                "model": rows(self.model)}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, item in enumerate(value):
            out.update(_flat(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _text(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) \
        else value


def model_diff(a: dict, b: dict) -> pd.DataFrame:
    """The fields (dotted paths, ``[i]`` for list items) whose values differ between two
    parsed models, values shown as typed.

    >>> model_diff({"nodes": {"app": {"servers": 2, "service": "10ms"}}},
    ...            {"nodes": {"app": {"servers": 4, "service": "10ms"}, "db": {"servers": 1}}})
    ...            # doctest: +NORMALIZE_WHITESPACE
                     field  A  B   change
    0  nodes.app.servers    2  4  changed
    1  nodes.db.servers     -  1    added
    """
    fa, fb = _flat(a), _flat(b)
    rows = []
    for path in [*fa, *(p for p in fb if p not in fa)]:
        if path in fa and path in fb and fa[path] == fb[path]:
            continue
        change = "added" if path not in fa else "removed" if path not in fb else "changed"
        rows.append({"field": path, "A": _text(fa[path]) if path in fa else "-",
                     "B": _text(fb[path]) if path in fb else "-", "change": change})
    return pd.DataFrame(rows, columns=["field", "A", "B", "change"])


def _pick(a: Project, b: Project, result: str) -> str:
    if result not in ("auto", *KINDS):
        raise ProjectError(f"result must be auto, solve or simulate, got {result!r}")
    for kind in KINDS if result == "auto" else (result,):
        if getattr(a, kind) is not None and getattr(b, kind) is not None:
            return kind
    which = "a solve or simulate" if result == "auto" else f"a {result}"
    raise ProjectError(f"both projects need {which} result to compare (A has "
                       f"{_held(a)}, B has {_held(b)})")


def _held(p: Project) -> str:
    return ", ".join(k for k in KINDS if getattr(p, k) is not None) or "none"


def _value(section: dict, key: str, kind: str, time_unit: str) -> float:
    est = section.get(key)
    v = est.get("value") if isinstance(est, dict) else None
    if v is None:
        return math.nan
    return v / TIME_UNITS[time_unit] if kind == "time" else float(v)


def compare_projects(a: Project, b: Project, result: str = "auto") -> ProjectDiff:
    """Compare B with A: the system's and every station's mean and p95 response,
    utilization and throughput from their ``solve`` results (``result="auto"`` takes the
    simulation when either lacks one), and the model fields that changed.

    >>> import qmodel, tempfile
    >>> from pathlib import Path
    >>> from qmodel.project import save_project, load_project
    >>> def saved(servers):
    ...     text = f"nodes: {{app: {{kind: queue, servers: {servers}, service: 10ms}}}}\\n" \\
    ...            "arrivals: {web: {to: app, rate: 150/s}}\\n"
    ...     res = qmodel.solve(qmodel.Model.from_yaml(text))
    ...     return load_project(save_project(Path(tempfile.mkdtemp()) / "p.qmodel.zip",
    ...                                      text, {"solve": res}))
    >>> diff = compare_projects(saved(2), saved(3))
    >>> diff.model.loc[0, ["field", "A", "B"]].tolist()
    ['nodes.app.servers', '2', '3']
    >>> row = diff.metrics.set_index(["scope", "metric"]).loc[("app", "utilization")]
    >>> [round(float(row[k]), 3) for k in ("A", "B", "relative")]
    [0.75, 0.5, -0.333]
    """
    kind = _pick(a, b, result)
    ra, rb = getattr(a, kind), getattr(b, kind)
    unit = ra["time_unit"]
    sa, sb = summary(ra, unit), summary(rb, unit)
    keys = ["scope", "metric", "unit"]
    order = pd.concat([sa[keys], sb[keys]]).drop_duplicates()  # A's rows, then B's new ones
    table = order.merge(sa, on=keys, how="left").merge(sb, on=keys, how="left",
                                                        suffixes=("_a", "_b"))
    table = table.rename(columns={"value_a": "A", "value_b": "B"})
    table["difference"] = table.B - table.A
    table["relative"] = table.difference / table.A.where(table.A != 0)
    return ProjectDiff(kind, unit, table.reset_index(drop=True),
                       model_diff(a.model_dict, b.model_dict))


def summary(doc: dict, time_unit: str | None = None) -> pd.DataFrame:
    """The key metrics of a saved result (``scope``, ``metric``, ``unit``, ``value``): the
    system's throughput, mean and p95 response, and each station's mean and p95 response,
    utilization and throughput; times in ``time_unit`` (default the result's), rates per
    second, a missing number NaN."""
    unit = time_unit or doc["time_unit"]
    rows = []

    def add(scope: str, section: dict, metrics: tuple) -> None:
        for key, what in metrics:
            rows.append({"scope": scope, "metric": key,
                         "unit": {"time": unit, "rate": "/s"}.get(what, ""),
                         "value": _value(section, key, what, unit)})

    add("system", doc["system"], SYSTEM_METRICS)
    for node, values in doc["nodes"].items():
        add(node, values, NODE_METRICS)
    return pd.DataFrame(rows, columns=["scope", "metric", "unit", "value"])
