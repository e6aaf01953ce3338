"""The ``qmodel`` command line (exit codes and error handling in :mod:`qmodel.cli.support`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from ..errors import ModelError, Problem, UnsupportedError
from ..methods import SIMULATE, SOLVE, help_text
from ..results import Result
from ..solve import solve
from .calibrate import app as calibrate_app
from .experiments import app as experiments_app
from .interop import app as interop_app
from .project import app as project_app
from .support import (
    EXIT_ERROR,
    EXIT_SIMULATE,
    EXIT_UNSTABLE,
    TidyHelp,
    choice,
    err,
    guarded,
    load_model,
    out,
    with_units,
)

if TYPE_CHECKING:  # the model layer and the report (numpy) load when a command runs
    from ..model.model import Model

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  cls=TidyHelp,
                  help="Queueing models of architectures: check, solve, simulate, validate.")

ModelArg = Annotated[Path, typer.Argument(help="Model file (YAML).", show_default=False)]
SetOpt = Annotated[list[str], typer.Option("--set", help="Override a field: nodes.app.servers=8",
                                            show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (schema in docs/results.md).")]


def emit(result: Result, as_json: bool, model: Path | None = None) -> None:
    """Print a result; exit 3 when it is unstable, 4 when (from ``solve``, which passes
    ``model``) the analytic methods give no end-to-end answer and it must be simulated."""
    from ..report import needs_simulation, print_result

    if as_json:
        out.print_json(result.to_json(indent=None)) if sys.stdout.isatty() else \
            print(result.to_json())
    else:
        print_result(result, out)
    if not result.stable:
        raise typer.Exit(EXIT_UNSTABLE)
    if model is not None and needs_simulation(result):
        err.print(f"no analytic answer for this model: run `qmodel simulate {model}`",
                  highlight=False, markup=False)
        raise typer.Exit(EXIT_SIMULATE)


@app.command()
@guarded
def check(model: ModelArg, overrides: SetOpt = None) -> None:
    """Validate a model file; list every problem with its field path (and say whether
    ``simulate`` would refuse it: a request that may set off too many visits)."""
    from ..model.request_size import request_size_problems

    m = load_model(model, overrides)
    net = m.network
    out.print(f"[green]ok[/] {escape(m.name)}: {len(m.spec.nodes)} components, "
              f"{len(net.stations)} stations, {len(net.classes)} classes")
    for problem in request_size_problems(net):
        err.print(f"note: simulate refuses it: {problem}", highlight=False, markup=False)


@app.command("solve")
@guarded
def solve_command(model: ModelArg, as_json: JsonOpt = False, overrides: SetOpt = None,
                  method: Annotated[str, typer.Option(help=help_text(SOLVE))]
                  = "auto",
                  uncertainty: Annotated[bool, typer.Option(
                      "--uncertainty", help="Sample the calibration: section's intervals and "
                      "give every metric's 95% range.")] = False,
                  samples: Annotated[int, typer.Option(
                      help="Samples with --uncertainty.")] = 200,
                  seed: Annotated[int, typer.Option(help="Seed with --uncertainty.")] = 0
                  ) -> None:
    """Solve a model analytically: a table per component and the system."""
    choice(method, SOLVE, "--method")
    m = load_model(model, overrides)
    if uncertainty:
        _check_positive(samples=samples)
        _uncertain(m, samples, seed, as_json)
        return
    try:
        result = solve(m, method=method)
    except UnsupportedError as exc:
        if method != "auto":
            raise
        reason = exc.reason.removesuffix("; simulate the model")
        hint = "" if "qmodel simulate" in reason else f"; run `qmodel simulate {model}`"
        err.print(f"no analytic answer for this model: {reason}{hint}", highlight=False,
                  markup=False)
        raise typer.Exit(EXIT_SIMULATE) from None
    emit(result, as_json, model)


def _uncertain(model: Model, samples: int, seed: int, as_json: bool) -> None:
    """``solve --uncertainty``: every metric at the estimates and its 95% range."""
    from rich.table import Table

    from ..experiments.uncertainty import uncertainty

    result = uncertainty(model, samples=samples, seed=seed)
    if as_json:
        print(result.to_json())
    else:
        table = result.summary
        system = Table(title=f"{escape(result.model)}: {samples} samples of {len(result.parameters)} "
                             f"calibrated parameters ({result.method}, seed {seed})",
                       header_style="bold")
        for column in ("metric", "at the estimates", "95% low", "95% high"):
            system.add_column(column, justify="left" if column == "metric" else "right")
        for name, row in table.iterrows():
            if not str(name).startswith("nodes."):
                system.add_row(str(name), *(_shown(str(name), row[k], model.time_unit)
                                            for k in ("point", "low", "high")))
        out.print(system)
        nodes = Table(title="components (95% ranges)", header_style="bold")
        for column in ("component", "utilization", "mean response", "mean in system"):
            nodes.add_column(column, justify="left" if column == "component" else "right")
        components = dict.fromkeys(str(n).split(".")[1] for n in table.index
                                   if str(n).startswith("nodes."))
        for comp in components:
            nodes.add_row(comp, *(_ranged(f"nodes.{comp}.{key}", table, model.time_unit)
                                  for key in ("utilization", "mean_response_s",
                                              "mean_in_system")))
        out.print(nodes)
        out.print(f"unstable samples: {result.unstable:.1%}")
        for note in result.notes:
            err.print(f"note: {note}", highlight=False, markup=False)
    if "max_utilization" in result.summary.index and \
            not result.summary.loc["max_utilization", "point"] < 1:
        raise typer.Exit(EXIT_UNSTABLE)


def _ranged(name: str, table, time_unit: str) -> str:
    if name not in table.index:
        return "—"
    row = table.loc[name]
    return f"{_shown(name, row['point'], time_unit)} [{_shown(name, row['low'], time_unit)}, " \
           f"{_shown(name, row['high'], time_unit)}]"


def _shown(name: str, value: float, time_unit: str) -> str:
    from ..units import format_duration, human_rate

    if value != value:  # NaN
        return "—"
    if value == float("inf"):
        return "unbounded"
    if name.endswith("_per_s"):
        return human_rate(value)
    if name.endswith("_s"):
        return format_duration(value, time_unit)
    return f"{value:.4g}"


@app.command()
@guarded
def simulate(model: ModelArg, as_json: JsonOpt = False, overrides: SetOpt = None,
             replications: Annotated[int | None, typer.Option(
                 help="Independent replications (default 10; with --precision the most "
                      "allowed, default 100).")] = None,
             seed: Annotated[int | None, typer.Option(help="Seed; same seed, same numbers.")] = None,
             horizon: Annotated[str | None, typer.Option(help="Simulated time per replication, "
                                                         "e.g. 1h.")] = None,
             warmup: Annotated[str | None, typer.Option(help="Warm-up to delete, e.g. 5min "
                                                        "(default: MSER-5).")] = None,
             customers: Annotated[int | None, typer.Option(help="Completed jobs per "
                                                           "replication.")] = None,
             max_events: Annotated[int | None, typer.Option(
                 help="Stop a replication (partial) after this many events (default: 20 "
                      "times what the run should take).")] = None,
             trace: Annotated[Path | None, typer.Option(help="Write a per-visit trace "
                                                        "(.csv or .parquet).")] = None,
             method: Annotated[str, typer.Option(help=help_text(SIMULATE))] = "auto",
             executor: Annotated[str | None, typer.Option(
                 help="Run the replications on: serial, local (process pool) or dask.")] = None,
             scheduler: Annotated[str | None, typer.Option(
                 help="Dask scheduler address (tcp://...); none starts a LocalCluster.")]
             = None,
             bins: Annotated[str | None, typer.Option(
                 help="Metrics per time bin of this width (e.g. 1s), from an empty system "
                      "through the model's rate profile.")] = None,
             out_path: Annotated[Path | None, typer.Option(
                 "--out", help="With --bins: write the series (.csv, .json, .parquet) or "
                               "its figure (.html); without: the response-time "
                               "distribution per class (.csv, .json) or its CDF figure "
                               "(.html).")] = None,
             precision: Annotated[str | None, typer.Option(
                 help="Add replications until every mean's 95% half-width is within this "
                      "share of it, e.g. 5%.")] = None) -> None:
    """Simulate a model (any feature) with confidence intervals and percentiles."""
    from ..sim import simulate as run

    choice(method, SIMULATE, "--method")
    with_units(horizon=horizon, warmup=warmup, bins=bins)
    m = load_model(model, overrides)
    _check_positive(replications=replications, customers=customers, max_events=max_events)
    if precision is not None:
        from ..sim.precision import parse_precision

        parse_precision(precision, "--precision")
    if bins is not None:
        series = run(m, bins=bins, replications=replications, seed=seed, horizon=horizon,
                     warmup=warmup, customers=customers, trace=str(trace) if trace else None,
                     method=method, executor=executor, precision=precision,
                     max_events=max_events)
        from .series import show_series

        show_series(series, as_json, out_path)
        return
    if out_path is not None:
        from .series import check_distribution_path

        check_distribution_path(out_path)
    result = run(m, replications=replications, seed=seed, horizon=horizon, warmup=warmup,
                 customers=customers, trace=str(trace) if trace else None,
                 progress=None if not as_json else False, method=method,
                 executor=executor, scheduler=scheduler, precision=precision,
                 max_events=max_events)
    if result.partial:
        err.print("[yellow]stopped at a limit of the run (see its note): partial results[/]"
                  if result.limit_note else "[yellow]interrupted: partial results[/]")
    if out_path is not None:
        from .series import write_distribution

        write_distribution(m, result, out_path)
    emit(result, as_json)


@app.command()
@guarded
def compare(model: ModelArg, as_json: JsonOpt = False, overrides: SetOpt = None,
            replications: Annotated[int, typer.Option(help="Independent replications.")] = 10,
            seed: Annotated[int | None, typer.Option(help="Seed.")] = None) -> None:
    """Solve and simulate a model; print both side by side and flag disagreements."""
    from ..report import compare_table
    from ..sim import compare as side_by_side
    from ..sim import simulate as run

    m = load_model(model, overrides)
    _check_positive(replications=replications)
    analytic = solve(m)
    if not analytic.stable:  # nothing to compare: the queues grow without bound
        for reason in analytic.unstable:
            err.print(f"unstable: {reason}", highlight=False, markup=False)
        raise typer.Exit(EXIT_UNSTABLE)
    table = side_by_side(analytic, run(m, replications=replications, seed=seed,
                                       progress=None if not as_json else False))
    if as_json:
        print(table.to_json(orient="records", indent=2))
    else:
        out.print(compare_table(table, m.time_unit))


def _check_positive(**values: int | None) -> None:
    bad = [Problem(f"--{k.replace('_', '-')}", f"must be a positive integer, got {v}")
           for k, v in values.items() if v is not None and v < 1]
    if bad:
        raise ModelError(bad)


FORWARD = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _forward(ctx: typer.Context, command: str) -> None:
    """Run a load-testing command; ``loadtest`` builds on qmodel, so it is imported here, at
    the command line's edge, and never by the library."""
    try:
        from loadtest import cli as loadtest_cli
    except ImportError as exc:
        err.print(f"[bold red]error:[/] the load-testing tools are not installed ({exc}); "
                  "install with: pip install -e '.[loadtest]'")
        raise typer.Exit(EXIT_ERROR) from None
    loadtest_cli.app([command, *ctx.args], prog_name="qmodel")


@app.command(context_settings=FORWARD)
def validate(ctx: typer.Context) -> None:
    """Run the reference system under load and compare with predictions (--help for more)."""
    _forward(ctx, "validate")


@app.command(context_settings=FORWARD)
def refsys(ctx: typer.Context) -> None:
    """The reference batch/stream system: qmodel refsys serve MODEL (--help for more)."""
    _forward(ctx, "refsys")


app.add_typer(experiments_app)  # sweep, sensitivity, plan, headroom
app.add_typer(calibrate_app, name="calibrate")
app.add_typer(interop_app)  # import, export (JMT files)
app.add_typer(project_app, name="project")  # save, show, diff


@app.command()
def schema() -> None:
    """Print the JSON Schema of the model format."""
    from ..model.spec import json_schema

    print(json.dumps(json_schema(), indent=2))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
