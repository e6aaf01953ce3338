"""What the model predicts for a load level: the model calibrated with measured service
times, scaled to a rate or population, solved analytically (simulated where it must be)."""

from __future__ import annotations

import math
from typing import Any

from qmodel import QModelError, solve
from qmodel.model.model import Model
from qmodel.results import Result

DURATION_KEYS = ("mean", "value", "low", "high", "scale")
DURATION_LISTS = ("means", "samples")
CALIBRATED_KINDS = {"queue": "service", "shards": "service", "broker": "service",
                    "delay": "service", "fork": "task_service"}


def _in_seconds(spec: dict[str, Any]) -> dict[str, Any]:
    """A distribution spec from ``to_spec`` (seconds) that reads right in any time_unit."""
    out = dict(spec)
    for key in DURATION_KEYS:
        if key in out:
            out[key] = f"{float(out[key])!r}s"
    for key in DURATION_LISTS:
        if key in out:
            out[key] = [f"{float(v)!r}s" for v in out[key]]
    return out


def calibrate(model: Model, service_means: dict[str, float]) -> Model:
    """The model with each component's mean service time set to the measured one (its
    distribution's shape kept). Batchers keep their nominal times."""
    changes = {}
    for component, mean in service_means.items():
        node = model.spec.nodes.get(component)
        field = CALIBRATED_KINDS.get(node.kind) if node is not None else None
        dist = getattr(node, field, None) if field else None
        if dist is None or not mean or mean <= 0 or getattr(node, "class_service", None):
            continue
        changes[f"nodes.{component}.{field}"] = _in_seconds(dist.with_mean(mean).to_spec())
    return model.with_changes(changes) if changes else model


def with_rates(model: Model, rates: dict[str, float]) -> Model:
    """The model with these open classes' rates (per second)."""
    return model.with_changes({f"arrivals.{c}.rate": f"{float(r)!r}/s" for c, r in rates.items()})


def with_population(model: Model, users: dict[str, int]) -> Model:
    return model.with_changes({f"users.{c}.population": n for c, n in users.items()})


def offered_peak(model: Model) -> tuple[float, str]:
    """The highest offered utilization per server at the model's open rates (traffic
    equations; batchers and infinite-server stations excluded), and where."""
    net = model.network
    best, where = 0.0, ""
    for station in net.stations:
        if math.isinf(station.servers) or not station.service or station.kind == "batcher":
            continue
        i = net.index[station.name]
        tasks = station.tasks if station.kind == "fork" else 1
        load = sum(c.rate * net.visits(c.name)[i] * tasks * station.service[c.name].mean
                   for c in net.open_classes) / station.servers
        if load > best:
            best, where = float(load), station.name
    return best, where


def predict(model: Model, seed: int = 0) -> Result:
    """``qmodel.solve``; ``qmodel.sim.simulate`` when the model needs simulation (a
    feature the solver does not support, or end-to-end percentiles it cannot give)."""
    try:
        result = solve(model)
        if not result.stable or result.system.p95_response_time is not None:
            return result
    except (QModelError, ImportError, NotImplementedError):
        pass
    from qmodel.sim import simulate

    return simulate(model, replications=5, seed=seed, customers=20_000, progress=False)
