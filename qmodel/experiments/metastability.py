"""The metastable region of a retrying client on a load sweep, and what removes it.

A class whose client times out and retries (``arrivals.CLASS.timeout``, ``retries``) can
have two stable states at one offered load: healthy, and a retry storm that keeps the
queue overloaded after the trigger is gone (Bronson et al., HotOS 2021; Huang et al.,
OSDI 2022). The states are the stable fixed points of ``lam = lam0 A(p(lam))``
(:mod:`qmodel.solvers.retry_fixed_point`); sweeping ``lam0`` up then down, following the
state one is in, draws the hysteresis loop.

Supported: ONE open class with Poisson arrivals and a timeout that visits ONE FCFS queue
(finite servers, no capacity, calls, pool, patience or balking) and no other class — the
fixed point takes the response time of that one queue as the client's. A chain or a
shared queue is refused (simulate it). Back-off and jitter are not in the fixed point: they
change how fast the system moves between the states, not the states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy.interpolate import PchipInterpolator

from ..distributions import Exponential
from ..errors import ModelError, Problem, UnsupportedError
from ..model.model import Model
from ..model.network import BEHAVIOURS, JobClass, Network, Station
from ..solvers.retry_fixed_point import (
    CancelledTimeouts,
    FixedPoint,
    MGcTimeouts,
    MMcTimeouts,
    RetryPolicy,
    TimeoutStation,
    hysteresis,
    stable_points,
)
from ..units import format_duration, human_rate

LOW, HIGH, POINTS = 0.2, 1.5, 40
"""The default sweep: 40 offered loads from 0.2x to 1.5x the rate at which the retry-free
load of the queue reaches 1."""
MAX_POINTS = 1_000
TABLE_POINTS = 96
"""Attempt rates at which an approximate station's timeout probability is computed, then
interpolated (its every evaluation builds a phase-type law: milliseconds each)."""
CHECKED = 64
"""Attempt rates at which a timeout law is checked to give numbers before a sweep."""
BUDGET = 0.1
"""The retry budget :func:`remedies` tries (retries at most 10% of first attempts)."""
JITTER_NOTE = "changes only the transient (how fast a storm starts or ends), not the states"
_KINDS = {"open": "arrivals", "closed": "users", "batch": "batches"}


class Tabulated:
    """A station whose timeout probability and mean time of the attempts answered in time
    are computed at :data:`TABLE_POINTS` (the mean: a quarter of them) attempt rates up to
    ``top``, denser near the capacity, and interpolated (monotone cubic, PCHIP): within
    about 1e-3 of the station's own probability and 0.5% of its mean.

    >>> inner = MMcTimeouts(c=4, mean_service=0.1)
    >>> t = Tabulated(inner, timeout=0.5, top=80.0)
    >>> lam = np.array([10.0, 30.0, 39.0])
    >>> bool(np.allclose(t.p_timeout(lam, 0.5), inner.p_timeout(lam, 0.5), atol=1e-3))
    True
    """

    def __init__(self, inner: TimeoutStation, timeout: float, top: float) -> None:
        self.capacity = inner.capacity
        self.method = f"{inner.method}; interpolated between {TABLE_POINTS} attempt rates"
        u = np.linspace(0.0, 1.0, TABLE_POINTS // 2)
        grid = np.concatenate([np.linspace(0.0, top, TABLE_POINTS // 2),
                               self.capacity * (1.0 - (1.0 - u) ** 2)])
        grid = np.unique(np.maximum(grid[grid <= top], 1e-9 * top))  # Erlang-A: lam > 0
        p = inner.p_timeout(grid, timeout)
        answered = grid[p < 1.0]
        self._low, self._high, self._answered = grid[0], grid[-1], answered[-1]
        self._p = PchipInterpolator(grid, p)
        few = answered[np.unique(np.linspace(0, answered.size - 1, TABLE_POINTS // 4)
                                 .round().astype(int))]  # smooth, and dear to compute
        self._in_time = PchipInterpolator(few, inner.mean_in_time(few, timeout))

    def p_timeout(self, lam: np.ndarray, timeout: float) -> np.ndarray:
        """``P(R > timeout)`` at attempt rates ``lam`` (within the table)."""
        lam = np.clip(np.asarray(lam, dtype=float), self._low, self._high)
        return np.clip(self._p(lam), 0.0, 1.0)

    def mean_in_time(self, lam: np.ndarray, timeout: float) -> np.ndarray:
        """The mean time of the attempts answered within ``timeout`` (NaN where none is)."""
        lam = np.maximum(np.asarray(lam, dtype=float), self._low)
        return np.where(lam <= self._answered, self._in_time(np.minimum(lam, self._answered)),
                        np.nan)


@dataclass(frozen=True)
class Setting:
    """What the fixed point reads from a model: the class, its queue, the station law
    and the client's policy."""

    job_class: str
    node: str
    rate: float
    servers: int
    mean_service: float
    scv: float
    exponential: bool
    on_timeout: str
    policy: RetryPolicy
    jitter: str = "none"

    @property
    def capacity(self) -> float:
        """Attempts per second the servers complete: where the retry-free load reaches 1."""
        return self.servers / self.mean_service

    @property
    def exact(self) -> bool:
        return self.on_timeout == "continue" and self.exponential

    def station(self, top: float) -> TimeoutStation:
        """The queue's timeout law: exact M/M/c, else a labelled approximation tabulated
        up to the attempt rate ``top``; refused where it does not compute a probability."""
        if self.exact:
            law: TimeoutStation = MMcTimeouts(self.servers, self.mean_service)
        else:
            inner: TimeoutStation = (
                CancelledTimeouts(self.servers, self.mean_service)
                if self.on_timeout == "cancel"
                else MGcTimeouts(self.servers, self.mean_service, self.scv))
            law = Tabulated(inner, self.policy.timeout, top)
        with np.errstate(invalid="ignore", over="ignore"):  # said below, not warned
            p = law.p_timeout(np.linspace(top / CHECKED, top, CHECKED), self.policy.timeout)
        if not np.isfinite(p).all():
            raise UnsupportedError("metastability", (
                f"the response-time tail of nodes.{self.node} is not a number at these "
                f"values ({self.servers} servers, a timeout of "
                f"{self.policy.timeout / self.mean_service:.3g} mean services): outside "
                "what the fixed point computes"))
        return law


