"""Terminal rendering of results as rich tables: one time unit (the model's) and one rate
unit (the shortest in which the view's largest rate is at least 1, e.g. 2/h) per view."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .result_extras import JobBounds, Staleness
from .results import Estimate, Result, grouped_notes
from .units import TIME_UNITS, human_rate, rate_unit

if TYPE_CHECKING:  # pandas loads with the simulator, not for a table
    import pandas as pd

UNSTABLE = "unstable"
SIMULATE_HINT = "needs simulation"


def _fmt(value: Estimate | None, scale: float = 1.0, digits: int = 4, missing: str = "—"
         ) -> str:
    if value is None:
        return missing
    x = float(value) * scale
    text = f"{round(x):,}" if 1e4 <= abs(x) < 1e15 else f"{x:.{digits}g}"
    if value.ci95 is not None:
        half = (value.ci95[1] - value.ci95[0]) / 2 * scale
        text += f" ±{half:.2g}"
    return text


def _span(value: Estimate, unit: str) -> str:
    """A long time (a makespan): in ``unit``, or in seconds when that needs five digits."""
    if value / TIME_UNITS[unit] >= 1e4:
        unit = "s"
    return f"{_fmt(value, 1.0 / TIME_UNITS[unit])} {unit}"


def _short(method: str) -> str:
    return method.replace("approximation", "approx")


def view_rate_unit(result: Result) -> str:
    """The rate unit of a result's tables: the shortest in which its largest rate is >= 1.

    >>> from qmodel.results import Result, SystemResult
    >>> r = Result("m", "exact", "s", {}, SystemResult("exact", throughput=Estimate(2 / 3600)))
    >>> view_rate_unit(r)
    'h'
    """
    rates = [float(x) for x in (
        [result.system.throughput]
        + [n.arrival_rate for n in result.nodes.values()]
        + [c.throughput for c in result.classes.values()]) if x is not None]
    finite = [x for x in rates if math.isfinite(x) and x > 0]
    return rate_unit(max(finite)) if finite else "s"


def result_tables(result: Result) -> list[Table]:
    """A per-component table, a per-class table (more than one class) and a system table."""
    unit = result.time_unit
    t_scale = 1.0 / TIME_UNITS[unit]
    ru = view_rate_unit(result)
    r_scale = TIME_UNITS[ru]
    nodes = Table(title=f"{escape(result.model)}: components (times in {unit}, rates per {ru})",
                  header_style="bold")
    for column in ("node", "kind", "c", f"λ/{ru}", f"X/{ru}", "ρ", "Lq", "L", f"Wq {unit}",
                   f"R {unit}", f"p95 R {unit}", "P(wait)", "P(loss)", "method"):
        nodes.add_column(column, justify="left" if column in ("node", "kind", "method")
                         else "right")
    for n in result.nodes.values():
        servers = "∞" if math.isinf(n.servers) else str(n.servers)
        method = _short(n.method) + (f" — {n.note}" if n.note and not n.stable else "")
        rho = _fmt(n.utilization)
        if not n.stable and n.offered_load is not None and n.utilization is None:
            rho = f"{n.offered_load:.3g} ≥ 1"  # offered load per server
        nodes.add_row(n.name, n.kind, servers, _fmt(n.arrival_rate, r_scale),
                      _fmt(n.throughput, r_scale), rho, _fmt(n.mean_in_queue),
                      _fmt(n.mean_in_system), _fmt(n.mean_wait, t_scale),
                      _fmt(n.mean_response, t_scale), _fmt(n.p95_response, t_scale),
                      _fmt(n.p_wait), _fmt(n.p_loss), method,
                      style="red" if not n.stable else None)
    tables = [nodes]
    if len(result.classes) > 1:
        tables.append(_class_table(result, t_scale, ru))
    tables += _behaviour_tables(result, t_scale, ru)
    stale = getattr(result, "consistency", None)
    if stale is not None:
        tables.append(_consistency_table(stale, unit))
    tables += [_aria_table(job, t_scale, unit) for job in getattr(result, "aria", {}).values()]
    tables.append(_system_table(result, t_scale, ru))
    return tables


def _aria_table(job: JobBounds, t_scale: float, unit: str) -> Table:
    """A job's ARIA bounds: per stage and for the whole job (its stages plus the rest)."""
    table = Table(title=escape(f"ARIA bounds, class {job.job_class} (times in {unit}; "
                               "max = E[max of n tasks])"), header_style="bold")
    for column in ("stage", "tasks", "slots", "task mean", "max task", "T_low", "T_avg",
                   "T_up"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for b in job.stages.values():
        slots = "∞" if math.isinf(b.slots) else str(b.slots)
        table.add_row(b.stage, str(b.tasks), slots, _fmt(b.task_mean, t_scale),
                      _fmt(b.max_task, t_scale), _fmt(b.low, t_scale),
                      _fmt(Estimate(b.avg), t_scale), _fmt(b.high, t_scale))
    if job.low is not None and job.high is not None:
        table.add_row(f"job (+ {_fmt(job.rest, t_scale)} {unit} outside the stages)", "", "",
                      "", "",
                      _fmt(job.low, t_scale), _fmt(Estimate((job.low + job.high) / 2), t_scale),
                      _fmt(job.high, t_scale))
    return table


def _consistency_table(stale: Staleness, unit: str) -> Table:
    """Stale reads (PBS): right after a commit with slow replication (k-staleness), at
    times after the commit (t-visibility), and the time to 99.9% fresh reads."""
    scale = 1.0 / TIME_UNITS[unit]
    table = Table(title=f"consistency: stale reads, R = {stale.r} of N = {stale.n}, "
                        f"W = {stale.w} (PBS; times in {unit} after the commit)",
                  header_style="bold")
    for column in ("metric", "value", "method"):
        table.add_column(column, justify="right" if column == "value" else "left")
    table.add_row("P(stale), replication slow (k-staleness)", _fmt(stale.p_stale_k),
                  _short(stale.p_stale_k.method))
    for t, p in stale.p_stale_at:
        table.add_row(f"P(stale) {t * scale:.4g} {unit} after the commit", _fmt(p),
                      _short(p.method))
    if stale.t_999 is not None:
        table.add_row(f"time to 99.9% fresh reads ({unit})", _fmt(stale.t_999, scale),
                      _short(stale.t_999.method))
    if stale.note:
        table.add_row(stale.note, "", "")
    return table


def _behaviour_tables(result: Result, t_scale: float, ru: str) -> list[Table]:
    """For a simulation of a model with behaviours: what each open class's clients saw,
    each pool's wait and use, and each queue's abandonment and balking."""
    unit = result.time_unit
    r_scale = TIME_UNITS[ru]
    tables = []
    clients = [c for c in result.classes.values() if c.client is not None]
    if clients:
        table = Table(title=f"clients (per class; rates per {ru}, times in {unit})",
                      header_style="bold")
        for column in ("class", "offered", "attempts", "goodput", "amplification",
                       "timeouts", "failures", "wasted work", "p50 R", "p95 R", "p99 R",
                       "p99.9 R"):
            table.add_column(column, justify="left" if column == "class" else "right")
        for c in clients:
            k = c.client
            table.add_row(c.name, _fmt(k.offered_rate, r_scale), _fmt(k.attempt_rate, r_scale),
                          _fmt(k.goodput, r_scale), _fmt(k.retry_amplification),
                          _fmt(k.timeout_rate, r_scale), _fmt(k.failure_rate, r_scale),
                          _fmt(k.wasted_work),
                          *(_fmt(c.percentile(p), t_scale) for p in (0.5, 0.95, 0.99, 0.999)))
        tables.append(table)
    pools = getattr(result, "pools", {})
    if pools:
        table = Table(title=f"pools (wait in {unit})", header_style="bold")
        for column in ("pool", "size", "utilization", "mean wait", f"acquired/{ru}"):
            table.add_column(column, justify="left" if column == "pool" else "right")
        for p in pools.values():
            table.add_row(p.name, str(p.size), _fmt(p.utilization), _fmt(p.mean_wait, t_scale),
                          _fmt(p.acquire_rate, r_scale))
        tables.append(table)
    keys = ("p_abandon", "p_balk", "call_amplification", "call_timeout_rate",
            "call_failure_rate")
    held = [n for n in result.nodes.values() if any(getattr(n, k) is not None for k in keys)]
    if held:
        table = Table(title=f"abandonment, balking and calls (rates per {ru})",
                      header_style="bold")
        for column in ("node", "P(abandon)", "P(balk)", "call amplification",
                       "call timeouts", "call failures"):
            table.add_column(column, justify="left" if column == "node" else "right")
        for n in held:
            table.add_row(n.name, _fmt(n.p_abandon), _fmt(n.p_balk),
                          _fmt(n.call_amplification), _fmt(n.call_timeout_rate, r_scale),
                          _fmt(n.call_failure_rate, r_scale))
        tables.append(table)
    return tables


def _class_table(result: Result, t_scale: float, ru: str) -> Table:
    """End to end per class: throughput, mean and p95 response (population when closed)."""
    unit = result.time_unit
    gone = "—" if result.stable else UNSTABLE
    table = Table(title="classes (end to end)", header_style="bold")
    for column in ("class", "kind", "N", f"X/{ru}", f"mean R {unit}", f"p95 R {unit}",
                   "method"):
        table.add_column(column, justify="left" if column in ("class", "kind", "method")
                         else "right")
    for c in result.classes.values():
        method = c.mean_response_time.method if c.mean_response_time is not None else ""
        table.add_row(c.name, c.kind, "" if c.population is None else str(c.population),
                      _fmt(c.throughput, TIME_UNITS[ru], missing=gone),
                      _fmt(c.mean_response_time, t_scale, missing=gone),
                      _fmt(c.p95_response_time, t_scale, missing=gone), _short(method))
    return table


def _system_table(result: Result, t_scale: float, ru: str) -> Table:
    unit = result.time_unit
    s = result.system
    gone = "—" if result.stable else UNSTABLE
    system = Table(title="system (end to end)", header_style="bold")
    system.add_column("metric")
    system.add_column("value", justify="right")
    system.add_column("method")
    rows = [
        ("throughput", _fmt(s.throughput, TIME_UNITS[ru]), f"/{ru}"),
        ("mean response", _fmt(s.mean_response_time, t_scale), unit),
        ("p50 response", _fmt(s.p50_response_time, t_scale), unit),
        ("p95 response", _fmt(s.p95_response_time, t_scale), unit),
        ("p99 response", _fmt(s.p99_response_time, t_scale), unit),
        ("mean jobs in system", _fmt(s.mean_jobs), ""),
        ("loss probability", _fmt(s.loss_probability), ""),
    ]
    for label, value, suffix in rows:
        metric = getattr(s, _SYSTEM_FIELDS[label])
        shown = f"{value}{suffix}" if suffix.startswith("/") else f"{value} {suffix}".strip()
        system.add_row(label, shown if value != "—" else gone,
                       _short(metric.method) if metric is not None else "")
    if s.makespan is not None:
        system.add_row("makespan", _span(s.makespan, unit), _short(s.makespan.method))
    if s.completed is not None:
        system.add_row("jobs completed", _fmt(s.completed, digits=7), _short(s.completed.method))
    if s.makespan_bound is not None:
        system.add_row("makespan lower bound", _span(Estimate(s.makespan_bound), unit),
                       "work / servers, least route")
    if s.bottleneck:
        system.add_row("bottleneck", s.bottleneck, "")
    if s.saturation_rate is not None:
        system.add_row("saturation arrival rate", human_rate(s.saturation_rate, ru),
                       "largest stable total rate")
    if s.max_throughput is not None:
        system.add_row("max throughput", human_rate(s.max_throughput, ru), "1 / D_max")
    return system


_SYSTEM_FIELDS = {
    "throughput": "throughput", "mean response": "mean_response_time",
    "p50 response": "p50_response_time", "p95 response": "p95_response_time",
    "p99 response": "p99_response_time", "mean jobs in system": "mean_jobs",
    "loss probability": "loss_probability",
}


def needs_simulation(result: Result) -> bool:
    """True when the analytic methods give no end-to-end answer for a stable model."""
    return result.stable and result.system.method == SIMULATE_HINT


def print_result(result: Result, console: Console | None = None) -> None:
    """Print ``result`` as tables, then its instabilities and notes (each once)."""
    console = console or Console()
    for table in result_tables(result):
        console.print(table)
    for u in result.unstable:
        console.print(f"[bold red]unstable:[/] {u}", highlight=False)
    if result.unstable and result.system.saturation_rate:
        console.print("the system is stable only below a total arrival rate of "
                      f"{human_rate(result.system.saturation_rate)}", highlight=False)
    for note in grouped_notes(result.notes, bool(result.unstable)):
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def compare_table(table: pd.DataFrame, time_unit: str) -> Table:
    """:func:`qmodel.sim.compare`'s table for a terminal: a verdict in the caption, the
    disagreements first, each analytic value outside the simulation's 95% interval marked;
    times in ``time_unit``, rates in one unit for the table (2/h), 4 significant digits, the
    difference in percent."""
    rates = table.loc[table["metric"] == "throughput", ["analytic", "simulated"]]
    ru = rate_unit(float(np.nanmax(rates.to_numpy(dtype=float)))) if len(rates) else "s"
    grid = Table(title=f"analytic vs simulated (times in {time_unit}, rates per {ru})",
                 header_style="bold", caption=compare_verdict(table), caption_justify="left")
    for column in ("node", "metric", "analytic", "simulated", "95% interval", "diff",
                   "agrees"):
        grid.add_column(column, justify="left" if column in ("node", "metric") else "right")
    ordered = sorted(table.to_dict("records"), key=lambda row: bool(row["agrees"]))
    for row in ordered:
        metric = str(row["metric"])
        scale, unit = ((1 / TIME_UNITS[time_unit], time_unit)
                       if any(w in metric for w in ("wait", "response", "makespan")) else
                       (TIME_UNITS[ru], f"/{ru}") if metric == "throughput" else (1.0, ""))

        a, b, low, high = (_scaled(row[k], scale)
                           for k in ("analytic", "simulated", "ci_low", "ci_high"))
        diff = row.get("rel_diff")
        outside = not row["ci_low"] <= row["analytic"] <= row["ci_high"]
        grid.add_row(str(row["node"]), f"{metric} ({unit})" if unit else metric,
                     a, b, f"[{low}, {high}]" + (" [yellow]✗[/]" if outside else ""),
                     "—" if diff is None or diff != diff else f"{diff:+.1%}",
                     "yes" if row["agrees"] else "[red]no[/]")
    return grid


def compare_verdict(table: pd.DataFrame) -> str:
    """One line: how many metrics disagree and how many analytic values lie outside the
    simulation's 95% interval (✗).

    >>> import pandas as pd
    >>> t = pd.DataFrame({"analytic": [1.0, 2.0], "ci_low": [0.9, 2.5], "ci_high": [1.1, 2.6],
    ...                   "agrees": [True, False]})
    >>> compare_verdict(t)
    'DISAGREE: 1 of 2 metrics; 1 analytic value outside the 95% interval (✗)'
    """
    n, bad = len(table), int((~table["agrees"].astype(bool)).sum())
    outside = int(((table["analytic"] < table["ci_low"]) |
                   (table["analytic"] > table["ci_high"])).sum())
    values = f"{outside} analytic value{'s' if outside != 1 else ''} outside the 95% " \
             "interval (✗)"
    if bad == 0:
        return f"AGREE: all {n} metrics within the interval or 5%; {values}"
    return f"DISAGREE: {bad} of {n} metrics; {values}"


def _scaled(x: float | None, scale: float) -> str:
    return "—" if x is None or x != x else f"{x * scale:.4g}"
