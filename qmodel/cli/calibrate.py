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

from ..errors import ModelError, Problem
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
    outside: Annotated[str | None, typer.Option(
        "--outside", help="Services that are not components, e.g. a front door: "
                          "refsys,client (their spans give arrivals only).",
        show_default=False)] = None,
) -> None:
    """Calibrate a model from distributed traces: arrival rates, routes, exclusive service
    times with a fitted distribution, servers, each with its 95% interval."""
    _traces(files, output, format, servers, by, empirical, report, outside)


@guarded
def _traces(files: list[Path], output: Path, format: str | None, servers: str | None,
            by: str, empirical: bool, report: Path | None, outside: str | None) -> None:
    from ..calibrate.modelfile import write_model
    from ..calibrate.result import with_unit
    from ..calibrate.traces import FORMATS, from_traces
    from ..errors import ModelError, Problem

    if format is not None:
        choice(format, FORMATS, "--format")
    choice(by, ("service", "operation"), "--by")
    if report is not None and report.suffix.lower() not in (".html", ".htm", ".json"):
        raise ModelError([Problem("--report", f"must end in .html or .json, got {str(report)!r}")])
    try:
        cal = from_traces(files, format=format, servers=_servers(servers), by=by,
                          empirical=empirical, name=output.stem.replace(".", "_") or "calibrated",
                          outside=[x.strip() for x in (outside or "").split(",") if x.strip()])
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


# -- qmodel calibrate metrics ---------------------------------------------------------------


@app.command("metrics")
@guarded
def metrics_command(
        files: Annotated[list[Path], typer.Argument(
            help="Metrics: a CSV, Prometheus text scrapes (one or more files) or a "
                 "range-query JSON.", show_default=False)],
        model: Annotated[Path, typer.Option("--model", "-m", help="The model to calibrate.",
                                            show_default=False)],
        output: Annotated[Path, typer.Option("--output", "-o", help="Calibrated model file "
                                             "(YAML).", show_default=False)],
        report: Annotated[Path | None, typer.Option(
            help="Also write the report: .html (plots) or .json.", show_default=False)] = None,
        format_: Annotated[str | None, typer.Option(
            "--format", help="csv, prometheus or json (default: by suffix).",
            show_default=False)] = None,
        throughput: Annotated[str | None, typer.Option(
            help="Prometheus: completions per class, NAME{LABEL} "
                 "(default: http_requests_total{class}).", show_default=False)] = None,
        utilization: Annotated[str | None, typer.Option(
            help="Prometheus: busy seconds (counter) or utilization (gauge) per component, "
                 "NAME{LABEL} (default: process_cpu_seconds_total{component}).",
            show_default=False)] = None,
        response: Annotated[str | None, typer.Option(
            help="Prometheus: response-time summary/histogram per class, NAME{LABEL} "
                 "(default: http_request_duration_seconds{class}).",
            show_default=False)] = None,
        background: Annotated[bool, typer.Option(
            help="Fit a background utilization no class accounts for.")] = False,
        interval: Annotated[str, typer.Option(
            help="95% intervals: ols (covariance) or bootstrap.")] = "ols",
        seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
        keep_rates: Annotated[bool, typer.Option(
            help="Keep the model's arrival rates (default: the measured throughput).")]
        = False) -> None:
    """Service demands from utilization and throughput per interval (utilization-law
    regression), written into the model with their 95% intervals."""
    from ..calibrate.metrics import FORMATS, from_metrics, write_model
    from ..calibrate.metrics.report import write_report
    from ..calibrate.metrics.series import MetricsError
    from ..model.model import load

    if format_ is not None and format_ not in FORMATS:
        raise ModelError([Problem("--format", f"must be one of {', '.join(FORMATS)}, "
                                              f"got {format_!r}")])
    if interval not in ("ols", "bootstrap"):
        raise ModelError([Problem("--interval", f"must be ols or bootstrap, got {interval!r}")])
    base = load(model)
    try:
        result = from_metrics(files if len(files) > 1 else files[0], base, format=format_,
                              throughput=throughput, utilization=utilization,
                              response=response, background=background, interval=interval,
                              seed=seed, rates=not keep_rates)
    except MetricsError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        raise typer.Exit(2) from None
    write_model(result, output, "qmodel calibrate metrics " + " ".join(str(f) for f in files))
    for e in result.estimates:
        if e.high is not None and e.high != float("inf"):
            scale, unit = (1e3, "ms") if e.unit == "s" else (1.0, "/s")
            out.print(f"  {e.path}: {e.value * scale:.4g}{unit} "
                      f"[{e.low * scale:.4g}, {e.high * scale:.4g}]", highlight=False)
        else:
            out.print(f"  {e.path}: {e.method}", highlight=False, markup=False)
    for w in result.warnings:
        err.print(f"warning: {w}", highlight=False, markup=False)
    if report is not None:
        write_report(result, report)
        out.print(f"wrote {report}")
    out.print(f"wrote {output} ({result.data['intervals']} intervals)")
