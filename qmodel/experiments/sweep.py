"""``sweep``: metrics over a grid of parameter values, as one tidy table.

Each row is one point: the varied parameters (seconds, per second, counts) and the
metrics of :mod:`.rows`. Points are solved analytically when the model allows it — all at
once through :mod:`.fastpath` for Jackson networks, else one ``qmodel.solve`` per point —
or simulated, every point with the same seed (common random numbers, so differences
between points are not noise), on the executor asked for (:mod:`qmodel.runner`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelError, Problem, QModelError, UnsupportedError
from ..methods import ANALYTIC, SWEEP, check
from ..model.model import Model, load
from ..model.paths import Parameter, apply, resolve
from ..model.slo import SLO, model_slo
from ..runner import EXECUTORS, run
from ..solve import solve
from . import fastpath
from .ranges import MAX_POINTS, values_for
from .rows import DEFAULT_QUANTILES, metric_column, metric_quantile, result_row

CHUNK = 64
WALK_CHUNK = 256


def sweep(model: Model | str | Path, parameters: Mapping[str, Any], *,
          metric: str | None = None, slo: str | list[str] | SLO | None = None,
          method: str = "auto", quantiles: Iterable[float] = DEFAULT_QUANTILES,
          replications: int = 10, seed: int | None = None, customers: int | None = None,
          executor: str = "local", scheduler: Any = None, workers: int | None = None,
          progress: Any = None) -> pd.DataFrame:
    """Evaluate ``model`` at every combination of the ``parameters`` values.

    Parameters
    ----------
    model : a :class:`~qmodel.Model` or a model file path.
    parameters : dotted path -> values: a range string (``"50/s..500/s:20"``, ``"1..16"``,
        ``"10/s..1e4/s:log20"``, ``"[1, 2, 4]"``; bare numbers in the model's
        ``time_unit``) or Python numbers in seconds / per second / counts.
    metric : the headline metric (plots, CLI); every metric is in the table anyway.
        Default: ``makespan`` for a model with batches, else ``p95_response_time``.
    slo : adds a ``meets_slo`` column; default: the model's own ``slo:``.
    method : ``"analytic"``, ``"simulate"`` or ``"auto"`` (analytic unless the model
        needs simulation), or one analytic method of :func:`qmodel.solve` (``"mva"``...)
        for every point.
    quantiles : response-time quantiles to report (the SLO's and ``metric``'s are added).
    replications, seed, customers : for simulation; every point uses ``seed``.
    executor, scheduler, workers : ``"local"`` process pool (default), ``"dask"``
        (``scheduler`` address or Client; a LocalCluster when None) or ``"serial"``.
    progress : None (a bar when it takes over a second), True, False or a callable.

    Returns a DataFrame with one row per point; ``attrs`` holds ``partial`` (True when
    interrupted with Ctrl-C: only finished points are in the table), ``stopped`` (how
    many simulated points stopped at a limit of the run: their ``stopped`` column holds
    the note, their values are partial), ``method``, ``metric``, ``seed`` and ``slo``.

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    >>> df = sweep(m, {"arrivals.web.rate": "50/s..100/s:3"}, slo="mean < 50ms")
    >>> df[["arrivals.web.rate", "mean_response_time_s", "stable", "meets_slo"]]
       arrivals.web.rate  mean_response_time_s  stable  meets_slo
    0               50.0                  0.02    True       True
    1               75.0                  0.04    True       True
    2              100.0                   NaN   False      False
    """
    model = as_model(model)
    params = resolve(model, list(parameters))
    values = {path: values_for(params[path], spec, model.time_unit)
              for path, spec in parameters.items()}
    size = math.prod(len(v) for v in values.values())
    if size > MAX_POINTS:
        raise ModelError([Problem(", ".join(values), f"a grid of {size:,} points; at most "
                                                     f"{MAX_POINTS:,}")])
    grid = list(itertools.product(*values.values()))
    points = pd.DataFrame(grid, columns=list(values)) if values else pd.DataFrame(index=[0])
    return evaluate(model, points, metric=metric, slo=slo, method=method,
                    quantiles=quantiles, replications=replications, seed=seed,
                    customers=customers, executor=executor, scheduler=scheduler,
                    workers=workers, progress=progress, params=params)


def as_model(model: Model | str | Path) -> Model:
    """A model, loading it when given a path."""
    return model if isinstance(model, Model) else load(model)


def default_metric(model: Model) -> str:
    """The headline metric: the makespan of a model with batches, else the p95."""
    return "makespan" if model.network.batch_classes else "p95_response_time"


def evaluate(model: Model, points: pd.DataFrame, *, metric: str | None = None,
             slo: str | list[str] | SLO | None = None, method: str = "auto",
             quantiles: Iterable[float] = DEFAULT_QUANTILES, replications: int = 10,
             seed: int | None = None, customers: int | None = None, executor: str = "local",
             scheduler: Any = None, workers: int | None = None, progress: Any = None,
             params: Mapping[str, Parameter] | None = None, components: bool = False
             ) -> pd.DataFrame:
    """Metrics at given points: one row of ``points`` (columns are parameter paths, values
    in SI units, NaN for "as in the model") per point, e.g. to move several parameters
    together. ``components`` adds each component's utilization (``nodes.NAME.utilization``,
    its busiest member). See :func:`sweep` for the rest.

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    >>> pts = pd.DataFrame({"arrivals.web.rate": [20.0, 40.0], "nodes.app.service": [0.02, 0.01]})
    >>> evaluate(m, pts)["max_utilization"].round(6).tolist()
    [0.4, 0.4]
    """
    check(method, SWEEP)
    if executor not in EXECUTORS:  # checked here too: a fast-path sweep may not use it
        raise QModelError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    metric = metric or default_metric(model)
    try:
        column = metric_column(metric)
    except ValueError as exc:
        raise ModelError([Problem("metric", str(exc))]) from None
    quantiles = tuple(quantiles)
    _check_quantiles("quantiles", quantiles)
    _check_quantiles("metric", [q for q in [metric_quantile(metric)] if q is not None])
    params = params if params is not None else resolve(model, list(points.columns))
    for path in points.columns:
        _check_values(params[path], points[path])
    target = model_slo(model, slo)
    wanted = set(quantiles) | set(target.quantiles if target else ())
    if metric_quantile(metric) is not None:
        wanted.add(metric_quantile(metric))
    qs = tuple(sorted(wanted))
    waits = target.wait_quantiles if target else ()
    fast = fastpath.fast_network(model, params) if method in ("auto", "analytic") and \
        _finite(points) else None
    if method == "auto" and fast is None:
        method = "simulate" if _needs_simulation(model) else "analytic"
    elif method == "auto":
        method = "analytic"
    if seed is None and method == "simulate":
        seed = int(np.random.SeedSequence().entropy % 2**63)
    options = dict(executor=executor, scheduler=scheduler, workers=workers, progress=progress,
                   label=f"{model.name}: {len(points)} points")
    if fast is not None:
        walk = bool(qs) and not fastpath.is_single_station(fast)  # per-point phase types
        size = WALK_CHUNK if walk else max(len(points), 1)
        tasks = [(fast, points.iloc[i:i + size], qs, components, waits)
                 for i in range(0, len(points), size)]
        options["executor"] = executor if walk else "serial"
        parts, partial = run(_fast_chunk, tasks, **options)
    elif method == "analytic" or method in ANALYTIC:
        solver = method if method in ANALYTIC else "auto"
        size = 1 if executor == "serial" else max(1, min(CHUNK, len(points) // 16))
        tasks = [(model, params, _records(points.iloc[i:i + size]), qs, components, waits,
                  solver)
                 for i in range(0, len(points), size)]
        parts, partial = run(_solve_chunk, tasks, **options)
    else:
        tasks = [(model, params, [record], qs, components, waits, replications, seed,
                  customers)
                 for record in _records(points)]
        parts, partial = run(_simulate_chunk, tasks, **options)
    table = _table(points, parts)
    if target is not None:
        table["meets_slo"] = target.met(table)
    stopped = int((table["stopped"] != "").sum()) if "stopped" in table else 0
    table.attrs.update(kind="sweep", parameters=list(points.columns), partial=partial,
                       stopped=stopped, method=method, metric=column, model=model.name,
                       slo=str(target) if target else None,
                       seed=seed if method == "simulate" else None,
                       replications=replications if method == "simulate" else None)
    return table


def _table(points: pd.DataFrame, parts: list[pd.DataFrame | None]) -> pd.DataFrame:
    done = [p for p in parts if p is not None]
    if not done:
        return points.iloc[:0].reset_index(drop=True)
    metrics = pd.concat(done)
    return pd.concat([points.loc[metrics.index], metrics], axis=1).reset_index(drop=True)


def _records(points: pd.DataFrame) -> list[tuple[int, dict[str, float]]]:
    return [(int(i), {k: _native(v) for k, v in row.items() if not pd.isna(v)})
            for i, row in zip(points.index, points.to_dict("records"))]


def _native(value: Any) -> float:
    return value.item() if isinstance(value, np.generic) else value


def _finite(points: pd.DataFrame) -> bool:
    return not np.isinf(points.to_numpy(dtype=float)).any()


def _check_values(param: Parameter, values: pd.Series) -> None:
    x = values.to_numpy(dtype=float)
    x = x[~np.isnan(x)]
    if param.kind == "probability":
        bad = x[(x < 0) | (x > 1)]
        what = "a probability in [0, 1]"
    elif param.kind in ("rate", "duration", "count", "servers"):
        bad = x[~(x > 0)]
        what = "positive"
    else:
        return
    if bad.size:
        raise ModelError([Problem(param.path, f"must be {what}, got {_show(bad[0])}")])


def _check_quantiles(where: str, quantiles: Iterable[float]) -> None:
    bad = [q for q in quantiles
           if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q < 1]
    if bad:
        raise ModelError([Problem(where, f"a quantile must be a number between 0 and 1 "
                                         f"(0.95 for the 95th), got {bad[0]!r}")])


def _show(x: float) -> str:
    return repr(int(x)) if math.isfinite(x) and float(x).is_integer() else repr(float(x))


def _needs_simulation(model: Model) -> bool:
    try:
        return solve(model).system.method == "needs simulation"
    except UnsupportedError:
        return True


# -- worker functions (module level so that process pools and Dask can ship them) --------

def _fast_chunk(task: tuple) -> pd.DataFrame:
    fast, points, qs, components, waits = task
    out = fastpath.evaluate(fast, {k: points[k].to_numpy() for k in points.columns}, qs,
                            components, waits)
    out.index = points.index
    return out


def _solve_chunk(task: tuple) -> pd.DataFrame:
    model, params, records, qs, components, waits, solver = task
    rows = {i: result_row(solve(_at(model, values, params), method=solver), qs, components,
                          waits)
            for i, values in records}
    return pd.DataFrame.from_dict(rows, orient="index")


def _simulate_chunk(task: tuple) -> pd.DataFrame:
    from ..sim import simulate

    model, params, records, qs, components, waits, replications, seed, customers = task
    rows = {}
    for i, values in records:
        result = simulate(_at(model, values, params), replications=replications, seed=seed,
                          customers=customers, progress=False)
        rows[i] = result_row(result, qs, components, waits)
        rows[i]["stopped"] = result.limit_note or ""
    return pd.DataFrame.from_dict(rows, orient="index")


def _at(model: Model, values: dict[str, float], params: Mapping[str, Parameter]) -> Model:
    """The model at one point; a point that is not a valid model says which point it is."""
    try:
        return apply(model, values, params)
    except ModelError as exc:
        where = ", ".join(f"{k}={v:g}" for k, v in values.items())
        raise ModelError([Problem(p.path, f"{p.message} (at {where})") for p in exc.problems]) \
            from None
