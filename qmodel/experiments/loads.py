"""Load levels: the open arrival rates of a model, scaled together (the class mix kept)."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ModelError, Problem
from ..model.model import Model
from ..units import format_rate, parse_rate


def rate_paths(model: Model) -> dict[str, float]:
    """``arrivals.NAME.rate`` -> current rate (per second) of every open class."""
    profiled = [f"arrivals.{name}.rate" for name in model.network.profiles]
    if profiled:
        raise ModelError([Problem(profiled[0], "is a rate profile (it changes over time): "
                                               "load levels scale constant rates; simulate it "
                                               "over time with qmodel simulate --bins")])
    return {f"arrivals.{name}.rate": cls.rate for name, cls in model.spec.arrivals.items()}


def scaled(model: Model, factor: float) -> dict[str, float]:
    """Every open class's rate times ``factor``.

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"a": {"kind": "queue", "service": "1ms"}},
    ...     "arrivals": {"x": {"to": "a", "rate": "30/s"}, "y": {"to": "a", "rate": "10/s"}}})
    >>> scaled(m, 2.0)
    {'arrivals.x.rate': 60.0, 'arrivals.y.rate': 20.0}
    """
    return {path: rate * factor for path, rate in rate_paths(model).items()}


def at_load(model: Model, load: str | float | Mapping[str, str | float] | None,
            path: str = "load") -> dict[str, float]:
    """The arrival rates for ``load``: a total rate (``"800/s"``, or a number per second)
    shared in the model's class mix, ``"2x"`` (a factor), a mapping class -> rate, or None
    (the model's own rates).

    >>> from qmodel import Model
    >>> m = Model.from_dict({"nodes": {"a": {"kind": "queue", "service": "1ms"}},
    ...     "arrivals": {"x": {"to": "a", "rate": "30/s"}, "y": {"to": "a", "rate": "10/s"}}})
    >>> at_load(m, "80/s"), at_load(m, "1.5x")["arrivals.y.rate"]
    ({'arrivals.x.rate': 60.0, 'arrivals.y.rate': 20.0}, 15.0)
    """
    rates = rate_paths(model)
    if load is None:
        return rates
    if not rates:
        raise ModelError([Problem(path, "the model has no open classes (arrivals) to load")])
    if isinstance(load, Mapping):
        out = dict(rates)
        for name, value in load.items():
            key = name if name.startswith("arrivals.") else f"arrivals.{name}.rate"
            if key not in rates:
                raise ModelError([Problem(path, f"no open class {name!r}; classes are "
                                                f"{', '.join(model.spec.arrivals)}")])
            out[key] = _rate(value, model, path)
        return out
    if isinstance(load, str) and load.strip().lower().endswith("x"):
        try:
            factor = float(load.strip()[:-1])
        except ValueError:
            raise ModelError([Problem(path, f"expected a factor such as 2x, got {load!r}")]) \
                from None
        return scaled(model, factor)
    return scaled(model, _rate(load, model, path) / sum(rates.values()))


def describe(rates: Mapping[str, float]) -> str:
    """``800/s`` (the total)."""
    return format_rate(sum(rates.values()))


def _rate(value: str | float, model: Model, path: str) -> float:
    try:
        rate = parse_rate(value, model.time_unit) if isinstance(value, str) else float(value)
    except ValueError as exc:
        raise ModelError([Problem(path, str(exc))]) from None
    if not rate > 0:
        raise ModelError([Problem(path, f"must be a positive rate such as 800/s, got {value!r}")])
    return rate
