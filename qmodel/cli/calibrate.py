"""``qmodel calibrate``: measurements in, a calibrated model file out.

    qmodel calibrate traces spans.json [--format otlp|jaeger|zipkin] -o model.yaml
    qmodel calibrate metrics metrics.csv --model model.yaml -o calibrated.yaml

Exit codes as every command (:mod:`qmodel.cli.support`): 2 for a malformed input file or
bad arguments, naming the record at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..calibrate.result import with_unit
from .support import EXIT_INVALID, choice, err, guarded, out

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Calibrate a model from traces or metrics.")


# -- qmodel calibrate traces ------------------------------------------------------------------

def _servers(text: str | None) -> dict[str, int] | None:
    """``api=8,db=4`` as ``{"api": 8, "db": 4}``; a bad item is an argument error (exit 2)."""
    from ..errors import ModelError, Problem

    if text is None:
        return None
    out: dict[str, int] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ModelError([Problem("--servers", f"expected NAME=COUNT[,NAME=COUNT...], "
                                                   f"got {item!r}")])
        if not value.isdigit() or int(value) < 1 or len(value) > 6:
            raise ModelError([Problem(f"--servers {name}",
                                      f"must be a positive integer, got {value!r}")])
        out[name] = int(value)
    return out


@app.command("traces")
def traces(
    files: Annotated[list[Path], typer.Argument(help="Span files (JSON or JSON lines) or "
                                                     "directories of them.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="The model file to write.",
                                         show_default=False)],
    format: Annotated[str | None, typer.Option(
        "--format", help="otlp, jaeger or zipkin (default: told from each file's content).",
        show_default=False)] = None,
    servers: Annotated[str | None, typer.Option(
        "--servers", help="Servers per component, e.g. api=8,db=4 (default: the most "
                          "spans seen working at once).", show_default=False)] = None,
    by: Annotated[str, typer.Option("--by", help="A component per service or per "
                                                 "service and operation.")] = "service",
    empirical: Annotated[bool, typer.Option(
        "--empirical", help="Resample the observed service times instead of fitting a "
                            "distribution.")] = False,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Also write the calibration report: .html (plots) or .json.",
        show_default=False)] = None,
) -> None:
    """Calibrate a model from distributed traces: arrival rates, routes, exclusive service
    times with a fitted distribution, servers, each with its 95% interval."""
    _traces(files, output, format, servers, by, empirical, report)


@guarded
def _traces(files: list[Path], output: Path, format: str | None, servers: str | None,
            by: str, empirical: bool, report: Path | None) -> None:
    from ..calibrate.modelfile import write_model
    from ..calibrate.traces import FORMATS, from_traces
    from ..errors import ModelError, Problem

    if format is not None:
        choice(format, FORMATS, "--format")
    choice(by, ("service", "operation"), "--by")
    if report is not None and report.suffix.lower() not in (".html", ".htm", ".json"):
        raise ModelError([Problem("--report", f"must end in .html or .json, got {str(report)!r}")])
    try:
        cal = from_traces(files, format=format, servers=_servers(servers), by=by,
                          empirical=empirical, name=output.stem.replace(".", "_") or "calibrated")
    except ModelError as exc:
        if all(p.path.startswith("--") for p in exc.problems):
            raise
        err.print("[bold red]invalid traces[/]", highlight=False)
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    write_model(cal, output)
    if report is not None:
        if report.suffix.lower() == ".json":
            report.write_text(cal.to_json(), encoding="utf-8")
        else:
            from ..calibrate.report import write_html

            write_html(cal, report)
    table = Table(title=f"{output}: {cal.source}", show_lines=False)
    for column in ("parameter", "estimate", "95% interval", "method"):
        table.add_column(column, overflow="fold")
    for e in cal.estimates:
        interval = "" if e.low is None or e.high is None else \
            f"{with_unit(e.low, e.unit)} .. {with_unit(e.high, e.unit)}"
        table.add_row(e.path, str(with_unit(e.value, e.unit)), interval, e.method[:60])
    out.print(table)
    for w in cal.warnings:
        err.print(f"warning: {w}", highlight=False, markup=False)
