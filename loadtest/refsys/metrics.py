"""Measured waiting, service and response times per component and end to end, from the
trace rows of a time window (what ``GET /metrics`` returns)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def _stats(values: np.ndarray, prefix: str) -> dict[str, float | None]:
    if len(values) == 0:
        return {f"mean_{prefix}_s": None, f"p50_{prefix}_s": None,
                f"p95_{prefix}_s": None, f"p99_{prefix}_s": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {f"mean_{prefix}_s": float(values.mean()), f"p50_{prefix}_s": float(p50),
            f"p95_{prefix}_s": float(p95), f"p99_{prefix}_s": float(p99)}


def batch_means_ci(values: np.ndarray, batches: int = 10) -> float | None:
    """Half-width of a 95% confidence interval of the mean by batch means (values in time
    order), relative to the mean: the run's own sampling noise."""
    if len(values) < batches * 20:
        return None
    means = np.array([b.mean() for b in np.array_split(values, batches)])
    mean = values.mean()
    if mean == 0:
        return None
    return float(2.262 * means.std(ddof=1) / math.sqrt(batches) / mean)


def _busy(rows: pd.DataFrame, since: float, until: float) -> float:
    """Server-seconds of service inside the window (a batch counts once)."""
    spans = rows.drop_duplicates(["station", "start", "end", "target"])
    overlap = np.minimum(spans["end"], until) - np.maximum(spans["start"], since)
    return float(np.clip(overlap, 0, None).sum())


def jobs_of(tasks: pd.DataFrame) -> pd.DataFrame:
    """A fork's task rows (ids ``JOB/i``) as one row per job: enqueued when the job
    arrived, started with its first task, ended with its last (the model's fork time)."""
    job = tasks["id"].str.rsplit("/", n=1).str[0]
    return tasks.groupby(job).agg(enqueue=("enqueue", "min"), start=("start", "min"),
                                  end=("end", "max")).reset_index(drop=True)


def component_metrics(rows: pd.DataFrame, rejected: int, since: float, until: float,
                      servers: int | None, fork: bool = False) -> dict[str, Any]:
    """Metrics of one component (all its member stations) in ``[since, until)``. For a
    fork, count, throughput, waiting and response are per job (as the model has them),
    service times and utilization per task."""
    length = until - since
    inside = rows[(rows["enqueue"] >= since) & (rows["enqueue"] < until)].sort_values("enqueue")
    per_item = jobs_of(rows) if fork and len(rows) else rows
    items = per_item[(per_item["enqueue"] >= since) & (per_item["enqueue"] < until)] \
        .sort_values("enqueue")
    done = per_item[(per_item["end"] >= since) & (per_item["end"] < until)]
    out: dict[str, Any] = {"count": int(len(items)), "rejected": int(rejected),
                           "throughput_per_s": len(done) / length if length > 0 else None}
    busy = _busy(rows, since, until)
    out["busy_servers"] = busy / length if length > 0 else None
    out["utilization"] = busy / (servers * length) if servers and length > 0 else None
    response = (items["end"] - items["enqueue"]).to_numpy()
    out.update(_stats((items["start"] - items["enqueue"]).to_numpy(), "wait"))
    out["mean_service_s"] = float(inside["service"].mean()) if len(inside) else None
    out["mean_target_service_s"] = float(inside["target"].mean()) if len(inside) else None
    out.update(_stats(response, "response"))
    out["mean_response_ci95_rel"] = batch_means_ci(response)
    return out


def end_to_end(rows: pd.DataFrame, since: float, until: float) -> dict[str, Any]:
    inside = rows[(rows["enqueue"] >= since) & (rows["enqueue"] < until)].sort_values("enqueue")
    response = (inside["end"] - inside["enqueue"]).to_numpy()
    length = until - since
    out: dict[str, Any] = {"count": int(len(inside)),
                           "throughput_per_s": len(inside) / length if length > 0 else None}
    out.update(_stats(response, "response"))
    out["mean_response_ci95_rel"] = batch_means_ci(response)
    return out


def pd_float(column: pd.Series) -> np.ndarray:
    """A text column as floats (blank or malformed: NaN)."""
    out = np.full(len(column), np.nan)
    for i, value in enumerate(column):
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            pass
    return out


def system_health(frame: pd.DataFrame, since: float, until: float) -> dict[str, Any]:
    """Per process of the system (from its probe's ``L`` rows in the window): event-loop
    lag (mean, p99), run-queue wait (seconds per second waiting for a CPU: the machine's
    other load) and the cores it used; ``worst`` over the processes."""
    rows = frame[(frame["kind"] == "L") & (frame["start"] >= since) & (frame["start"] < until)]
    out: dict[str, Any] = {}
    for name, r in rows.groupby("station"):
        lag = r["target"].to_numpy()
        waited = r["service"].to_numpy()
        cpu = r["cls"].astype(float).to_numpy()
        per_wakeup = pd_float(r["component"])
        out[name] = {"samples": int(len(r)), "loop_lag_mean_s": float(np.nanmean(lag)),
                     "loop_lag_p99_s": float(np.nanpercentile(lag, 99)),
                     "runqueue_wait_s_per_s": float(np.nanmean(waited)),
                     "runqueue_wait_per_wakeup_s": float(np.nanmean(per_wakeup))
                     if np.isfinite(per_wakeup).any() else None,
                     "cpu_cores": float(np.nanmean(cpu))}
    worst = {key: max((p[key] for p in out.values()), default=None)
             for key in ("loop_lag_mean_s", "loop_lag_p99_s", "runqueue_wait_s_per_s")}
    return {"processes": out, "worst": worst}


def summarize(frame: pd.DataFrame, since: float, until: float,
              servers: dict[str, int | None], forks: frozenset[str] = frozenset()
              ) -> dict[str, Any]:
    """The ``/metrics`` document. ``servers`` maps each component to its total number of
    servers (None: infinite); ``forks`` names the fork components (measured per job)."""
    service = frame[frame["kind"] == "S"]
    rejected = frame[(frame["kind"] == "R") & (frame["enqueue"] >= since)
                     & (frame["enqueue"] < until)]
    e2e = frame[frame["kind"] == "E"]
    components = {}
    for name, total in servers.items():
        rows = service[service["component"] == name]
        components[name] = component_metrics(
            rows, int((rejected["component"] == name).sum()), since, until, total,
            fork=name in forks)
    stations = {}
    for name, rows in service.groupby("station"):
        stations[name] = component_metrics(rows, int((rejected["station"] == name).sum()),
                                           since, until, None)
    classes = {cls: end_to_end(rows, since, until) for cls, rows in e2e.groupby("cls")}
    return {"window": {"since": since, "until": until}, "components": components,
            "stations": stations, "end_to_end": {"all": end_to_end(e2e, since, until),
                                                 "classes": classes},
            "rejected_total": int(len(rejected)),
            "system": system_health(frame, since, until)}
