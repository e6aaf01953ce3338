"""``qmodel calibrate``: measurements in, a calibrated model file out.

    qmodel calibrate traces spans.json [--format otlp|jaeger|zipkin] -o model.yaml
    qmodel calibrate metrics metrics.csv --model model.yaml -o calibrated.yaml

Exit codes as every command (:mod:`qmodel.cli.support`): 2 for a malformed input file or
bad arguments, naming the record at fault.
"""

from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Calibrate a model from traces or metrics.")


# -- qmodel calibrate metrics ---------------------------------------------------------------

from pathlib import Path  # noqa: E402  (kept with the command: the traces command sits above)
from typing import Annotated  # noqa: E402

from ..errors import ModelError, Problem  # noqa: E402
from .support import err, guarded, out  # noqa: E402


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
