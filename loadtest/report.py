"""The validation report: JSON, a plotly HTML page (latency against load, predicted and
measured), and rich tables on the terminal."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from .compare import Row

REPORT_SCHEMA = "qmodel.validation/1"


@dataclass
class Level:
    """One load level: what was asked, what the load generator achieved, what the
    system measured, what the model predicted."""

    load: float
    target: dict[str, float]            # class -> rate (open) or population (closed)
    achieved: dict[str, float]          # class -> achieved rate
    checks: dict[str, dict[str, Any]]   # class -> RunCheck json
    windows: list[tuple[float, float]]
    measured: dict[str, Any]            # /metrics document (repetitions averaged)
    client: dict[str, Any]              # client-side latency per class
    rows: list[Row] = field(default_factory=list)
    predicted_stable: bool = True
    instability: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    load_average: list[tuple[float, float]] = field(default_factory=list)  # per run
    # a level read from a result file (``--results``): its name, what the file cannot
    # tell, and which file and tool it came from
    label: str | None = None
    caveats: list[str] = field(default_factory=list)
    source: dict[str, Any] | None = None
    stopped: str = ""  # why the level was stopped (error rate above the limit)

    @property
    def valid(self) -> bool:
        return not self.stopped and all(c["valid"] for c in self.checks.values())

    @property
    def passed(self) -> bool | None:
        """Gated rows all within tolerance; None when not compared (invalid run or a
        model that predicts instability)."""
        gated = [r for r in self.rows if r.gate]
        if self.stopped or not self.valid or not self.predicted_stable or not gated:
            return None
        return all(r.within for r in gated)

    def row(self, scope: str, metric: str) -> Row | None:
        return next((r for r in self.rows if r.scope == scope and r.metric == metric), None)

    def to_json(self) -> dict[str, Any]:
        return {"load": self.load, "target": self.target, "achieved": self.achieved,
                "valid": self.valid, "passed": self.passed, "checks": self.checks,
                "windows": self.windows, "predicted_stable": self.predicted_stable,
                "instability": self.instability, "methods": self.methods,
                "load_average": self.load_average, "stopped": self.stopped,
                "rows": [r.to_json() for r in self.rows], "client": self.client,
                "measured": self.measured, "label": self.label, "caveats": self.caveats,
                "source": self.source}


@dataclass
class ValidationReport:
    model: str
    mode: str
    tolerance: float
    duration_s: float
    warmup_s: float
    repeats: int
    backend: str
    calibration: dict[str, Any]
    levels: list[Level] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = "system"  # or "results": levels read from load-test result files

    @property
    def passed(self) -> bool:
        """Every compared level within tolerance, at least one compared, none stopped, and
        the calibration run (if any) valid: an INVALID one leaves every prediction made
        from it suspect, however close."""
        verdicts = [lv.passed for lv in self.levels if lv.passed is not None]
        stopped = any(lv.stopped for lv in self.levels) or bool(self.calibration.get("stopped"))
        return bool(verdicts) and all(verdicts) and not stopped and \
            self.calibration.get("valid") is not False

    def overall(self) -> str:
        """``PASSED`` or ``NOT PASSED``, with the reason when the levels alone passed."""
        if self.passed:
            return "PASSED"
        if self.calibration.get("valid") is False and self.levels and \
                all(lv.passed is not False for lv in self.levels):
            return "NOT PASSED (the calibration run was INVALID: its service times are suspect)"
        return "NOT PASSED"

    def to_dict(self) -> dict[str, Any]:
        return {"schema": REPORT_SCHEMA, "model": self.model, "mode": self.mode,
                "tolerance": self.tolerance, "duration_s": self.duration_s,
                "warmup_s": self.warmup_s, "repeats": self.repeats, "backend": self.backend,
                "passed": self.passed, "calibration": self.calibration, "notes": self.notes,
                "source": self.source, "levels": [lv.to_json() for lv in self.levels]}

    @classmethod
    def read_json(cls, path: Path) -> ValidationReport:
        """A report written by :meth:`write_json` (to print or plot it again)."""
        doc = json.loads(Path(path).read_text())
        levels = []
        for lv in doc["levels"]:
            rows = [Row(**r) for r in lv["rows"]]
            levels.append(Level(lv["load"], lv["target"], lv["achieved"], lv["checks"],
                                [tuple(w) for w in lv["windows"]], lv["measured"],
                                lv["client"], rows, lv["predicted_stable"], lv["instability"],
                                lv["methods"], [tuple(a) for a in lv.get("load_average", [])],
                                lv.get("label"), lv.get("caveats", []), lv.get("source"),
                                lv.get("stopped", "")))
        return cls(doc["model"], doc["mode"], doc["tolerance"], doc["duration_s"],
                   doc["warmup_s"], doc["repeats"], doc["backend"], doc["calibration"], levels,
                   doc["notes"], doc.get("source", "system"))

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2, default=float))

    def figure(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        side = "client" if self.calibration.get("kind") == "target" else "server"
        fig = make_subplots(rows=1, cols=2, subplot_titles=(
            f"End to end ({side} side)", "Mean response per component"))
        levels = [lv for lv in self.levels if lv.predicted_stable]
        x = [lv.load for lv in levels]
        scope = next((r.scope for lv in levels for r in lv.rows
                      if r.scope.startswith("end-to-end")), "end-to-end")
        for metric, dash in (("mean_response_s", "solid"), ("p95_response_s", "dot")):
            rows = [lv.row(scope, metric) for lv in levels]
            ms = lambda v: None if v is None else v * 1000  # noqa: E731
            fig.add_trace(go.Scatter(x=x, y=[ms(r.predicted) if r else None for r in rows],
                                     mode="lines", line={"dash": dash},
                                     name=f"{metric[:4]} predicted"), 1, 1)
            fig.add_trace(go.Scatter(x=x, y=[ms(r.predicted_at_measured) if r else None
                                             for r in rows], mode="markers",
                                     marker={"symbol": "x"},
                                     name=f"{metric[:4]} predicted at measured rate"), 1, 1)
            fig.add_trace(go.Scatter(x=x, y=[ms(r.measured) if r else None for r in rows],
                                     mode="markers", marker={"size": 9},
                                     name=f"{metric[:4]} measured"), 1, 1)
        components = sorted({r.scope for lv in levels for r in lv.rows
                             if not r.scope.startswith("end-to-end")})
        for component in components:
            rows = [lv.row(component, "mean_response_s") for lv in levels]
            fig.add_trace(go.Scatter(x=x, y=[r.predicted * 1000 if r and r.predicted else None
                                             for r in rows], mode="lines",
                                     name=f"{component} predicted"), 1, 2)
            fig.add_trace(go.Scatter(x=x, y=[r.measured * 1000 if r and r.measured else None
                                             for r in rows], mode="markers",
                                     name=f"{component} measured"), 1, 2)
        axis = "offered utilization of the bottleneck" if self.mode == "open" else \
            "population (fraction of the model's)"
        fig.update_xaxes(title_text=axis)
        fig.update_yaxes(title_text="ms")
        fig.update_layout(title=f"{self.model}: predicted vs measured "
                                f"({self.duration_s:g} s windows x {self.repeats})")
        return fig

    def write_html(self, path: Path) -> None:
        tables = "".join(_html_table(lv, self.tolerance) for lv in self.levels)
        figure = self.figure().to_html(full_html=False, include_plotlyjs=True)
        notes = "".join(f"<li>{escape(n)}</li>" for n in self.notes)
        if self.calibration.get("kind") == "target":
            notes += f"<li>calibration: {_target_calibration(self.calibration)}</li>"
        path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>"
                        f"qmodel validation: {escape(self.model)}</title></head><body>"
                        f"<h1>{escape(self.model)}: validation ({escape(self.overall().lower())})"
                        f"</h1><ul>{notes}</ul>{figure}{tables}</body></html>")

    def print(self, console=None) -> None:
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        if self.calibration.get("kind") == "target":
            console.print("calibration: " + _target_calibration(self.calibration))
        for lv in self.levels:
            title = _title(lv)
            table = Table(title=title, title_justify="left", box=None, pad_edge=False)
            short = self.source == "results"  # predicted at the measured rate only
            for column in ("scope", "metric", "measured", "predicted", "err", "@rate", "err",
                           "@rate+svc", "err", "within"):
                table.add_column(column, justify="left" if column in ("scope", "metric")
                                 else "right", no_wrap=True)
            if short:
                table.columns[5:9] = []
            for r in lv.rows:
                cells = [r.scope, SHORT.get(r.metric, r.metric),
                         _fmt(r.metric, r.measured), _fmt(r.metric, r.predicted),
                         _pct(r.rel_error), _fmt(r.metric, r.predicted_at_measured),
                         _pct(r.rel_error_at_measured),
                         _fmt(r.metric, r.predicted_at_measured_service),
                         _pct(r.rel_error_at_measured_service),
                         "" if r.within is None else ("yes" if r.within else "NO")
                         + (" *" if r.gate else "")]
                table.add_row(*(cells[:5] + cells[9:] if short else cells))
            console.print(table)
            health = (lv.measured or {}).get("system", {}).get("processes", {})
            for name, h in sorted(health.items()):
                per_wakeup = h.get("runqueue_wait_per_wakeup_s")
                console.print(f"  system {name}: event-loop lag mean "
                              f"{h['loop_lag_mean_s'] * 1e3:.2f} ms, p99 "
                              f"{h['loop_lag_p99_s'] * 1e3:.2f} ms; waited for a CPU "
                              f"{h['runqueue_wait_s_per_s']:.3f} s/s"
                              + (f" ({per_wakeup * 1e6:.0f} µs per wake-up)"
                                 if per_wakeup is not None else "")
                              + f"; used {h['cpu_cores']:.2f} cores")
            services = _service_line(lv)
            if services:
                console.print(f"  delivered/drawn service: {services}")
            for line in _target_lines(lv):
                console.print(f"  {line}")
            for row in lv.rows:
                if row.note:
                    console.print(f"  {row.scope} {SHORT.get(row.metric, row.metric)}: "
                                  f"{row.note}", highlight=False, markup=False)
            for caveat in lv.caveats:
                console.print(f"  caveat: {caveat}", highlight=False, markup=False)
        if self.source == "results":
            console.print(f"* gated at ±{self.tolerance:.0%}. predicted: the model at each "
                          "level's measured rate; measured: client-side "
                          f"end to end from the files. Overall: {self.overall()}")
            return
        console.print(f"* gated at ±{self.tolerance:.0%}. predicted: the calibrated model at "
                      f"the target rate; @rate: at the measured rate; @rate+svc: at the "
                      f"measured rate and measured service times. Overall: {self.overall()}")


SHORT = {"throughput_per_s": "X/s", "utilization": "util", "mean_response_s": "mean",
         "mean_service_s": "service",
         "p50_response_s": "p50", "p95_response_s": "p95", "p99_response_s": "p99"}


def _title(lv: Level) -> str:
    if lv.label is not None:  # a level read from a result file
        load = f", offered utilization {lv.load:.3g}" if lv.load else ""
        return f"{lv.label}: measured {_fmt_dict(lv.achieved)}/s{load} — {_verdict(lv)}"
    return (f"load {lv.load:g}: target {_fmt_dict(lv.target)}, achieved "
            f"{_fmt_dict(lv.achieved)}{_fmt_load(lv)} — {_verdict(lv)}")


def _fmt_load(lv: Level) -> str:
    if not lv.load_average:
        return ""
    values = [v for pair in lv.load_average for v in pair]
    return f" (machine load average {min(values):.1f}–{max(values):.1f})"


def _service_line(lv: Level) -> str:
    parts = []
    for name, doc in sorted(((lv.measured or {}).get("components") or {}).items()):
        drawn, delivered = doc.get("mean_target_service_s"), doc.get("mean_service_s")
        if drawn and delivered:
            parts.append(f"{name} {delivered * 1e3:.2f}/{drawn * 1e3:.2f} ms "
                         f"({delivered / drawn - 1:+.1%})")
    return ", ".join(parts)


def _target_calibration(cal: dict[str, Any]) -> str:
    """One line on a target's calibration step."""
    if cal.get("stopped"):
        return f"STOPPED: {cal['stopped']}"
    overhead = (f"delay {cal['overhead_s'] * 1e3:.2f} ms" if cal.get("overhead_measured")
                else "overhead not measured (0)")
    if cal.get("client_share_s") is not None and cal.get("overhead_request_s") is not None:
        overhead += (f" (overhead request {cal['overhead_request_s'] * 1e3:.2f} ms: client "
                     f"share {cal['client_share_s'] * 1e3:.2f} ms is delay, server share "
                     f"{(cal['overhead_request_s'] - cal['client_share_s']) * 1e3:.2f} ms "
                     "is service)")
    demands = ", ".join(f"{c} client {cal['client_mean_s'][c] * 1e3:.2f} ms -> demand "
                        f"{v * 1e3:.2f} ms" for c, v in cal["demand_s"].items())
    services = ", ".join(f"{c} {v * 1e3:.2f} ms" for c, v in cal["mean_service_s"].items())
    return (f"load {cal['load']:g}, {overhead}; {demands}; model service x "
            f"{cal['factor']:.4f} ({services})" + ("" if cal.get("valid", True) else
                                                   " — INVALID run"))