def setting(model: Model, job_class: str | None = None) -> Setting:
    """Read the fixed point's inputs from ``model`` (the class with retries, or
    ``job_class``); refuse what it does not model, at the field at fault.

    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "servers": 8,
    ...     "service": "20ms"}}, "arrivals": {"web": {"to": "app", "rate": "100/s",
    ...     "timeout": "100ms", "retries": {"max": 3}}}})
    >>> s = setting(m)
    >>> s.node, s.servers, s.capacity, s.policy.max_retries, s.exact
    ('app', 8, 400.0, 3, True)
    """
    net = model.network
    cls = _job_class(net, job_class)
    where = f"arrivals.{cls.name}"
    client = cls.client
    problems = [Problem(f"{_KINDS[c.kind]}.{c.name}", f"the fixed point takes one class alone "
                        f"on its queue; remove this one to analyse {cls.name!r}")
                for c in net.classes if c.name != cls.name]
    if client is None or client.timeout is None:
        raise ModelError([Problem(f"{where}.timeout", "the fixed point needs the client's "
                                  "timeout (retries follow timeouts)")])
    retries = client.retries
    if retries is not None and "timeout" not in retries.when:
        problems.append(Problem(f"{where}.retries.when", "retries follow only rejections "
                                "here; the fixed point is for retries after timeouts"))
    if retries is not None and retries.budget is not None and retries.budget.min is not None:
        problems.append(Problem(f"{where}.retries.budget.min", "the fixed point takes a budget "
                                "as a ratio of first attempts; without min it is stricter"))
    if client.hedge is not None:
        problems.append(Problem(f"{where}.hedge", "hedging is not in the retry fixed point"))
    if cls.profile is not None:
        problems.append(Problem(f"{where}.rate", "a rate profile: the sweep needs one rate"))
    if cls.interarrival is not None and not isinstance(cls.interarrival, Exponential):
        problems.append(Problem(f"{where}.interarrival", "the fixed point assumes Poisson "
                                "arrivals"))
    visited = [s for s, v in zip(net.stations, net.visits(cls.name)) if v > 0]
    if len(visited) != 1 or not math.isclose(net.visits(cls.name).sum(), 1.0):
        names = ", ".join(s.name for s in visited)
        raise ModelError(problems + [Problem(f"{where}.to", "the fixed point takes a class "
                                     f"that visits one queue once; {cls.name!r} visits "
                                     f"{names} (simulate a chain)")])
    station = visited[0]
    problems += _station_problems(station, net)
    if problems:
        raise ModelError(problems)
    service = station.service[cls.name]
    policy = RetryPolicy(timeout=client.timeout, max_retries=retries.max if retries else 0,
                         budget=retries.budget.ratio if retries and retries.budget else None)
    return Setting(cls.name, station.component, cls.rate, int(station.servers), service.mean,
                   service.scv, isinstance(service, Exponential), client.on_timeout, policy,
                   retries.backoff.jitter if retries and retries.backoff else "none")


