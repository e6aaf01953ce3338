"""Service level objectives: ``p95 < 200ms and utilization < 0.8``.

Grammar::

    slo    := clause ("and" clause)*
    clause := METRIC OP VALUE
    METRIC := mean | pNN (p50, p95, p99, p99.9 …) | wait | wait_pNN
            | utilization | throughput | makespan
    OP     := < | <= | > | >=

``mean`` and ``pNN`` are end-to-end response times; ``wait`` is the mean time spent
queueing per job and ``wait_pNN`` a waiting-time percentile (the call-centre service level
"80% answered within 20 s" is ``wait_p80 <= 20s``; given for M/M/c stations);
``makespan`` is the simulated mean time to finish a model's batches. A latency or makespan
takes a duration (``200ms``; a bare number is in the model's ``time_unit``), utilization a
fraction (``0.8`` or ``80%``; the busiest station counts), throughput a rate (``500/s``).
A model's ``slo:`` (one string or a list, all of which must hold) is checked when the
model is loaded and is the default wherever an SLO is asked for. The metrics are the
system's, so a clause names no component or class.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FieldError, ModelError, Problem, shown
from ..units import format_duration, format_rate, parse_duration, parse_rate

if TYPE_CHECKING:
    import pandas as pd

    from .model import Model

GRAMMAR = ('METRIC OP VALUE, joined with "and"; METRIC is mean, pNN (p50, p95, p99, p99.9), '
           "wait, wait_pNN, utilization, throughput or makespan; OP is <, <=, > or >=; "
           "VALUE is a duration for latencies and makespans (200ms), a fraction for "
           "utilization (0.8 or 80%), a rate for throughput "
           '(500/s); e.g. "p95 < 200ms and utilization < 0.8"')
_CLAUSE = re.compile(r"^\s*(?P<metric>mean|wait(?:_p\d+(?:\.\d+)?)?|p\d+(?:\.\d+)?|utilization|"
                     r"throughput|makespan)\s*"
                     r"(?P<op><=|>=|<|>)\s*(?P<value>[^<>=\s].*?)\s*$", re.IGNORECASE)
_OPS: dict[str, Callable] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                             ">=": operator.ge}


@dataclass(frozen=True)
class Clause:
    """One comparison: ``metric`` (``mean``, ``p95``, ``utilization``, ``throughput``,
    ``makespan`` …), ``op`` and ``limit`` in seconds, per second or as a fraction."""

    metric: str
    op: str
    limit: float

    @property
    def quantile(self) -> float | None:
        """The probability of a response-time percentile clause (0.95 for p95), else None."""
        return float(self.metric[1:]) / 100 if self.metric.startswith("p") else None

    @property
    def wait_quantile(self) -> float | None:
        """The probability of a waiting-time percentile clause (0.8 for wait_p80)."""
        return float(self.metric[6:]) / 100 if self.metric.startswith("wait_p") else None

    @property
    def column(self) -> str:
        """The sweep-table column the clause reads."""
        if self.metric == "utilization":
            return "max_utilization"
        if self.metric == "throughput":
            return "throughput_per_s"
        if self.metric == "mean":
            return "mean_response_time_s"
        if self.metric == "wait":
            return "mean_wait_s"
        if self.metric == "makespan":
            return "makespan_s"
        if self.wait_quantile is not None:
            return wait_column(self.wait_quantile)
        return quantile_column(self.quantile)

    def holds(self, value: float | np.ndarray) -> bool | np.ndarray:
        """Whether ``value`` meets the clause; a missing value (NaN) never does."""
        values = np.asarray(value, dtype=float)
        with np.errstate(invalid="ignore"):
            return _OPS[self.op](values, self.limit) & ~np.isnan(values)

    def __str__(self) -> str:
        if self.metric == "utilization":
            limit = f"{self.limit:g}"
        elif self.metric == "throughput":
            limit = format_rate(self.limit)
        else:
            limit = format_duration(self.limit, "ms" if self.limit < 1 else "s")
        return f"{self.metric} {self.op} {limit}"


@dataclass(frozen=True)
class SLO:
    """All clauses must hold.

    >>> slo = parse_slo("p95 < 200ms and utilization < 0.8")
    >>> [str(c) for c in slo.clauses], slo.quantiles
    (['p95 < 200ms', 'utilization < 0.8'], (0.95,))
    >>> bool(slo.met({"p95_response_time_s": 0.15, "max_utilization": 0.7}))
    True
    """

    clauses: tuple[Clause, ...]

    @property
    def quantiles(self) -> tuple[float, ...]:
        """Response-time quantiles the clauses need."""
        return tuple(c.quantile for c in self.clauses if c.quantile is not None)

    @property
    def wait_quantiles(self) -> tuple[float, ...]:
        """Waiting-time quantiles the clauses need."""
        return tuple(c.wait_quantile for c in self.clauses if c.wait_quantile is not None)

    def met(self, row: Mapping | pd.DataFrame) -> bool | np.ndarray:
        """Whether a table row (or every row of a table) meets every clause."""
        ok = np.asarray(True)
        for c in self.clauses:
            ok = ok & c.holds(row[c.column] if c.column in row else np.nan)
        return ok if ok.ndim else bool(ok)

    def failing(self, row: Mapping) -> list[Clause]:
        """The clauses a row does not meet."""
        return [c for c in self.clauses if not c.holds(row.get(c.column, np.nan))]

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.clauses)


def quantile_column(q: float) -> str:
    """Column name of a response-time quantile: ``p95_response_time_s``.

    >>> quantile_column(0.95), quantile_column(0.999)
    ('p95_response_time_s', 'p99.9_response_time_s')
    """
    return f"p{round(q * 100, 6):g}_response_time_s"


def wait_column(q: float) -> str:
    """Column name of a waiting-time quantile: ``wait_p80_s``."""
    return f"wait_p{round(q * 100, 6):g}_s"


def parse_slo(text: str | list[str] | SLO, time_unit: str = "s", path: str = "slo") -> SLO:
    """Parse an SLO string (or a list of them, all of which must hold).

    An unparsable string raises :class:`ModelError` at ``path`` (``path.i`` for item ``i``
    of a list) that spells out the grammar.

    >>> parse_slo(["mean < 50ms", "p99 <= 1s"]).clauses[1]
    Clause(metric='p99', op='<=', limit=1.0)
    >>> parse_slo("p95 << 200ms")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    qmodel.errors.ModelError: slo: cannot read 'p95 << 200ms'; an SLO is METRIC OP VALUE, ...
    """
    if isinstance(text, SLO):
        return text
    try:
        return read_slo(text, time_unit)
    except FieldError as exc:
        where = f"{path}.{exc.field}" if exc.field else path
        raise ModelError([Problem(where, exc.message)]) from None


def read_slo(text: str | list[str], time_unit: str = "s") -> SLO:
    """:func:`parse_slo` for the model file's ``slo:`` field: errors are
    :class:`FieldError` relative to the field (the item's index in a list)."""
    texts = [text] if isinstance(text, str) else list(text)
    clauses: list[Clause] = []
    for i, item in enumerate(texts):
        where = "" if len(texts) == 1 else str(i)
        parts = re.split(r"\s+and\s+", str(item).strip(), flags=re.IGNORECASE)
        clauses += [_clause(part, item, time_unit, where) for part in parts]
    if not clauses:
        raise FieldError("", f"an SLO needs at least one clause: {GRAMMAR}")
    return SLO(tuple(clauses))


def model_slo(model: Model, slo: str | list[str] | SLO | None, path: str = "slo"
              ) -> SLO | None:
    """``slo`` parsed (errors at ``path``), or the model's own ``slo:`` when it is None."""
    if slo is not None:
        return parse_slo(slo, model.time_unit, path)
    if model.spec.slo:
        return parse_slo(model.spec.slo, model.time_unit)
    return None


def _clause(part: str, whole: str, time_unit: str, field: str) -> Clause:
    match = _CLAUSE.match(part)
    if not match:
        raise FieldError(field, f"cannot read {shown(whole)}; an SLO is {GRAMMAR}")
    metric, op, value = match["metric"].lower(), match["op"], match["value"]
    try:
        if metric == "utilization":
            limit = float(value[:-1]) / 100 if value.endswith("%") else float(value)
        elif metric == "throughput":
            limit = parse_rate(value, time_unit)
        else:
            limit = parse_duration(value, time_unit)
    except ValueError as exc:
        raise FieldError(field, f"{shown(part.strip())}: {exc}; an SLO is {GRAMMAR}") from None
    if metric == "utilization" and not 0 <= limit <= 1:  # nan too: it would never hold
        raise FieldError(field, f"{shown(part.strip())}: a utilization is a fraction between "
                                f"0 and 1 (0.8 or 80%)")
    percent = metric.removeprefix("wait_")
    if percent.startswith("p") and not 0 < float(percent[1:]) < 100:
        raise FieldError(field, f"{metric}: a percentile lies between p0 and p100")
    return Clause(metric, op, limit)
