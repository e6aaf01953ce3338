"""Rendering shared by the pages: model problems, instability, result tables, downloads."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import yaml

import qmodel
from qmodel.units import TIME_UNITS, human_rate, rate_unit

from . import compute, jobs, state, work

SYSTEM_ROWS = (
    ("mean response", "mean_response_time", "time"),
    ("p50 response", "p50_response_time", "time"),
    ("p95 response", "p95_response_time", "time"),
    ("p99 response", "p99_response_time", "time"),
    ("throughput", "throughput", "rate"),
    ("jobs in system", "mean_jobs", ""),
    ("loss probability", "loss_probability", ""),
)
BATCH_ROWS = (  # label, system key, kind, significant digits
    ("makespan", "makespan", "time", 4), ("mean turnaround", "mean_response_time", "time", 4),
    ("jobs completed", "completed", "", 7),
)
NODE_COLUMNS = (
    ("λ", "arrival_rate", "rate"), ("X", "throughput", "rate"),
    ("ρ", "utilization", ""), ("P(wait)", "p_wait", ""), ("P(loss)", "p_loss", ""),
    ("Lq", "mean_in_queue", ""), ("L", "mean_in_system", ""), ("Wq", "mean_wait", "time"),
    ("R", "mean_response", "time"), ("p95 R", "p95_response", "time"),
)


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>:~$])")


def plain(text: str) -> str:
    r"""``text`` (a message echoing a user's values) with every markdown, emoji-code and
    LaTeX character escaped, so that Streamlit shows it as typed: no link, image or emoji.

    >>> plain("got '![x](http://h/i.png) :x:'")
    "got '\\!\\[x\\]\\(http\\://h/i\\.png\\) \\:x\\:'"
    """
    return _MARKDOWN.sub(r"\\\1", text)


def show_problems(problems: list[qmodel.Problem], title: str = "The model is not valid",
                  text: str | None = None) -> None:
    """Each problem on its own line: the field path (and its line in ``text``), then what is
    wrong and what is expected; the user's text in them is shown as typed (:func:`plain`)."""
    lines = []
    for p in problems:
        line = line_of(text, p.path) if text and p.path else None
        where = f"line {line}, " if line else ""
        lines.append(f"- {where}`{p.path.replace('`', '')}`: {plain(p.message)}" if p.path
                     else f"- {plain(p.message)}")
    st.error(f"**{title}** — fix these fields:\n" + "\n".join(lines))


def line_of(text: str, path: str) -> int | None:
    """The line of YAML ``text`` where the deepest existing key of a dotted path is."""
    try:  # the text may be the hostile model being explained: nested too deep, say
        node = yaml.compose(text)
    except (yaml.YAMLError, RecursionError):
        return None
    line = None
    for part in path.split("."):
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(((k, v) for k, v in node.value if k.value == part), None)
        if found is None:
            break
        line, node = found[0].start_mark.line + 1, found[1]
    return line


def require_model() -> state.Current:
    """The current model; stops the page with its problems when it is not valid."""
    cur = state.current()
    if cur.model is None:
        show_problems(cur.problems)
        st.info("Fix the model on the **Model** page, or pick a topology there.")
        st.stop()
    return cur


def solved(cur: state.Current, method: str = "auto") -> dict | None:
    """The analytic result of ``cur`` as a dict, or None after saying why there is none."""
    try:
        return compute.solve(cur.text, method)
    except qmodel.QModelError as exc:
        st.error(f"**Cannot solve this model:** {plain(str(exc))}")
    except Exception as exc:  # a bug in a solver must not take the page down
        st.error(f"**The solver failed:** {type(exc).__name__}: {exc}. This is a bug in qmodel.")
    return None


def show_instability(res: dict, model: qmodel.Model, who: str = "") -> None:
    """Which component saturates, and the arrival rate where the system stops being stable."""
    if res["stable"]:
        return
    worst = max(res["unstable"], key=lambda u: u["utilization"])
    text = (f"**{who}Unstable:** `{worst['node']}` saturates — offered utilization "
            f"{worst['utilization']:.3g} ≥ 1, so its queue grows without bound.")
    others = [u["node"] for u in res["unstable"] if u is not worst]
    if others:
        text += f" Also saturated: {', '.join(f'`{o}`' for o in others)}."
    sat = res["system"].get("saturation_rate")
    offered = sum(c.rate for c in model.network.open_classes)
    if sat:
        per = rate_unit(max(sat, offered))
        text += (f" The system is stable only below a total arrival rate of "
                 f"**{human_rate(sat, per)}**; this model offers {human_rate(offered, per)}"
                 f" ({offered / sat:.3g}× that).")
    st.error(text)


def rates_per(res: dict) -> str:
    """The one rate unit of a result's view: the shortest in which its largest rate is at
    least 1 (a model of 2 claims an hour reads 2/h, not 0.0005556/s)."""
    rates = [(res["system"].get("throughput") or {}).get("value")]
    rates += [(n.get("arrival_rate") or {}).get("value") for n in res["nodes"].values()]
    rates += [(c.get("throughput") or {}).get("value") for c in res.get("classes", {}).values()]
    return rate_unit(max((r for r in rates if r is not None and math.isfinite(r)), default=0))


def _scale(kind: str, time_unit: str, per: str = "s") -> float:
    return 1 / TIME_UNITS[time_unit] if kind == "time" else \
        TIME_UNITS[per] if kind == "rate" else 1.0


def value(est: dict | None, kind: str, time_unit: str, per: str = "s") -> float | None:
    """An estimate in display units: times in the model's time unit, rates per ``per``."""
    if est is None or est.get("value") is None:
        return None
    return est["value"] * _scale(kind, time_unit, per)


def fmt(est: dict | None, kind: str, time_unit: str, digits: int = 4, per: str = "s",
        missing: str = "—") -> str:
    v = value(est, kind, time_unit, per)
    if v is None:
        return missing
    text = f"{v:.{digits}g}"
    ci = est.get("ci95")
    if ci and ci[0] is not None and ci[1] is not None:
        text += f" ± {(ci[1] - ci[0]) / 2 * _scale(kind, time_unit, per):.2g}"
    return text


def unit(kind: str, time_unit: str, per: str = "s") -> str:
    return {"time": time_unit, "rate": f"/{per}"}.get(kind, "")


def system_table(res: dict) -> pd.DataFrame:
    """End-to-end metrics with their unit and the method behind each number."""
    tu, system, per = res["time_unit"], res["system"], rates_per(res)
    missing = "—" if res["stable"] else "unstable"
    rows = [{"metric": label, "value": fmt(system.get(key), kind, tu, per=per, missing=missing),
             "unit": unit(kind, tu, per), "method": (system.get(key) or {}).get("method", "—")}
            for label, key, kind in SYSTEM_ROWS]
    if system.get("bottleneck"):
        rows.append({"metric": "bottleneck", "value": system["bottleneck"], "unit": "",
                     "method": ""})
    if system.get("saturation_rate"):
        rows.append({"metric": "saturation arrival rate",
                     "value": f"{system['saturation_rate'] * TIME_UNITS[per]:.4g}",
                     "unit": f"/{per}", "method": "largest stable total rate"})
    if system.get("max_throughput"):
        rows.append({"metric": "max throughput",
                     "value": f"{system['max_throughput'] * TIME_UNITS[per]:.4g}",
                     "unit": f"/{per}", "method": "1 / D_max"})
    if system.get("makespan"):
        rows.append({"metric": "makespan", "value": fmt(system["makespan"], "time", tu),
                     "unit": tu, "method": system["makespan"]["method"]})
    if system.get("makespan_bound"):
        rows.append({"metric": "makespan lower bound",
                     "value": f"{system['makespan_bound'] / TIME_UNITS[tu]:.4g}", "unit": tu,
                     "method": "work / servers, least route"})
    return pd.DataFrame(rows).set_index("metric")


def batch_table(sim: dict, res: dict) -> pd.DataFrame:
    """A batch's simulated makespan, mean turnaround and jobs completed (with their 95%
    intervals) beside the analytic lower bound on the makespan; times in the model's unit,
    or in seconds when the makespan would need five digits."""
    tu = sim["time_unit"]
    span = sim["system"].get("makespan") or {}
    if (span.get("value") or 0) / TIME_UNITS[tu] >= 1e4:
        tu = "s"
    bound = {"value": res["system"].get("makespan_bound")}
    rows = [{"metric": label, "simulated": fmt(sim["system"].get(key), kind, tu, digits),
             "lower bound": fmt(bound, kind, tu) if key == "makespan" else "—",
             "unit": unit(kind, tu)} for label, key, kind, digits in BATCH_ROWS]
    return pd.DataFrame(rows).set_index("metric")


def node_table(res: dict, words: bool = False) -> pd.DataFrame:
    """One row per station, times in the model's time unit and rates in the view's
    (:func:`rates_per`), with each row's method. ``words``: numbers as text, and a
    saturated station's missing metrics read ``unstable`` (for the screen; the CSV keeps
    numbers)."""
    tu, per = res["time_unit"], rates_per(res)
    rows = []
    for name, node in res["nodes"].items():
        row = {"station": name, "component": node["component"], "kind": node["kind"],
               "servers": "∞" if node["servers"] is None else str(node["servers"])}
        missing = "—" if node["stable"] else "unstable"
        for label, key, kind in NODE_COLUMNS:
            suffix = f" ({unit(kind, tu, per)})" if kind in ("time", "rate") else ""
            row[label + suffix] = fmt(node.get(key), kind, tu, per=per, missing=missing) \
                if words else value(node.get(key), kind, tu, per)
        offered = node.get("offered_load")
        if words and not node["stable"] and offered:
            row["ρ"] = f"{offered:.3g} ≥ 1"  # offered load per server
        row["method"] = node["method"] if node["stable"] else \
            f"saturated: offered load {offered:.3g} per server" if offered else "saturated"
        rows.append(row)
    return pd.DataFrame(rows).set_index("station")


def half_width(est: dict | None, kind: str, time_unit: str, per: str = "s") -> float | None:
    """Half the width of an estimate's 95% interval in display units (None: no interval)."""
    ci = (est or {}).get("ci95")
    if not ci or ci[0] is None or ci[1] is None:
        return None
    return (ci[1] - ci[0]) / 2 * _scale(kind, time_unit, per)


def change(now: float | None, before: float | None, half: float | None
           ) -> tuple[str | None, str]:
    """A metric card's delta and its colour mode: grey (``off``) when the change lies
    inside the 95% interval ``± half``, since it is then not a measured difference.

    >>> change(35.2, 34.9, 0.5)
    ('+0.3 (within ±0.5)', 'off')
    >>> change(36.0, 34.9, 0.5)
    ('+1.1', 'on')
    """
    if now is None or before is None:
        return None, "off"
    delta = f"{now - before:+.4g}"
    if half is not None and abs(now - before) <= half:
        return f"{delta} (within ±{half:.2g})", "off"
    return delta, "on"


def system_metrics(res: dict, baseline: dict | None = None) -> None:
    """The headline end-to-end numbers, each with its method on hover and its whole 95%
    interval under the card; with a ``baseline``, each also shows its change from it,
    coloured only when it is outside the interval."""
    tu, per = res["time_unit"], rates_per(baseline or res)
    missing = "—" if res["stable"] else "unstable"
    for col, (label, key, kind) in zip(st.columns(5), SYSTEM_ROWS[:5]):
        est = res["system"].get(key)
        now, half = value(est, kind, tu, per), half_width(est, kind, tu, per)
        before = value((baseline or {}).get("system", {}).get(key), kind, tu, per)
        delta, colour = change(now, before, half) if baseline is not None else (None, "off")
        if colour == "on":
            colour = "inverse" if kind == "time" else "normal"
        col.metric(f"{label} ({unit(kind, tu, per)})", missing if now is None else f"{now:.4g}",
                   delta,
                   delta_color=colour,
                   help=f"method: {est['method']}" if est else "not available for this model")
        if half is not None:
            low, high = (value({"value": v}, kind, tu, per) for v in est["ci95"])
            col.caption(f"± {half:.2g} (95%: {low:.4g} – {high:.4g})")


def compare_table(a: dict, b: dict) -> pd.DataFrame:
    """End-to-end metrics of A and B with the relative change."""
    per = rates_per(a)
    rows = []
    for label, key, kind in SYSTEM_ROWS:
        va = value(a["system"].get(key), kind, a["time_unit"], per)
        vb = value(b["system"].get(key), kind, a["time_unit"], per)
        change = f"{(vb - va) / va:+.1%}" if va and vb is not None else "—"
        rows.append({"metric": label, "unit": unit(kind, a["time_unit"], per),
                     "A": "—" if va is None else f"{va:.4g}",
                     "B": "—" if vb is None else f"{vb:.4g}", "change": change})
    return pd.DataFrame(rows).set_index("metric")


def downloads(name: str, document: str, table: pd.DataFrame) -> None:
    """A result table as CSV and the whole result as a JSON document."""
    a, b = st.columns(2)
    a.download_button("Table (CSV)", table.to_csv().encode(), f"{name}.csv", "text/csv",
                      on_click="ignore", key=f"{name}-csv")
    b.download_button("Result (JSON)", document.encode(), f"{name}.json",
                      "application/json", on_click="ignore", key=f"{name}-json")


def chart(fig: go.Figure, name: str, key: str) -> None:
    """A plotly chart with a self-contained HTML download (PNG: the chart's camera button)."""
    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    st.download_button("Chart (HTML)", _html(fig), f"{name}.html", "text/html",
                       key=f"{key}-html", on_click="ignore",
                       help="Self-contained: plotly.js is inside, no network needed. For a PNG, "
                            "use the camera button in the chart's toolbar.")


def _html(fig: go.Figure) -> Callable[[], bytes]:
    return lambda: fig.to_html(include_plotlyjs=True, full_html=True).encode()


def missing(feature: str, package: str, install: str) -> None:
    """Say that an optional part of the dashboard needs a package that is not installed."""
    st.info(f"**{feature}** needs `{package}`, which is not installed (`{install}`). The "
            "rest of the dashboard works without it.")


def sidebar() -> None:
    """The current scenario on every page, and its model as YAML."""
    cur = state.current()
    with st.sidebar:
        st.markdown(f"**Model:** {cur.name}")
        source = "pasted/uploaded YAML" if cur.scenario.base == state.CUSTOM else \
            f"topologies/{cur.scenario.base}.yaml"
        st.caption(source)
        for path, val in cur.scenario.changes:
            st.caption(f"`{path}` = {val}")
        st.download_button("Model (YAML)", cur.text.encode(), f"{cur.name}.yaml",
                           "application/yaml", on_click="ignore", key="sidebar-yaml")



def agreement(table: pd.DataFrame, time_unit: str) -> pd.DataFrame:
    """``qmodel.sim.compare``'s table in display units: times in the model's time unit."""
    out = table.copy()
    times = out["metric"].str.contains("wait|response")
    scale = 1 / TIME_UNITS[time_unit]
    for column in ("analytic", "simulated", "ci_low", "ci_high"):
        out.loc[times, column] = out.loc[times, column] * scale
    out["metric"] = out["metric"].where(~times, out["metric"] + f" ({time_unit})")
    return out.set_index(["node", "metric"])


def estimates_table(calibration) -> pd.DataFrame:
    """``Calibration.frame()`` in display units (durations in ms, rates per second): the
    value, its 95% interval, n, the method and, for service times, the chosen distribution
    and its KS distance."""
    frame = calibration.frame()
    scale = frame["unit"].map({"s": 1e3, "1/s": 1.0}).fillna(1.0)
    out = pd.DataFrame({
        "parameter": frame["path"], "component": frame["component"],
        "quantity": frame["quantity"], "estimate": frame["value"] * scale,
        "95% low": frame["low"].astype(float) * scale,
        "95% high": frame["high"].astype(float) * scale,
        "unit": frame["unit"].map({"s": "ms", "1/s": "/s"}).fillna(""),
        "n": frame["n"], "method": frame["method"], "distribution": frame["distribution"],
        "KS D": frame["fit_distance"].astype(float)})
    return out.set_index("parameter")


UNCERTAINTY_SAMPLES = 200
UNCERTAINTY_SEED = 0
UNCERTAINTY_ROWS = (  # label, summary row, kind
    ("mean response", "mean_response_time_s", "time"),
    ("mean wait", "mean_wait_s", "time"),
    ("p95 response", "p95_response_time_s", "time"),
    ("p99 response", "p99_response_time_s", "time"),
    ("throughput", "throughput_per_s", "rate"),
    ("max utilization", "max_utilization", ""),
    ("saturation arrival rate", "saturation_rate_per_s", "rate"),
)
COMPONENT_ROWS = (("utilization", "utilization", ""),
                  ("mean response per visit", "mean_response_s", "time"),
                  ("jobs in it", "mean_in_system", ""))


def calibration_intervals(cur: state.Current, time_unit: str) -> None:
    """For a model with a ``calibration:`` section: a checkbox that samples its calibrated
    parameters in a worker (``qmodel.experiments.uncertainty``) and shows every metric at
    the estimates with its 95% interval, and the unstable fraction. Nothing otherwise."""
    from qmodel.model.calibration import intervals

    try:
        found = intervals(cur.model)
    except qmodel.QModelError as exc:
        st.warning(f"**Calibration section:** {exc}")
        return
    if not found:
        return
    st.subheader("Uncertainty from the calibration")
    on = st.checkbox("Show 95% intervals from the calibration", key="uncertainty",
                     help=f"Samples the {len(found)} calibrated parameter(s) "
                          f"({UNCERTAINTY_SAMPLES} Latin-hypercube samples, seed "
                          f"{UNCERTAINTY_SEED}) and solves each; see docs/calibration.md, "
                          "*Uncertainty*.")
    if not on:
        return
    job = jobs.run("uncertainty", work.uncertainty, cur.text, UNCERTAINTY_SAMPLES,
                   UNCERTAINTY_SEED, label="Sampling the calibrated parameters")
    if job is None:
        return
    if job.status != "done":
        (st.warning if job.status == "cancelled" else st.error)(f"Uncertainty: {job.value}")
        return
    found = job.value
    if found["unstable_fraction"]:
        st.warning(f"**{found['unstable_fraction']:.1%} of the samples are unstable** (a "
                   "station saturates): their latencies count as infinite, so a high end can "
                   "be unbounded.")
    st.dataframe(uncertainty_table(found, time_unit), width="stretch", key="uncertainty-table")
    st.caption(f"{found['samples']} samples, seed {found['seed']}, {found['method']}; "
               "parameters sampled independently, 2.5/97.5 percentiles.")
    for note in found["notes"]:
        st.caption(f"note: {note}")


def uncertainty_table(found: dict, time_unit: str) -> pd.DataFrame:
    """``Uncertainty.to_dict()`` as rows: each metric at the estimates with its 95%
    interval, times in the model's time unit (an unbounded high end is ``unbounded``)."""
    metrics = found["metrics"]
    rows = []

    def add(label: str, key: str, kind: str) -> None:
        row = metrics.get(key)
        if row is None:
            return
        scale = 1 / TIME_UNITS[time_unit] if kind == "time" else 1.0

        def show(v: float | None) -> str:
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return "—"
            return "unbounded" if math.isinf(v) else f"{v * scale:.4g}"

        rows.append({"metric": label, "value": show(row["point"]),
                     "95% interval": f"[{show(row['low'])}, "
                                     f"{'unbounded' if row['unbounded'] else show(row['high'])}]",
                     "unit": unit(kind, time_unit)})

    for label, key, kind in UNCERTAINTY_ROWS:
        add(label, key, kind)
    comps = dict.fromkeys(k.split(".")[1] for k in metrics if k.startswith("nodes."))
    for comp in comps:
        for label, key, kind in COMPONENT_ROWS:
            add(f"{comp}: {label}", f"nodes.{comp}.{key}", kind)
    return pd.DataFrame(rows).set_index("metric")