def _job_class(net: Network, name: str | None) -> JobClass:
    if name is not None:
        if name not in {c.name for c in net.open_classes}:
            known = ", ".join(c.name for c in net.open_classes) or "none"
            raise ModelError([Problem(f"arrivals.{name}", f"no open class {name!r} "
                                      f"(open classes: {known})")])
        return net.job_class(name)
    retrying = [c for c in net.open_classes if c.client is not None and c.client.retries]
    if len(retrying) != 1:
        what = "no open class retries" if not retrying else \
            f"classes {', '.join(c.name for c in retrying)} retry: choose one"
        raise ModelError([Problem("arrivals", f"{what} (the metastability sweep follows one "
                                  "class with a timeout and retries)")])
    return retrying[0]


def _station_problems(station: Station, net: Network) -> list[Problem]:
    at = f"nodes.{station.component}"
    if station.kind != "queue" or not math.isfinite(station.servers):
        return [Problem(at, "the fixed point needs a queue with a finite number of servers")]
    problems = [Problem(at, f"{BEHAVIOURS[b]} are not in the retry fixed point")
                for b in sorted(net.behaviours - {"timeouts", "retries", "hedging"})]
    if station.discipline != "fcfs":
        problems.append(Problem(f"{at}.discipline", "the timeout law is FCFS's"))
    if station.capacity is not None:
        problems.append(Problem(f"{at}.capacity", "rejections by a capacity are not in the "
                                "retry fixed point"))
    if station.failures or station.mlfq or station.name != station.component:
        problems.append(Problem(at, "failures, MLFQ and shards are not in the retry fixed "
                                "point"))
    return problems


@dataclass(frozen=True)
class Metastability:
    """A load sweep up then down: ``table`` (one row per offered load and direction),
    ``interval`` (the offered loads with two stable states, or None), and the stable
    states at the class's own rate."""

    setting: Setting
    table: pd.DataFrame
    interval: tuple[float, float] | None
    here: tuple[FixedPoint, ...]
    method: str

    @property
    def inside(self) -> bool:
        """True when the class's own rate has two stable states."""
        return len(self.here) > 1

    def __str__(self) -> str:
        s = self.setting
        if self.interval is None:
            region = "no metastable region on the sweep"
        else:
            region = (f"metastable from {human_rate(self.interval[0])} to "
                      f"{human_rate(self.interval[1])} offered")
        states = " or ".join(f"{p.state} (goodput {human_rate(p.goodput)})" for p in self.here)
        return (f"{s.job_class} on {s.node}: {region}; at its rate {human_rate(s.rate)}: "
                f"{states}")

    def to_dict(self) -> dict[str, Any]:
        s = self.setting
        return {"class": s.job_class, "node": s.node, "rate_per_s": s.rate,
                "capacity_per_s": s.capacity, "method": self.method,
                "metastable": None if self.interval is None else list(self.interval),
                "inside": self.inside,
                "states_at_rate": [{"state": p.state, "lam_eff": p.lam_eff,
                                    "goodput": p.goodput, "p_timeout": p.p_timeout}
                                   for p in self.here],
                "sweep": self.table.to_dict("records")}


