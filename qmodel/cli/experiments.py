"""The ``sweep``, ``sensitivity``, ``plan``, ``headroom`` and ``metastability`` commands.

A typer app whose commands mount at the top level of ``qmodel``:
``app.add_typer(qmodel.cli.experiments.app)`` (typer >= 0.15 merges an unnamed sub-app's
commands into the parent). Exit codes: 0 success; 1 an error that is not bad input (an
impossible plan, a file that cannot be written); 2 invalid model or arguments, printed as
``path: message``; 130 interrupted (a sweep writes its partial table first).

Each command imports its experiment (pandas, scipy, plotly) when it runs, so that
``qmodel --help`` and ``qmodel check`` load none of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ModelError, Problem
from ..methods import SEARCHES, SWEEP, help_text
from ..results import finite_json
from ..runner import EXECUTORS
from ..units import (
    TIME_UNITS,
    format_duration,
    human_rate,
    parse_duration,
    parse_rate,
    rate_unit,
    unit_needed,
)
from .support import EXIT_INTERRUPTED, choice, err, guarded, load_model, out

if TYPE_CHECKING:
    import pandas as pd

    from ..model.model import Model
    from ..model.paths import Parameter
    from ..model.slo import SLO

SHOW_ROWS = 40
_SHOWN = ("stable", "mean_response_time_s", "p95_response_time_s", "p99_response_time_s",
          "throughput_per_s", "max_utilization", "bottleneck", "makespan_s",
          "makespan_bound_s", "meets_slo")

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="What-if experiments: sweeps, sensitivity, capacity planning.")

ModelArg = Annotated[Path, typer.Argument(help="Model file (YAML).", show_default=False)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a field first: nodes.app.servers=8", show_default=False)]
MetricOpt = Annotated[str, typer.Option(
    help="mean_response_time, p95_response_time (any pNN), throughput, max_utilization.")]
SloOpt = Annotated[str | None, typer.Option(
    help='SLO, e.g. "p95 < 200ms and utilization < 0.8" (default: the model\'s slo).')]
OutOpt = Annotated[Path | None, typer.Option(
    "--out", help="Write the result: .html (plot), .csv or .json.", show_default=False)]
MethodOpt = Annotated[str, typer.Option(help=help_text(SWEEP))]
ExecutorOpt = Annotated[str, typer.Option(help=f"One of {', '.join(EXECUTORS)}.")]
SchedulerOpt = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://host:8786); none: a LocalCluster.",
    show_default=False)]
WorkersOpt = Annotated[int | None, typer.Option(help="Processes (default: one per CPU).",
                                                show_default=False)]
ReplicationsOpt = Annotated[int, typer.Option(help="Simulation replications per point.")]
SeedOpt = Annotated[int | None, typer.Option(
    help="Simulation seed, the same for every point (default: drawn once).",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _pairs(items: list[str], option: str, convert: Callable[[str], Any] = str
           ) -> list[tuple[str, Any]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ModelError([Problem(option, f"expected PATH=VALUE, got {item!r}")])
        try:
            out.append((key.strip(), convert(value.strip())))
        except ValueError:
            raise ModelError([Problem(f"{option} {key.strip()}", f"not a number: {value!r}")]) \
                from None
    return out


@app.command("sweep")
@guarded
def sweep_command(
        model: ModelArg,
        vary: Annotated[list[str], typer.Option(
            help="PATH=VALUES, e.g. nodes.app.servers=1..16, arrivals.web.rate=50/s..500/s:20, "
                 "a log range 10/s..1e4/s:log20 or a list [1,2,4]. Repeat for a grid.",
            show_default=False)],
        metric: Annotated[str | None, typer.Option(
            help="mean_response_time, p95_response_time (any pNN), throughput, "
                 "max_utilization, makespan; default: makespan for a model with batches, "
                 "else p95_response_time.", show_default=False)] = None,
        slo: SloOpt = None, out_path: OutOpt = None, method: MethodOpt = "auto",
        replications: ReplicationsOpt = 10, seed: SeedOpt = None,
        executor: ExecutorOpt = "local", scheduler: SchedulerOpt = None,
        workers: WorkersOpt = None, overrides: SetOpt = None,
        uncertainty: Annotated[bool, typer.Option(
            "--uncertainty", help="Add the 95% band from the calibration: section's intervals "
            "(METRIC_low / METRIC_high columns; a band in the plot).")] = False,
        samples: Annotated[int, typer.Option(
            help="Samples per point with --uncertainty (seed: --seed, default 0).")] = 100
        ) -> None:
    """Evaluate the model over a grid of parameter values: a table, CSV, JSON or a plot."""
    from ..experiments.output import write
    from ..experiments.ranges import require_units
    from ..experiments.sweep import sweep
    from ..model.paths import resolve

    choice(method, SWEEP, "--method")
    choice(executor, EXECUTORS, "--executor")
    m = load_model(model, overrides)
    if uncertainty:
        from ..experiments.uncertainty import calibrated

        calibrated(m)  # nothing to sample: say so before sweeping
        if samples < 1:
            raise ModelError([Problem("--samples", f"must be a positive integer, got {samples}")])
        if method == "simulate":
            raise ModelError([Problem("--uncertainty", "samples are solved analytically; "
                                                       "use it without --method simulate")])
    grid = dict(_pairs(vary, "--vary"))
    params = resolve(m, list(grid))
    for path, text in grid.items():
        require_units(params[path], text, m.time_unit, "--vary ")
    table = sweep(m, grid, metric=metric, slo=_slo(m, slo),
                  method=method,
                  replications=replications, seed=seed, executor=executor,
                  scheduler=scheduler, workers=workers)
    if uncertainty:
        from ..experiments.uncertainty import sweep_bands

        table = sweep_bands(m, table, samples=samples, seed=0 if seed is None else seed)
    if out_path is not None:
        write(table, out_path, metric=table.attrs["metric"])
        out.print(f"wrote {out_path} ({len(table)} points)")
    else:
        _print_table(table, m, params)
    _say_stopped(table.attrs.get("stopped", 0), len(table))
    if table.attrs.get("partial"):
        err.print("interrupted: partial results")
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command("sensitivity")
@guarded
def sensitivity_command(
        model: ModelArg, metric: MetricOpt = "p95_response_time",
        delta: Annotated[float, typer.Option(help="Relative change of each parameter.")] = 0.05,
        param: Annotated[list[str] | None, typer.Option(
            help="Only these parameters (repeat); default: every rate, time, count and "
                 "routing probability.", show_default=False)] = None,
        out_path: OutOpt = None, method: MethodOpt = "analytic",
        replications: ReplicationsOpt = 10, seed: SeedOpt = 0, overrides: SetOpt = None) -> None:
    """Elasticity of a metric to every parameter at the operating point (tornado chart)."""
    from ..experiments.output import write
    from ..experiments.sensitivity import sensitivity
    from ..model.paths import resolve

    choice(method, SWEEP, "--method")
    m = load_model(model, overrides)
    table = sensitivity(m, metric=metric, delta=delta, parameters=param,
                        method=method, replications=replications, seed=seed)
    tu = m.time_unit
    if out_path is not None:
        write(table, out_path)
        out.print(f"wrote {out_path}")
    grid = Table(title=f"sensitivity of {table.attrs['metric']} "
                       f"(at {_value(table.attrs['metric'], table.attrs['base'], tu)})",
                 header_style="bold")
    for column in ("parameter", "value", "elasticity", "at -", "at +", "note"):
        grid.add_column(column, justify="left" if column in ("parameter", "note") else "right")
    kinds = {path: p.kind for path, p in resolve(m, list(table["parameter"])).items()}
    for row in table.to_dict("records"):
        grid.add_row(row["parameter"], _setting(kinds[row["parameter"]], row["value"], tu),
                     f"{row['elasticity']:+.3f}",
                     _value(table.attrs["metric"], row["metric_low"], tu),
                     _value(table.attrs["metric"], row["metric_high"], tu), row["note"])
    out.print(grid)
    _say_stopped(table.attrs.get("stopped", 0), 2 * len(table) + 1)


@app.command("plan")
@guarded
def plan_command(
        model: ModelArg, slo: SloOpt = None,
        load_: Annotated[str | None, typer.Option(
            "--load", help="Total arrival rate (800/s) or factor (2x); default: the model's.",
            show_default=False)] = None,
        cost: Annotated[list[str] | None, typer.Option(
            help="COMPONENT=COST per unit, e.g. nodes.app=1 (repeat); default: 1 each.",
            show_default=False)] = None,
        max_utilization: Annotated[float, typer.Option(
            help="Utilization ceiling for every station.")] = 0.8,
        limit: Annotated[list[str] | None, typer.Option(
            help="COMPONENT=HIGH or COMPONENT=LOW..HIGH (repeat); default 1..256.",
            show_default=False)] = None,
        search: Annotated[str, typer.Option(help=f"One of {', '.join(SEARCHES)}.")] = "auto",
        replications: ReplicationsOpt = 10, seed: SeedOpt = 0, as_json: JsonOpt = False,
        overrides: SetOpt = None,
        deadline: Annotated[str | None, typer.Option(
            help="Instead of an SLO: the fewest slots of each fork with tasks (map, "
                 "reduce) whose ARIA job bound meets this deadline, e.g. 10min.",
            show_default=False)] = None,
        bound: Annotated[str, typer.Option(
            help="With --deadline: upper (T_up) or average (ARIA's T_avg).")] = "upper"
        ) -> None:
    """The cheapest configuration that meets the SLO at the load (a model with batches:
    simulated, e.g. --slo "makespan < 35s"); with --deadline, the fewest map/reduce slots
    that finish a job in time by the ARIA bounds."""
    if deadline is not None:
        _plan_deadline(model, deadline, bound, slo, cost, as_json, overrides)
        return
    from ..experiments.planning import plan

    choice(search, SEARCHES, "--search")
    if not 0 < max_utilization <= 1:  # nan too: nothing would ever meet it
        raise ModelError([Problem("--max-utilization", "must be a fraction in (0, 1], got "
                                                       f"{max_utilization:g}")])
    costs = dict(_pairs(cost or [], "--cost", float)) or None
    limits = dict(_pairs(limit or [], "--limit", _limit))
    m = load_model(model, overrides)
    if why := unit_needed("rate", load_, m.time_unit):
        raise ModelError([Problem("--load", f"{why}, or a factor such as 2x")])
    result = plan(m, slo=_slo(m, slo), load=load_, cost=costs,
                  max_utilization=max_utilization, limits=limits, search=search,
                  replications=replications, seed=seed)
    if result.metrics.get("stopped"):
        err.print(f"[yellow]the planned configuration's simulation stopped at a limit of "
                  f"the run: its metrics are partial ({escape(result.metrics['stopped'])})[/]")
    if as_json:
        print(json.dumps(finite_json(result.to_dict()), allow_nan=False))
        return
    grid = Table(title=f"plan: {result}", header_style="bold")
    for column in ("parameter", "value", "lower bound", "cost/unit"):
        grid.add_column(column, justify="left" if column == "parameter" else "right")
    for knob in result.knobs:
        grid.add_row(knob.path, str(result.configuration[knob.path]),
                     str(result.lower_bounds[knob.path]), f"{knob.unit_cost:g}")
    out.print(grid)
    _print_metrics(result.metrics, m.time_unit)
    out.print(f"{result.evaluated} configurations evaluated ({result.search})")


def _plan_deadline(model: Path, deadline: str, bound: str, slo: str | None,
                   cost: list[str] | None, as_json: bool, overrides: list[str] | None) -> None:
    from ..experiments.deadline import BOUNDS, plan_deadline

    choice(bound, BOUNDS, "--bound")
    if slo is not None:
        raise ModelError([Problem("--deadline", "plans slots for a job's deadline; give "
                                                "--deadline or --slo, not both")])
    m = load_model(model, overrides)
    if why := unit_needed("duration", deadline, m.time_unit):
        raise ModelError([Problem("--deadline", why)])
    try:
        seconds = parse_duration(deadline, m.time_unit)
    except ValueError as exc:
        raise ModelError([Problem("--deadline", str(exc))]) from None
    result = plan_deadline(m, seconds, bound=bound,
                           cost=dict(_pairs(cost or [], "--cost", float)) or None)
    if as_json:
        print(json.dumps(finite_json(result.to_dict()), allow_nan=False))
        return
    unit = m.time_unit
    grid = Table(title=f"plan for a deadline: {escape(str(result))}", header_style="bold")
    for column in ("stage", "tasks", "slots", "T_low", "T_avg", "T_up"):
        grid.add_column(column, justify="left" if column == "stage" else "right")
    for b in result.stages.values():
        grid.add_row(b.stage, str(b.tasks), str(b.slots),
                     *(format_duration(x, unit) for x in (b.low, b.avg, b.high)))
    grid.add_row(f"job (+ {format_duration(result.rest, unit)} outside the stages)", "", "",
                 *(format_duration(x, unit) for x in
                   (result.low, (result.low + result.high) / 2, result.high)))
    out.print(grid)
    out.print(escape(f"ARIA {result.bound} bound (max task = E[max of n tasks]); one slot "
                     "fewer in any stage misses the deadline"))


@app.command("headroom")
@guarded
def headroom_command(model: ModelArg, slo: SloOpt = None, as_json: JsonOpt = False,
                     overrides: SetOpt = None) -> None:
    """The largest load (today's class mix) that meets the SLO, and what breaks first."""
    from ..experiments.headroom import headroom

    m = load_model(model, overrides)
    result = headroom(m, slo=_slo(m, slo))
    if as_json:
        print(json.dumps(finite_json(result.to_dict()), allow_nan=False))
        return
    out.print(f"headroom: {result}")
    out.print(f"  {result.headroom:+.1%} on today's load; saturation at "
              f"{human_rate(result.saturation_rate)}")
    _print_metrics(result.metrics, m.time_unit)


@app.command("metastability")
@guarded
def metastability_command(
        model: ModelArg,
        job_class: Annotated[str | None, typer.Option(
            "--class", help="The open class with a timeout and retries (default: the one "
                            "that retries).", show_default=False)] = None,
        low: Annotated[str | None, typer.Option(
            "--from", help="Lowest offered load, e.g. 50/s (default: 0.2x the rate that "
                           "fills the queue without retries).", show_default=False)] = None,
        high: Annotated[str | None, typer.Option(
            "--to", help="Highest offered load, e.g. 500/s (default: 1.5x that rate).",
            show_default=False)] = None,
        points: Annotated[int, typer.Option(help="Offered loads on the sweep.")] = 40,
        plot: Annotated[Path | None, typer.Option(
            "--plot", help="Write the hysteresis loop to an HTML file.",
            show_default=False)] = None,
        as_json: JsonOpt = False, overrides: SetOpt = None) -> None:
    """The metastable region of a retrying client: its rate swept up, then down (a
    hysteresis loop), and which single change removes the region."""
    from ..experiments.metastability import figure, metastability, remedies

    m = load_model(model, overrides)
    if plot is not None and plot.suffix.lower() != ".html":
        raise ModelError([Problem("--plot", f"writes HTML: use a name ending in .html, got "
                                            f"{plot.name!r}")])
    low_s, high_s = _rate(low, "--from", m.time_unit), _rate(high, "--to", m.time_unit)
    result = metastability(m, job_class, low_s, high_s, points)
    fixes = remedies(m, job_class, low_s, high_s, points)
    if plot is not None:
        figure(result).write_html(plot)
    if as_json:
        doc = {**result.to_dict(), "remedies": fixes.to_dict("records")}
        print(json.dumps(finite_json(doc), allow_nan=False))
        return
    from .metastability_view import print_loop, print_remedies

    print_loop(result)
    print_remedies(fixes, result)
    if plot is not None:
        out.print(f"wrote {plot}")


def _rate(text: str | None, option: str, time_unit: str) -> float | None:
    """A rate typed after ``option``, per second; it must carry its unit."""
    if text is None:
        return None
    if why := unit_needed("rate", text, time_unit):
        raise ModelError([Problem(option, why)])
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise ModelError([Problem(option, str(exc))]) from None


def _slo(model: Model, text: str | None) -> SLO | None:
    from ..model.slo import model_slo

    return model_slo(model, text, "--slo")


def _limit(text: str) -> int | tuple[int, int]:
    low, sep, high = text.partition("..")
    return (int(low), int(high)) if sep else int(text)


def _value(column: str, value: float, time_unit: str) -> str:
    """A metric with its unit: times in the model's ``time_unit``, rates per a unit a
    person reads (2/h); ``unbounded`` for infinity."""
    if _missing(value):
        return "—"
    if value == float("inf"):
        return "unbounded"
    column = column.removesuffix("_low").removesuffix("_high")
    if column.endswith("_per_s"):
        return human_rate(value)
    if column.endswith("_s"):
        return format_duration(value, time_unit)
    return f"{value:.4g}"


def _missing(value: Any) -> bool:
    """``pd.isna`` of one table cell (pandas is loaded by then: the table is a frame)."""
    import pandas as pd

    return bool(pd.isna(value))


def _setting(kind: str, value: float, time_unit: str) -> str:
    """A parameter's value as it would be typed: ``25ms``, ``200/s``, ``8``."""
    if kind == "rate":
        return human_rate(value)
    if kind == "duration":
        return format_duration(value, time_unit)
    return f"{value:.4g}"


def _print_metrics(metrics: dict[str, Any], time_unit: str) -> None:
    for key in ("mean_response_time_s", "p95_response_time_s", "p99_response_time_s",
                "throughput_per_s", "max_utilization", "bottleneck", "makespan_s",
                "makespan_bound_s"):
        if key in metrics:
            out.print(f"  {_header(key)}: {_cell(key, metrics[key], time_unit)}")


_LABELS = {"mean_response_time": "mean response", "throughput": "throughput",
           "max_utilization": "max utilization", "makespan": "makespan",
           "makespan_bound": "makespan bound", "meets_slo": "meets SLO"}


def _header(column: str) -> str:
    """A column's label without the unit suffix its values no longer carry in a table:
    ``p95_response_time_s`` -> ``p95 response``; a parameter's path as it is."""
    if column.startswith(("nodes.", "arrivals.", "users.", "batches.")):
        return column
    end = next((e for e in ("_low", "_high") if column.endswith(e)), "")
    base = column.removesuffix(end)
    base = base.removesuffix("_per_s") if base.endswith("_per_s") else base.removesuffix("_s")
    label = _LABELS.get(base) or base.replace("_response_time", " response").replace("_", " ")
    return label + end.replace("_", " ")


def _say_stopped(stopped: int, points: int) -> None:
    """Warn (stderr) that ``stopped`` of ``points`` simulated points stopped at a limit
    of the run (the event budget or the jobs in the system): their values are partial."""
    if stopped:
        err.print(f"[yellow]{stopped} of {points} point{'s' if points != 1 else ''} stopped "
                  "at a limit of the run: their values are partial (each row's stopped "
                  "column says why)[/]")


def _print_table(table: pd.DataFrame, model: Model, params: dict[str, Parameter]) -> None:
    """The sweep as a table: parameters with their unit, metrics in the model's time unit
    and in one rate unit for the whole table."""
    shown = table if len(table) <= SHOW_ROWS else table.head(SHOW_ROWS)
    grid = Table(title=f"{escape(str(table.attrs.get('model')))}: {len(table)} points "
                       f"({table.attrs.get('method')}; times in {model.time_unit})",
                 header_style="bold")
    names = table.attrs.get("parameters", [])
    bands = [f"{c}_{end}" for c in _SHOWN for end in ("low", "high")] + ["unstable_fraction"] \
        if table.attrs.get("uncertainty") else []
    columns = [c for c in shown.columns if c in names or c in _SHOWN or c in bands]
    rates = [table[c].max() for c in columns if c.endswith("_per_s")] + \
        [table[c].max() for c in names if c in params and params[c].kind == "rate"]
    per = rate_unit(max((r for r in rates if not _missing(r)), default=0))
    for column in columns:
        grid.add_column(_titled(column, params.get(column), model.time_unit, per),
                        justify="right")
    for row in shown.to_dict("records"):
        grid.add_row(*(_number(c, row[c], params.get(c), model.time_unit, per)
                       for c in columns))
    out.print(grid)
    if len(table) > SHOW_ROWS:
        out.print(f"… {len(table) - SHOW_ROWS} more rows; write them all with --out sweep.csv")


def _kind(column: str, param: Parameter | None) -> str:
    if param is not None:
        return param.kind
    bare = column.removesuffix("_low").removesuffix("_high")
    return "rate" if bare.endswith("_per_s") else "duration" if bare.endswith("_s") else ""


def _titled(column: str, param: Parameter | None, time_unit: str, per: str) -> str:
    unit = {"rate": f"/{per}", "duration": time_unit}.get(_kind(column, param))
    return f"{_header(column)} ({unit})" if unit else column


def _number(column: str, value: Any, param: Parameter | None, time_unit: str,
            per: str) -> str:
    """A sweep cell in its column's unit (see :func:`_titled`)."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    if _missing(value):
        return "unstable" if column in _SHOWN and column != "max_utilization" else "—"
    if value == float("inf"):
        return "∞" if param is not None else "unbounded"
    kind = _kind(column, param)
    scale = TIME_UNITS[per] if kind == "rate" else 1 / TIME_UNITS[time_unit] \
        if kind == "duration" else 1.0
    return f"{value * scale:.6g}" if param is not None else f"{value * scale:.4g}"


def _cell(column: str, value: Any, time_unit: str) -> str:
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    return _value(column, value, time_unit)
