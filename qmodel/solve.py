"""``qmodel.solve``: one entry point over the analytic solver families.

The families are the :class:`~qmodel.solvers.protocol.Method` values listed in
:mod:`qmodel.solvers.registry`. ``method="auto"`` tries those that support the model in
rank order: models with batches (a transient) → a makespan lower bound; small Markovian
models with finite buffers → CTMC; open networks → product form (exact) or QNA; closed
networks → exact MVA (approximate MVA for large populations); mixed → mixed MVA. The
result says, in ``passed_over``, why each other method was not used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import UnstableError, UnsupportedError
from .model.model import Model
from .results import Result

if TYPE_CHECKING:
    from .model.network import Network
    from .solvers.protocol import Method


def solve(model: Model | Network, method: str = "auto") -> Result:
    """Solve a model analytically.

    Parameters
    ----------
    model : Model or Network
    method : "auto" (default: the best method that supports the model), "open" (product
        form / QNA), "mva" (exact MVA), "amva" (Bard–Schweitzer), "ctmc" (explicit
        Markov chain, small Markovian models), "batches" (makespan bound) or "layered"
        (held threads, patience and balking, timeouts with retries, hedging).

    Raises :class:`~qmodel.errors.QModelError` for an unknown method and
    :class:`~qmodel.errors.UnsupportedError` when the method named cannot solve the model.

    >>> import qmodel
    >>> m = qmodel.Model.from_dict({"nodes": {"cpu": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"jobs": {"to": "cpu", "rate": "80/s"}}})
    >>> r = qmodel.solve(m)
    >>> round(r.system.mean_response_time, 6), r.system.mean_response_time.method
    (0.05, 'exact')
    >>> r.passed_over["mva"]
    'the model has only open classes; use open or auto'
    """
    # the solvers (and scipy) load on the first solve, not with ``import qmodel``: the
    # reference system's and the load generator's processes use the model layer only
    from .methods import AUTO, check
    from .solvers import registry

    methods = sorted(registry.REGISTRY, key=lambda m: m.rank)
    check(method, (AUTO, *(m.name for m in registry.REGISTRY)))
    network = model.network if isinstance(model, Model) else model
    if network.profiles:
        name = next(iter(network.profiles))
        raise UnsupportedError(method, (
            f"arrivals.{name}.rate is a rate profile (it changes over time) and analytic "
            "methods solve a steady state; simulate it over time with `qmodel simulate "
            "--bins 1s` (qmodel.simulate(model, bins='1s')), or give a constant rate"))
    reasons = {m.name: m.refusal(network) for m in methods}
    only = next((m for m in methods if m.exclusive and reasons[m.name] is None), None)
    if only is not None:  # e.g. batches: whatever the method, no steady state to solve for
        why = f"{only.name!r} takes every model it supports: {only.description}"
        return _passing_over(only.solve(network), {m.name: why for m in methods if m is not only})
    if method != AUTO:
        named = next(m for m in methods if m.name == method)
        if reasons[method] is not None:
            raise UnsupportedError(method, reasons[method])
        return _passing_over(named.solve(network), {
            m.name: reasons[m.name] or f"method={method!r} was asked for"
            for m in methods if m is not named})
    return _auto(network, methods, reasons)


def _auto(network: Network, methods: list[Method], reasons: dict[str, str | None]) -> Result:
    """The first method in rank order that supports the network, auto uses, and solves it
    without raising; the error of the last one tried when none does."""
    passed: dict[str, str] = {}
    error: UnsupportedError | UnstableError | None = None
    for k, method in enumerate(methods):
        why = reasons[method.name] or method.auto(network)
        if why:
            passed[method.name] = why
            continue
        try:
            result = method.solve(network)
        except (UnsupportedError, UnstableError) as exc:
            passed[method.name], error = str(exc), exc
            continue
        for later in methods[k + 1:]:
            passed[later.name] = reasons[later.name] or later.auto(network) or \
                f"auto prefers {method.name!r}"
        return _passing_over(result, passed)
    if error is not None:
        raise error
    if len(set(passed.values())) == 1:  # one reason for all, e.g. a behaviour none models
        raise UnsupportedError("auto", f"no analytic method applies: "
                                       f"{next(iter(passed.values()))}; simulate the model")
    raise UnsupportedError("auto", "; ".join(f"{k}: {v}" for k, v in passed.items()))


def _passing_over(result: Result, passed: dict[str, str]) -> Result:
    result.passed_over = passed
    return result