def loads(s: Setting, low: float | None = None, high: float | None = None,
          points: int = POINTS) -> np.ndarray:
    """The offered loads swept (per second): ``points`` from ``low`` to ``high``, by
    default 0.2x to 1.5x the capacity."""
    low = LOW * s.capacity if low is None else low
    high = HIGH * s.capacity if high is None else high
    if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= MAX_POINTS:
        raise ModelError([Problem("--points", f"must be an integer from 2 to {MAX_POINTS}, "
                                  f"got {points!r}")])
    for name, value in (("--from", low), ("--to", high)):
        if not (math.isfinite(value) and value > 0):
            raise ModelError([Problem(name, f"must be a positive rate, got {value!r}")])
    if not low < high:
        raise ModelError([Problem("--to", f"must be above --from ({human_rate(low)}), got "
                                  f"{human_rate(high)}")])
    return np.linspace(low, high, points)


def metastability(model: Model, job_class: str | None = None, low: float | None = None,
                  high: float | None = None, points: int = POINTS) -> Metastability:
    """Sweep the class's rate up then down over ``points`` loads (``low``/``high`` per
    second; default 0.2x to 1.5x the capacity of its queue).

    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "servers": 10,
    ...     "service": "100ms"}}, "arrivals": {"web": {"to": "app", "rate": "50/s",
    ...     "timeout": "500ms", "retries": {"max": 3}}}})
    >>> r = metastability(m, points=10)
    >>> [round(x, 1) for x in r.interval], [p.state for p in r.here]
    ([25.0, 87.6], ['healthy', 'saturated'])
    """
    s = setting(model, job_class)
    lam0s = loads(s, low, high, points)
    station = s.station(_top(s, lam0s))
    sweep = hysteresis(lam0s, station, s.policy)
    table = sweep.table.assign(amplification=sweep.table.lam_eff / sweep.table.lam0)
    here = tuple(stable_points(s.rate, station, s.policy))
    return Metastability(s, table, sweep.metastable, here, station.method)


def _top(s: Setting, lam0s: np.ndarray) -> float:
    """The largest attempt rate of the sweep or of the class's own rate."""
    return max(float(lam0s.max()), s.rate) * s.policy.max_amplification


def remedies(model: Model, job_class: str | None = None, low: float | None = None,
             high: float | None = None, points: int = POINTS) -> pd.DataFrame:
    """The same sweep after each single change — one retry fewer, none, a 10% retry
    budget, the timeout halved and doubled, one and two more servers, cancelling
    abandoned attempts, full jitter — each named as the ``--set`` that makes it, and
    whether it leaves one stable state at every offered load (``removes``) and at the
    class's rate (``at_rate``).

    >>> m = Model.from_dict({"nodes": {"app": {"kind": "queue", "servers": 10,
    ...     "service": "100ms"}}, "arrivals": {"web": {"to": "app", "rate": "50/s",
    ...     "timeout": "500ms", "retries": {"max": 3}}}})
    >>> t = remedies(m, points=10)
    >>> t[t.removes].change.tolist()
    ['arrivals.web.retries.max=0', 'arrivals.web.retries.budget.ratio=0.1', 'arrivals.web.on_timeout=cancel']
    """
    s = setting(model, job_class)
    lam0s = loads(s, low, high, points)
    rows = [_outcome("as is", s, lam0s, s.rate)]
    for path, value in _changes(model, s):
        change = f"{path}={value}"
        if path.endswith(".jitter"):  # the same fixed points as the model's
            rows.append({**rows[0], "change": change, "note": JITTER_NOTE})
        else:
            changed = setting(model.with_changes({path: value}), s.job_class)
            rows.append(_outcome(change, changed, lam0s, s.rate))
    return pd.DataFrame(rows)