def _target_lines(lv: Level) -> list[str]:
    """A target level's error rates, unmapped metrics and scrape problems."""
    measured = lv.measured or {}
    lines = []
    errors = measured.get("error_rates")
    if errors:
        lines.append("error rate: " + ", ".join(f"{c} {v:.2%}" for c, v in errors.items()))
    for component, doc in (measured.get("metrics") or {}).items():
        if component == "_scrape_errors":
            lines.append("scrape errors: " + "; ".join(doc))
            continue
        for quantity, figures in doc.items():
            if figures.get("missing"):
                lines.append(f"metrics {component}.{quantity}: {figures['missing']}")
    if measured.get("unmapped"):
        lines.append("unmapped metrics (not compared): " + ", ".join(measured["unmapped"]))
    return lines


def _verdict(lv: Level) -> str:
    if lv.stopped:
        return f"STOPPED: {lv.stopped}"
    invalid = "INVALID run, not compared: " + "; ".join(
        p for c in lv.checks.values() for p in c["problems"])
    if not lv.predicted_stable:  # nothing to compare either way
        return "the model predicts instability: " + "; ".join(lv.instability) + (
            "" if lv.valid else f" ({invalid})")
    if not lv.valid:
        return invalid
    return {True: "within tolerance", False: "OUT of tolerance", None: "not gated"}[lv.passed]


