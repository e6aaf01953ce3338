"""The time of a fork's branch that is a chain of stations (each task visits them once,
in order): the sum of independent station times, kept as their actual law.

Fixed times add as a shift, phase-type times (exponential, Erlang, hyperexponential,
M/M/c responses) convolve exactly as one PH, and one other time (lognormal, gamma,
uniform, Pareto, empirical, a mixture, an order statistic) is added to them by
quadrature over the PH part's quantiles (64 Gauss-Legendre nodes). Only where that is
not enough (two or more such times, a PH over :data:`.phase_type.MAX_EXACT_PHASES`
phases) is the rest replaced by its two-moment fit, and the result says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..distributions import Deterministic, Distribution, Erlang, Exponential, HyperExponential
from .mmc import MMcResponse
from .numeric_law import NumericLaw, phase_type_part
from .ph_batch import ph_quantiles
from .ph_compose import convolve
from .phase_type import (
    MAX_EXACT_PHASES,
    PhaseType,
    erlang,
    exponential,
    fit_two_moments,
    hyperexponential,
    zero,
)
from .time_laws import TimeLaw, mixture_of_shifts, time_law

Part = Distribution | PhaseType | MMcResponse | NumericLaw
"""One station's time: its service law (a delay), or its response-time law."""

_NODES = 64


def chain_law(parts: Sequence[Part], exact: Sequence[bool]) -> tuple[PhaseType | TimeLaw, bool]:
    """The law of the sum of independent ``parts`` and whether it is exact: a
    :class:`PhaseType` when every part is one (unshifted), else a :class:`TimeLaw`.
    ``exact[i]`` says whether part ``i`` is the station's actual law (not a fit).

    >>> from qmodel.distributions import Deterministic, Exponential
    >>> law, exact = chain_law([Deterministic(1.0), Exponential(2.0)], [True, True])
    >>> float(law.sf(np.array([0.999]))[0]), round(float(law.sf(np.array([3.0]))[0]), 6)
    (1.0, 0.367879)
    >>> exact
    True
    """
    shift, phs, others, is_exact = 0.0, [], [], all(exact)
    for part in parts:
        kind, value = _split(part)
        if kind == "shift":
            shift += value
        elif kind == "ph":
            phs.append(value)
        else:
            others.append(value)
    ph = zero()
    for p in phs:
        ph = convolve(ph, p)
    if ph.n_phases > MAX_EXACT_PHASES:
        ph, is_exact = fit_two_moments(ph.mean(), ph.scv()), False
    if len(others) > 1:
        mean = sum(float(NumericLaw(o).mean()) for o in others)
        var = sum(NumericLaw(o).variance() for o in others)
        ph = convolve(ph, fit_two_moments(mean, var / mean**2 if mean > 0 else 0.0))
        others, is_exact = [], False
    if not others:
        if shift == 0.0:
            return ph, is_exact
        return _shifted(phase_type_part(ph), shift), is_exact
    other = others[0]
    if ph.n_phases == 0:
        return _shifted(other, shift), is_exact
    nodes, weights = np.polynomial.legendre.leggauss(_NODES)
    probs = (nodes + 1) / 2
    if np.isclose(ph.alpha.sum(), 1.0, rtol=0, atol=1e-12):   # no atom at 0: all at once
        shifts = ph_quantiles(ph.alpha[None], ph.T[None], tuple(probs))[0] + shift
    else:
        shifts = np.asarray(ph.quantile(probs), dtype=float) + shift
    law = mixture_of_shifts(other, shifts, weights / 2)
    return TimeLaw(law.raw, np.asarray(other.points) + shift, law.scale), is_exact


def _split(part: Part) -> tuple[str, float | PhaseType | TimeLaw]:
    """A part as a shift, a PH or another law."""
    if isinstance(part, Deterministic):
        return "shift", part.value
    if isinstance(part, Exponential):
        return "ph", exponential(1.0 / part.mean)
    if isinstance(part, Erlang):
        return "ph", erlang(part.k, part.k / part.mean)
    if isinstance(part, HyperExponential):
        return "ph", hyperexponential(part.probs, [1.0 / m for m in part.means])
    if isinstance(part, MMcResponse):
        return "ph", part.phase_type()
    if isinstance(part, PhaseType):
        return "ph", part
    if isinstance(part, NumericLaw):
        return "other", part.part
    return "other", time_law(part)


def _shifted(part: TimeLaw, shift: float) -> TimeLaw:
    if shift == 0.0:
        return part
    return TimeLaw(lambda t: part.sf(t - shift), np.append(np.asarray(part.points) + shift,
                                                           shift), part.scale + shift)

