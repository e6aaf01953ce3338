"""Terminal rendering of results as rich tables, in the model's time unit."""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .results import Estimate, Result
from .units import TIME_UNITS


def _fmt(value: Estimate | None, scale: float = 1.0, digits: int = 4) -> str:
    if value is None:
        return "—"
    text = f"{float(value) * scale:.{digits}g}"
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


def result_tables(result: Result) -> list[Table]:
    """A per-component table and a system table for ``result``."""
    unit = result.time_unit
    per = TIME_UNITS[unit]
    t_scale, r_scale = 1.0 / per, 1.0
    nodes = Table(title=f"{escape(result.model)}: components (times in {unit}, rates per second)",
                  header_style="bold")
    for column in ("node", "kind", "c", "λ/s", "X/s", "ρ", "Lq", "L", "Wq", "R", "p95 R",
                   "P(wait)", "P(loss)", "method"):
        nodes.add_column(column, justify="left" if column in ("node", "kind", "method")
                         else "right")
    for n in result.nodes.values():
        servers = "∞" if math.isinf(n.servers) else str(n.servers)
        method = _short(n.method) + (f" — {n.note}" if n.note and not n.stable else "")
        nodes.add_row(n.name, n.kind, servers, _fmt(n.arrival_rate, r_scale),
                      _fmt(n.throughput, r_scale), _fmt(n.utilization),
                      _fmt(n.mean_in_queue), _fmt(n.mean_in_system), _fmt(n.mean_wait, t_scale),
                      _fmt(n.mean_response, t_scale), _fmt(n.p95_response, t_scale),
                      _fmt(n.p_wait), _fmt(n.p_loss), method,
                      style="red" if not n.stable else None)
    s = result.system
    system = Table(title="system (end to end)", header_style="bold")
    system.add_column("metric")
    system.add_column("value", justify="right")
    system.add_column("method")
    rows = [
        ("throughput", _fmt(s.throughput, r_scale), "/s"),
        ("mean response", _fmt(s.mean_response_time, t_scale), unit),
        ("p50 response", _fmt(s.p50_response_time, t_scale), unit),
        ("p95 response", _fmt(s.p95_response_time, t_scale), unit),
        ("p99 response", _fmt(s.p99_response_time, t_scale), unit),
        ("mean jobs in system", _fmt(s.mean_jobs), ""),
        ("loss probability", _fmt(s.loss_probability), ""),
    ]
    for label, value, suffix in rows:
        metric = getattr(s, _SYSTEM_FIELDS[label])
        system.add_row(label, f"{value} {suffix}".strip() if value != "—" else value,
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
        system.add_row("saturation arrival rate", f"{s.saturation_rate:.4g} /s",
                       "largest stable total rate")
    if s.max_throughput is not None:
        system.add_row("max throughput", f"{s.max_throughput:.4g} /s",
                       "1 / D_max")
    return [nodes, system]


_SYSTEM_FIELDS = {
    "throughput": "throughput", "mean response": "mean_response_time",
    "p50 response": "p50_response_time", "p95 response": "p95_response_time",
    "p99 response": "p99_response_time", "mean jobs in system": "mean_jobs",
    "loss probability": "loss_probability",
}


def print_result(result: Result, console: Console | None = None) -> None:
    """Print ``result`` as tables, then its instabilities and notes."""
    console = console or Console()
    for table in result_tables(result):
        console.print(table)
    for u in result.unstable:
        console.print(f"[bold red]unstable:[/] {u}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