def _outcome(change: str, s: Setting, lam0s: np.ndarray, rate: float) -> dict[str, Any]:
    """One row of :func:`remedies`: the metastable interval of the sweep and the state at
    the class's ``rate``."""
    station = s.station(_top(s, lam0s))
    interval = hysteresis(lam0s, station, s.policy).metastable
    here = stable_points(rate, station, s.policy)
    low, high = interval or (math.nan, math.nan)
    return {"change": change, "metastable_low": low, "metastable_high": high,
            "removes": interval is None,
            "at_rate": "metastable" if len(here) > 1 else here[0].state, "note": ""}


def _changes(model: Model, s: Setting) -> list[tuple[str, Any]]:
    """Each single change as a model path and its new value (a ``--set``)."""
    c, m = f"arrivals.{s.job_class}", s.policy.max_retries
    out: list[tuple[str, Any]] = [(f"{c}.retries.max", k)
                                  for k in sorted({m - 1, 0}, reverse=True) if 0 <= k < m]
    if m > 0 and (s.policy.budget is None or s.policy.budget > BUDGET):
        out.append((f"{c}.retries.budget.ratio", BUDGET))
    out += [(f"{c}.timeout", format_duration(s.policy.timeout * f, model.time_unit, 6))
            for f in (0.5, 2.0)]
    out += [(f"nodes.{s.node}.servers", s.servers + k) for k in (1, 2)]
    if s.on_timeout == "continue":
        out.append((f"{c}.on_timeout", "cancel"))
    if m > 0 and s.jitter != "full":
        out.append((f"{c}.retries.backoff.jitter", "full"))
    return out


UP, DOWN = "#1565c0", "#c62828"


def figure(result: Metastability, title: str | None = None) -> go.Figure:
    """The hysteresis loop: goodput (solid) and attempt rate (dashed) against the offered
    load, going up and coming down in two colours, the metastable band shaded, the class's
    own rate and the servers' capacity marked."""
    fig = go.Figure()
    table = result.table
    for direction, colour in (("up", UP), ("down", DOWN)):
        part = table[table.direction == direction].sort_values("lam0")
        for column, dash, what in (("goodput", "solid", "goodput"),
                                   ("lam_eff", "dash", "attempts")):
            fig.add_trace(go.Scatter(
                x=part.lam0, y=part[column], mode="lines+markers", name=f"{what}, {direction}",
                line={"color": colour, "dash": dash}, marker={"size": 5},
                customdata=part[["state", "p_timeout"]],
                hovertemplate=(f"offered %{{x:.4g}}/s<br>{what} %{{y:.4g}}/s<br>"
                               "%{customdata[0]}, P(timeout) %{customdata[1]:.3f}"
                               f"<extra>{direction}</extra>")))
    if result.interval is not None:
        fig.add_vrect(x0=result.interval[0], x1=result.interval[1], fillcolor="#f9a825",
                      opacity=0.18, line_width=0, annotation_text="metastable",
                      annotation_position="top left")
    s = result.setting
    fig.add_vline(x=s.rate, line={"color": "#555", "dash": "dot"},
                  annotation_text=f"{s.job_class} now", annotation_position="bottom right")
    fig.add_hline(y=s.capacity, line={"color": "#777", "dash": "dashdot", "width": 1},
                  annotation_text=f"the servers' capacity, {human_rate(s.capacity)}",
                  annotation_position="top right")
    fig.update_layout(
        title=title or f"{s.job_class} on {s.node}: going up and coming down",
        xaxis_title="offered load (requests/s)", yaxis_title="per second",
        legend={"orientation": "h", "y": -0.2}, hovermode="closest")
    return fig