def _fmt_dict(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in d.items())


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric.endswith("_per_s"):
        return f"{v:.1f}"
    if metric.endswith("_s"):
        return f"{v * 1000:.2f} ms"
    return f"{v:.3f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:+.1%}"


def _html_table(lv: Level, tolerance: float) -> str:
    head = ("<tr><th>scope</th><th>metric</th><th>measured</th><th>predicted</th><th>error"
            "</th><th>predicted at measured rate</th><th>error</th><th>predicted at "
            "measured rate and service times</th><th>error</th><th>within "
            f"±{tolerance:.0%}</th></tr>")
    body = "".join(
        f"<tr><td>{r.scope}</td><td>{r.metric}</td><td>{_fmt(r.metric, r.measured)}</td>"
        f"<td>{_fmt(r.metric, r.predicted)}</td><td>{_pct(r.rel_error)}</td>"
        f"<td>{_fmt(r.metric, r.predicted_at_measured)}</td>"
        f"<td>{_pct(r.rel_error_at_measured)}</td>"
        f"<td>{_fmt(r.metric, r.predicted_at_measured_service)}</td>"
        f"<td>{_pct(r.rel_error_at_measured_service)}</td>"
        f"<td>{'' if r.within is None else r.within}"
        f"{' (gated)' if r.gate else ''}</td></tr>" for r in lv.rows)
    services = _service_line(lv)
    notes = [f"{r.scope} {r.metric}: {r.note}" for r in lv.rows if r.note] + \
        [f"caveat: {c}" for c in lv.caveats]
    return (f"<h2>{escape(_title(lv))}</h2>" if lv.label is not None else
            f"<h2>load {lv.load:g} — {_verdict(lv)}</h2><p>target {_fmt_dict(lv.target)}; "
            f"achieved {_fmt_dict(lv.achieved)}{_fmt_load(lv)}</p>") \
        + (f"<p>delivered/drawn service: {services}</p>" if services else "") \
        + "".join(f"<p>{escape(line)}</p>" for line in _target_lines(lv)) \
        + f"<table border='1' cellpadding='3'>{head}{body}</table>" \
        + ("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>" if notes else "")
