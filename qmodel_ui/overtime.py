"""The "Load over time" page's logic: a rate profile put on an open class of the current
model, and the peak and recovery of a :class:`qmodel.sim.TimeSeries` as metric cards."""

from __future__ import annotations

import math
from typing import Any

import qmodel

from . import LIBRARY

KINDS = ("spike", "step", "ramp", "sine")
"""The profiles the page draws from fields (docs/time-varying.md); a model's own
``piecewise`` or ``file`` profile is kept as it is."""
MAX_BINS = 2_000
MAX_REPLICATIONS = 50


def defaults(kind: str, rate_per_s: float) -> dict[str, str]:
    """The fields of a ``kind`` profile, filled around the class's rate: the load doubles
    (half again for a step; a spike for 5 s), changes at 10 s after a lead-in at the rate,
    and a sine swings by half of it.

    >>> defaults("spike", 200.0)
    {'base': '200/s', 'peak': '400/s', 'at': '10s', 'duration': '5s'}
    >>> defaults("sine", 50.0)
    {'mean': '50/s', 'amplitude': '25/s', 'period': '20s'}
    """
    def r(factor: float) -> str:
        return f"{rate_per_s * factor:.6g}/s"

    return {"spike": {"base": r(1), "peak": r(2), "at": "10s", "duration": "5s"},
            "step": {"from": r(1), "to": r(1.5), "at": "10s"},
            "ramp": {"from": r(1), "to": r(2), "start": "10s", "end": "30s"},
            "sine": {"mean": r(1), "amplitude": r(0.5), "period": "20s"}}[kind]


def profile_of(model: qmodel.Model, job_class: str) -> dict[str, Any] | None:
    """The ``rate: {profile: …}`` mapping of an open class as written, or None for a
    constant rate."""
    rate = model.to_dict()["arrivals"][job_class]["rate"]
    return rate if isinstance(rate, dict) else None


def with_profile(model: qmodel.Model, job_class: str, spec: dict[str, Any]) -> qmodel.Model:
    """``model`` with ``spec`` as the rate of the open class
    ``job_class``; a bad field raises :class:`qmodel.ModelError` naming its path
    (``arrivals.web.rate.peak``). An empty field is left out (``length``: the default).

    >>> m = qmodel.Model.from_dict({"nodes": {"app": {"kind": "queue", "service": "10ms"}},
    ...                             "arrivals": {"web": {"to": "app", "rate": "50/s"}}})
    >>> stepped = with_profile(m, "web", {"profile": "step", "from": "50/s", "to": "80/s",
    ...                                   "at": "5s", "length": ""})
    >>> stepped.network.profiles["web"].rate_at([4.0, 6.0]).tolist(), bin_count(stepped, 1.0)
    ([50.0, 80.0], 10)
    """
    doc = model.to_dict()
    doc["arrivals"][job_class]["rate"] = {k: v for k, v in spec.items() if v != ""}
    return qmodel.Model.from_dict(doc, LIBRARY)


def bin_count(model: qmodel.Model, bins_s: float) -> int:
    """How many bins of ``bins_s`` seconds the run of ``model``'s longest profile has
    (0 when it has none)."""
    lengths = [p.length for p in model.network.profiles.values()]
    return int(-(-max(lengths, default=0.0) // bins_s))


def cards(ts: qmodel.sim.TimeSeries) -> list[tuple[str, str, str]]:
    """``(label, value, caption)`` of the peak and the recovery, times in ms.

    >>> from qmodel.sim import TimeSeries
    >>> import pandas as pd
    >>> ts = TimeSeries(pd.DataFrame(), 1.0, 30.0, 4, 1, {"time_s": 19.0,
    ...     "in_system": 476.6, "in_system_low": 457.6, "in_system_high": 495.5,
    ...     "p95_time_s": 24.0, "p95_response_s": 4.94}, {"steady_p95_s": 0.054,
    ...     "within": 0.1, "load_back_s": 20.0, "recovered": True, "recovered_at_s": 34.0,
    ...     "recovery_s": 14.0})
    >>> [c[1] for c in cards(ts)]
    ['476.6', '4940', '54', '14 s']
    """
    peak, rec = ts.peak, ts.recovery
    low, high = peak["in_system_low"], peak["in_system_high"]
    band = "" if math.isnan(low) else f" (95%: {low:.4g} – {high:.4g})"
    out = [("peak jobs in system", f"{peak['in_system']:.4g}",
            f"at {peak['time_s']:g}–{peak['time_s'] + ts.bin_s:g} s{band}"),
           ("peak p95 response (ms)", f"{peak['p95_response_s'] * 1e3:.4g}",
            f"at {peak['p95_time_s']:g}–{peak['p95_time_s'] + ts.bin_s:g} s")]
    if rec is None:
        return out + [("steady p95 (ms)", "—", "no lead-in at a steady rate"),
                      ("recovery", "—", "the load does not come back to its starting rate")]
    out.append(("steady p95 (ms)", f"{rec['steady_p95_s'] * 1e3:.4g}",
                "median p95 of the lead-in's second half"))
    if rec["recovered"]:
        out.append(("recovery", f"{rec['recovery_s']:g} s",
                    f"p95 within {rec['within']:.0%} of steady at {rec['recovered_at_s']:g} s; "
                    f"the load came back at {rec['load_back_s']:g} s"))
    else:
        out.append(("recovery", "not in the run",
                    f"p95 was not back within {rec['within']:.0%} of steady by the end"))
    return out
