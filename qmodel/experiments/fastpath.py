"""The analytic fast path: a whole sweep of a Jackson network in a few array operations.

When the model is an open product-form network of FCFS exponential stations (M/M/c and
infinite-server delays, probabilistic routing) and a sweep varies only arrival rates,
servers and mean service times, the routing and the visit ratios are the same at every
point. Then every point's metrics follow from the M/M/c kernel (:mod:`qmodel.solvers.mmc`)
on whole arrays, the kernel ``qmodel.solve`` uses one point at a time (tests check that
they agree). Response-time percentiles are closed-form quantiles
for a single station, and the end-to-end phase-type distribution per point otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..model.model import Model
from ..model.network import Network
from ..model.paths import Parameter
from ..model.slo import quantile_column, wait_column
from ..solvers import single_station
from ..solvers.end_to_end import FULL_PH_LIMIT, walk_distribution
from ..solvers.mmc import erlang_c_values, response_quantile, wait_quantile
from ..solvers.open_network import is_product_form
from ..solvers.ph_batch import ph_quantiles
from ..solvers.phase_type import PhaseType, exponential, mixture
from .rows import component_column

_MEAN_WRITES = ("mean",)


@dataclass(frozen=True)
class FastNetwork:
    """What stays fixed across a sweep and which station each varied path touches."""

    network: Network
    rates: np.ndarray          # [C] open-class rates at the base point
    visits: np.ndarray         # [C, n] visit ratios
    leave: np.ndarray          # [C, n] probability of leaving after each station
    servers: np.ndarray        # [n] servers (inf for delays)
    means: np.ndarray          # [n] mean service time
    targets: dict[str, tuple[str, np.ndarray]]  # path -> ("rate"|"servers"|"mean", indices)

    @property
    def queues(self) -> np.ndarray:
        return np.isfinite(self.servers)


def fast_network(model: Model, params: Mapping[str, Parameter]) -> FastNetwork | None:
    """The fixed part of a sweep of ``params`` over ``model``, or None when the fast
    path does not apply (then every point is solved on its own)."""
    net = model.network
    if net.closed_classes or net.batch_classes or not net.open_classes or net.profiles or \
            net.behaviours or not is_product_form(net):
        return None
    for s in net.stations:
        dists = list(s.service.values())
        if s.kind not in ("queue", "delay") or s.discipline != "fcfs" or \
                len({d.mean for d in dists}) != 1 or not all(d.is_exponential for d in dists):
            return None
    targets = {}
    for path, param in params.items():
        target = _target(model, net, path, param)
        if target is None:
            return None
        targets[path] = target
    visits = np.array([net.visits(c.name) for c in net.open_classes])
    leave = np.array([np.maximum(1.0 - net.routing[c.name].sum(axis=1), 0.0)
                      for c in net.open_classes])
    servers = np.array([s.servers for s in net.stations], dtype=float)
    means = np.array([next(iter(s.service.values())).mean for s in net.stations])
    rates = np.array([c.rate for c in net.open_classes])
    return FastNetwork(net, rates, visits, leave, servers, means, targets)


def _target(model: Model, net: Network, path: str, param: Parameter
            ) -> tuple[str, np.ndarray] | None:
    parts = path.split(".")
    if parts[0] == "arrivals" and param.kind == "rate" and parts[2:] == ["rate"]:
        names = [c.name for c in net.open_classes]
        return "rate", np.array([names.index(parts[1])])
    if parts[0] != "nodes":
        return None
    node = model.spec.nodes[parts[1]]
    members = np.array([i for i, s in enumerate(net.stations) if s.component == parts[1]])
    if parts[2:] == ["servers"] and all(net.stations[i].kind == "queue" for i in members):
        return "servers", members
    mean_path = parts[2:] in (["service"], ["service", "mean"])
    if mean_path and param.write in _MEAN_WRITES and not getattr(node, "class_service", None):
        return "mean", members
    return None


def evaluate(fast: FastNetwork, points: Mapping[str, np.ndarray], quantiles: tuple[float, ...],
             components: bool = False, wait_quantiles: tuple[float, ...] = ()) -> pd.DataFrame:
    """Metric columns for every point; ``points`` maps each varied path to its values (NaN:
    the base value). ``components`` adds ``nodes.NAME.utilization`` columns; waiting-time
    quantiles are given for a single M/M/c station."""
    size = len(next(iter(points.values()))) if points else 1
    rates = np.tile(fast.rates, (size, 1))
    servers = np.tile(fast.servers, (size, 1))
    means = np.tile(fast.means, (size, 1))
    columns = {"rate": rates, "servers": servers, "mean": means}
    for path, values in points.items():
        what, index = fast.targets[path]
        given = np.asarray(values, dtype=float)[:, None]
        columns[what][:, index] = np.where(np.isnan(given), columns[what][:, index], given)
    queue = fast.queues
    lam_c = rates[:, :, None] * fast.visits[None]                 # [P, C, n]
    lam = lam_c.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        offered = np.where(queue, (lam_c * means[:, None, :]).sum(axis=1) / servers, 0.0)
        unstable = (offered >= 1.0) & queue
        stable = ~unstable.any(axis=1)
        mu = 1.0 / means
        c = np.where(queue, servers, 1.0)
        p_wait = np.where(queue & ~unstable, erlang_c_values(c, lam / mu), 0.0)
        theta = c * mu - lam
        wait = np.where(queue, p_wait / theta, 0.0)
        response = wait + np.where(queue, 1.0 / mu, means)
    total = rates.sum(axis=1)
    mean_rt = (rates * np.einsum("cn,pn->pc", fast.visits, response)).sum(axis=1) / total
    mean_wait = (rates * np.einsum("cn,pn->pc", fast.visits, wait)).sum(axis=1) / total
    hottest = np.where(queue, offered, -np.inf).argmax(axis=1) if queue.any() else None
    peak = offered.max(axis=1)
    names = np.array([s.name for s in fast.network.stations], dtype=object)
    out = pd.DataFrame({
        "stable": stable,
        "mean_response_time_s": np.where(stable, mean_rt, np.nan),
    })
    for column, values in _quantiles(fast, quantiles, stable, rates, lam_c, p_wait, mu, theta,
                                     c).items():
        out[column] = values
    out["mean_wait_s"] = np.where(stable, mean_wait, np.nan)
    single_queue = is_single_station(fast) and bool(queue[0])
    for q in wait_quantiles:
        t = wait_quantile(q, p_wait[:, 0], theta[:, 0])
        out[wait_column(q)] = np.where(stable & single_queue, t, np.nan)
    with np.errstate(divide="ignore"):
        out["throughput_per_s"] = np.where(stable, (lam_c * fast.leave[None]).sum(axis=(1, 2)),
                                           np.nan)
        out["max_utilization"] = peak
        out["bottleneck"] = np.where(peak > 0, names[hottest], None) if hottest is not None \
            else None
        out["saturation_rate_per_s"] = np.where(peak > 0, total / peak, np.nan)
    out["method"] = np.where(stable, "exact", "unstable")
    if components:
        for comp in dict.fromkeys(s.component for s in fast.network.stations):
            members = [i for i, s in enumerate(fast.network.stations) if s.component == comp]
            out[component_column(comp)] = offered[:, members].max(axis=1)
    return out


def _quantiles(fast: FastNetwork, quantiles: tuple[float, ...], stable: np.ndarray,
               rates: np.ndarray, lam_c: np.ndarray, p_wait: np.ndarray, mu: np.ndarray,
               theta: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    net = fast.network
    if is_single_station(fast):
        if fast.queues[0]:
            return {quantile_column(q): np.where(stable, response_quantile(
                q, p_wait[:, 0], mu[:, 0], theta[:, 0]), np.nan) for q in quantiles}
        return {quantile_column(q): np.where(stable, -np.log1p(-q) / mu[:, 0], np.nan)
                for q in quantiles}
    out = {quantile_column(q): np.full(len(stable), np.nan) for q in quantiles}
    ok = np.flatnonzero(stable)
    if not quantiles or not ok.size:
        return out
    if 2 * fast.queues.sum() + (~fast.queues).sum() <= FULL_PH_LIMIT:
        alpha, t_matrix = _walks(fast, rates[ok], p_wait[ok], mu[ok], theta[ok])
        values = ph_quantiles(alpha, t_matrix, quantiles)
        for j, q in enumerate(quantiles):
            out[quantile_column(q)][ok] = values[:, j]
        return out
    for k in ok:  # solve fits two moments to walks this long: do exactly as it does
        dist = _walk(net, rates[k], lam_c[k], mu[k], c[k], fast.queues)
        for q in quantiles:
            out[quantile_column(q)][k] = float(dist.quantile(q))
    return out


def _walks(fast: FastNetwork, rates: np.ndarray, p_wait: np.ndarray, mu: np.ndarray,
           theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every point's end-to-end phase-type distribution, ``[P, m]`` and ``[P, m, m]``: an
    M/M/c visit is "wait Exp(theta) with probability C, then Exp(mu)", a delay "Exp(mu)";
    the walk follows the routing (``ph_compose.network``); classes mix by rate."""
    net, queue = fast.network, fast.queues
    size = np.where(queue, 2, 1)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    serve = start + size - 1                                   # the service phase
    points, n, m = len(rates), len(queue), int(size.sum())
    enter = np.zeros((points, n, m))
    blocks = np.zeros((points, m, m))
    q = np.flatnonzero(queue)
    enter[:, q, start[q]] = p_wait[:, q]
    enter[:, np.arange(n), serve] = np.where(queue, 1.0 - p_wait, 1.0)
    blocks[:, start[q], start[q]] = -theta[:, q]
    blocks[:, start[q], serve[q]] = theta[:, q]
    blocks[:, serve, serve] = -mu
    leave = np.zeros((points, m, n))
    leave[:, serve, np.arange(n)] = mu
    classes = len(net.open_classes)
    alpha = np.zeros((points, classes * m))
    t_matrix = np.zeros((points, classes * m, classes * m))
    weights = rates / rates.sum(axis=1, keepdims=True)
    for k, cls in enumerate(net.open_classes):
        span = slice(k * m, (k + 1) * m)
        alpha[:, span] = weights[:, k, None] * (net.entry[cls.name] @ enter)
        t_matrix[:, span, span] = blocks + leave @ net.routing[cls.name] @ enter
    return alpha, t_matrix


def _walk(net: Network, rates: np.ndarray, lam_c: np.ndarray, mu: np.ndarray, c: np.ndarray,
          queue: np.ndarray) -> PhaseType:
    """One point's end-to-end response-time distribution, built as ``qmodel.solve``
    builds it."""
    lam = lam_c.sum(axis=0)
    phs = [single_station.mmc(lam[i], mu[i], int(c[i])).response if queue[i] else
           exponential(mu[i])
           for i in range(len(net.stations))]
    dists = [walk_distribution(phs, net.entry[cls.name], net.routing[cls.name])[0]
             for cls in net.open_classes]
    return dists[0] if len(dists) == 1 else mixture(rates / rates.sum(), dists)


def is_single_station(fast: FastNetwork) -> bool:
    """One station and no feedback: response-time quantiles in closed form."""
    net = fast.network
    return len(net.stations) == 1 and not net.routing[net.open_classes[0].name].any()
