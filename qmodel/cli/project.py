"""``qmodel project save|show|diff``: a model and its results in one ``*.qmodel.zip``
file, and two saved scenarios compared (format in docs/projects.md).

A project file that cannot be read exits 2, saying which member is at fault.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ModelError, Problem, QModelError, UnsupportedError
from .support import EXIT_INVALID, choice, err, guarded, load_model, out

if TYPE_CHECKING:  # qmodel.project (pandas, the model layer) loads when a command runs
    from ..project import Project

SUFFIX = ".qmodel.zip"  # qmodel.project.SUFFIX, written out so that --help loads no pandas

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Save a model with its results in one file; show or compare saved ones.")

ProjectArg = Annotated[Path, typer.Argument(help=f"Project file ({SUFFIX}).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _open(path: Path) -> Project:
    from ..project import ProjectError, load_project

    try:
        return load_project(path)
    except ProjectError as exc:
        err.print(f"[bold red]cannot read[/] {escape(str(path))}", highlight=False)
        err.print(f"  {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_INVALID) from None


def _read(path: Path, limit: int, option: str) -> str:
    from ..model.files import read_bounded

    try:
        return read_bounded(path, limit).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ModelError([Problem(option, f"cannot read {str(path)!r}: {why}")]) from None


@app.command("save")
@guarded
def save_command(
        model: Annotated[Path, typer.Argument(help="Model file (YAML).", show_default=False)],
        output: Annotated[Path | None, typer.Option(
            "--out", "-o", help=f"Project file to write (default: MODEL's name + {SUFFIX}).",
            show_default=False)] = None,
        with_solve: Annotated[bool, typer.Option("--solve", help="Solve it and save the "
                                                 "result.")] = False,
        with_simulate: Annotated[bool, typer.Option("--simulate", help="Simulate it and save "
                                                    "the result.")] = False,
        replications: Annotated[int, typer.Option(help="With --simulate.")] = 10,
        seed: Annotated[int, typer.Option(help="With --simulate.")] = 1,
        sweep: Annotated[Path | None, typer.Option(help="A sweep table (CSV, as `qmodel "
                                                   "sweep --out x.csv` writes) to save.",
                                                   show_default=False)] = None,
        validation: Annotated[Path | None, typer.Option(help="A validation report (JSON) to "
                                                        "save.", show_default=False)] = None,
) -> None:
    """Save a model file, as typed, with its results in one project file."""
    from ..model.files import MAX_DATA_BYTES, MAX_MODEL_BYTES
    from ..project import save_project
    from ..solve import solve

    text = _read(model, MAX_MODEL_BYTES, "MODEL")
    m = load_model(model)
    results: dict[str, Any] = {}
    if with_solve:
        try:
            results["solve"] = solve(m)
        except UnsupportedError as exc:
            raise ModelError([Problem("--solve", f"no analytic answer ({exc.reason}); use "
                                      "--simulate")]) from None
    if with_simulate:
        from ..sim import simulate

        if replications < 1:
            raise ModelError([Problem("--replications", "must be at least 1")])
        results["simulate"] = simulate(m, replications=replications, seed=seed, progress=False)
    if sweep is not None:
        import io

        import pandas as pd

        try:
            results["sweep"] = pd.read_csv(io.StringIO(_read(sweep, MAX_DATA_BYTES, "--sweep")))
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ModelError([Problem("--sweep", f"not a CSV table: {exc}")]) from None
    if validation is not None:
        try:
            results["validation"] = json.loads(_read(validation, MAX_DATA_BYTES,
                                                     "--validation"))
        except json.JSONDecodeError as exc:
            raise ModelError([Problem("--validation", f"not JSON: {exc}")]) from None
    target = output or model.with_name(model.name.split(".")[0] + SUFFIX)
    save_project(target, text, results, name=m.name)
    saved = ", ".join(results) or "no results"
    out.print(f"wrote {target} ({m.name}: the model and {saved})", highlight=False,
              markup=False)


def _number(v: float | None, percent: bool = False) -> str:
    if v is None or math.isnan(v):
        return "—"
    return f"{v:+.1%}" if percent else f"{v:.4g}"


@app.command("show")
@guarded
def show_command(project: ProjectArg, as_json: JsonOpt = False) -> None:
    """What a project holds: its model, when it was saved, its results' end-to-end numbers."""
    from ..project import summary

    p = _open(project)
    results = {kind: summary(doc).query("scope == 'system'") for kind in ("solve", "simulate")
               if (doc := getattr(p, kind)) is not None}
    sweep_rows = None if p.sweep is None else len(p.sweep)
    if as_json:
        print(json.dumps({"schema": "qmodel.project/1", "name": p.name,
                          "qmodel_version": p.qmodel_version, "created": p.created,
                          "members": p.members,
                          "system": {kind: {r.metric: None if math.isnan(r.value) else r.value
                                            for r in table.itertuples()}
                                     for kind, table in results.items()},
                          "sweep_rows": sweep_rows}, indent=2))
        return
    nodes = p.model_dict.get("nodes")
    out.print(f"{escape(p.name)}: saved {escape(p.created)} by qmodel {escape(p.qmodel_version)}; "
              f"{len(nodes) if isinstance(nodes, dict) else 0} components", highlight=False)
    out.print(f"members: {', '.join(p.members)}", highlight=False, markup=False)
    if sweep_rows is not None:
        out.print(f"sweep: {sweep_rows} rows × {len(p.sweep.columns)} columns", highlight=False)
    for kind, values in results.items():
        table = Table(title=f"{kind} ({escape(str(getattr(p, kind).get('method')))})",
                      header_style="bold")
        for column in ("metric", "value", "unit"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for row in values.itertuples():
            table.add_row(row.metric, _number(row.value), row.unit)
        out.print(table)


@app.command("diff")
@guarded
def diff_command(a: ProjectArg, b: ProjectArg, as_json: JsonOpt = False,
                 result: Annotated[str, typer.Option(
                     help="Which saved result to compare: auto (solve when both have one, "
                          "else simulate), solve or simulate.")] = "auto") -> None:
    """Compare two saved scenarios: model fields changed, B's key metrics beside A's."""
    from ..project import compare_projects

    choice(result, ("auto", "solve", "simulate"), "--result")
    pa, pb = _open(a), _open(b)
    try:
        diff = compare_projects(pa, pb, result)
    except QModelError as exc:
        raise ModelError([Problem("--result", str(exc))]) from None
    if as_json:
        print(json.dumps(diff.to_dict(), indent=2))
        return
    fields = Table(title=f"model: {len(diff.model)} fields differ", header_style="bold")
    for column in ("field", "A", "B", "change"):
        fields.add_column(column)
    for row in diff.model.itertuples(index=False):
        fields.add_row(*(escape(str(v)) for v in row))
    out.print(fields)
    metrics = Table(title=f"{diff.result} results: A = {escape(pa.name)}, B = {escape(pb.name)}",
                    header_style="bold")
    for column in ("scope", "metric", "unit", "A", "B", "B − A", "change"):
        metrics.add_column(column, justify="left" if column in ("scope", "metric") else "right")
    for row in diff.metrics.itertuples(index=False):
        metrics.add_row(escape(row.scope), row.metric, row.unit, _number(row.A),
                        _number(row.B), _number(row.difference),
                        _number(row.relative, percent=True))
    out.print(metrics)
