"""``qmodel import`` and ``qmodel export``: models in and out of JMT (JSIMgraph, JMVA).

Every part that did not map exactly is printed (approximated: the nearest equivalent
used; refused: left out, and why); a file that cannot be read exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ModelError, Problem, QModelError
from .support import EXIT_INVALID, choice, err, guarded, load_model, out

if TYPE_CHECKING:  # qmodel.io (and the model layer) loads when a command runs
    from ..io import MappingReport

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _print_report(report: MappingReport, verbose: bool) -> None:
    out.print(report.summary(), highlight=False, markup=False)
    for m in report.entries:
        if verbose or m.status != "mapped":
            out.print(f"  {m}", highlight=False, markup=False)


def _invalid(path: Path, exc: QModelError) -> typer.Exit:
    err.print(f"[bold red]cannot read[/] {path}", highlight=False)
    err.print(f"  {exc}", highlight=False, markup=False)
    return typer.Exit(EXIT_INVALID)


@app.command("import")
@guarded
def import_command(
        path: Annotated[Path, typer.Argument(help="JMT file: .jsimg, .jsim or .jmva.",
                                             show_default=False)],
        output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write "
                                             "(YAML).", show_default=False)],
        verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                              help="List the parts that mapped too.")] = False,
) -> None:
    """Read a JMT model into a qmodel model file; print what mapped and what did not."""
    from ..io import SUFFIXES, compare_solution, read_jmt

    if path.suffix.lower() not in SUFFIXES:
        raise ModelError([Problem("PATH", f"must be a JMT file ({', '.join(SUFFIXES)}), "
                                          f"got {path.name!r}")])
    try:
        model, report = read_jmt(path)
    except QModelError as exc:
        raise _invalid(path, exc) from None
    output.write_text(model.to_yaml())
    _print_report(report, verbose)
    for solution in report.solutions:
        table = compare_solution(model, solution)
        if not table.empty:
            worst = table["rel_diff"].max()
            out.print(f"stored {solution.method} solution vs qmodel solve: largest "
                      f"relative difference {100 * worst:.2g}% over {len(table)} values",
                      highlight=False)
    out.print(f"wrote {output}", highlight=False, markup=False)


@app.command("export")
@guarded
def export_command(
        model: Annotated[Path, typer.Argument(help="Model file (YAML).", show_default=False)],
        to: Annotated[str, typer.Option("--to", help="jsimg (JSIMgraph) or jmva (JMVA, "
                                        "product-form models).")] = "jsimg",
        output: Annotated[Path | None, typer.Option(
            "-o", "--output", help="JMT file to write (default: the model's name with the "
            "format's suffix).", show_default=False)] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                              help="List the parts that mapped too.")] = False,
) -> None:
    """Write a model as a JMT file; print what mapped and what did not."""
    from ..io import FORMATS, write_jmt

    fmt = choice(to, FORMATS, "--to")
    m = load_model(model)
    target = output or model.with_suffix(f".{fmt}")
    try:
        report = write_jmt(m, target, fmt)  # type: ignore[arg-type]
    except QModelError as exc:
        err.print(f"[bold red]cannot export[/] {model} as {fmt}", highlight=False)
        err.print(f"  {exc}", highlight=False, markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    _print_report(report, verbose)
    out.print(f"wrote {target}", highlight=False, markup=False)
