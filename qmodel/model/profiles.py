"""Rate profiles: an open class's arrival rate that changes over time.

A model file writes ``rate: {profile: KIND, ...}`` instead of a constant rate:

- ``step``: ``from`` until ``at``, then ``to``.
- ``ramp``: ``from`` until ``start``, linear to ``to`` at ``end``, then ``to``.
- ``spike``: ``base``, with ``peak`` from ``at`` for ``duration``.
- ``sine``: ``mean`` + ``amplitude`` · sin(2πt / ``period``).
- ``piecewise``: ``points``, a list of ``[time, rate]``; ``interpolate: step`` (default,
  each rate holds until the next point) or ``linear``.
- ``file``: the same points from a CSV file of ``time,rate`` rows (a header is allowed).

Rates take units (``200/s``), times durations (``5min``); bare numbers are in the
model's ``time_unit``. Every profile has a ``length`` (how long a run of it lasts; default:
twice the time of its last change, two periods of a sine, the last point of a list or
file); after its last change the rate holds. Arrivals are a non-homogeneous Poisson
process with this rate. :func:`load_shape` gives the load generator's shapes as
profiles, so that a model and the load test it is checked against share one definition.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FieldError, shown
from ..units import parse_duration, parse_rate
from .dist_spec import field_duration
from .files import MAX_DATA_BYTES, read_bounded

PROFILES = ("step", "ramp", "spike", "sine", "piecewise", "file")
_KEYS = {
    "step": ({"from", "to", "at"}, set()),
    "ramp": ({"from", "to", "start", "end"}, set()),
    "spike": ({"base", "peak", "at", "duration"}, set()),
    "sine": ({"mean", "amplitude", "period"}, set()),
    "piecewise": ({"points"}, {"interpolate"}),
    "file": ({"file"}, {"interpolate"}),
}
"""Per kind: the keys required and the optional ones (besides ``profile`` and ``length``)."""


@dataclass(frozen=True)
class RateProfile:
    """A rate over time (per second, time in seconds): points ``times``/``rates``
    interpolated stepwise or linearly (held before the first and after the last), or a
    sine (``sine`` = mean, amplitude, period). ``length`` is how long a run lasts.

    >>> p = parse({"profile": "spike", "base": "100/s", "peak": "300/s", "at": "60s",
    ...            "duration": "30s"})
    >>> p.rate_at([0.0, 70.0, 95.0]).tolist(), p.peak, p.length, round(p.mean_rate(), 3)
    ([100.0, 300.0, 100.0], 300.0, 180.0, 133.333)
    """

    kind: str
    times: tuple[float, ...] = ()
    rates: tuple[float, ...] = ()
    linear: bool = False
    sine: tuple[float, float, float] | None = None
    length: float = 0.0

    def rate_at(self, t: float | np.ndarray | list[float]) -> np.ndarray:
        """The rate (per second) at time(s) ``t`` (seconds)."""
        t = np.asarray(t, dtype=float)
        if self.sine is not None:
            mean, amplitude, period = self.sine
            return mean + amplitude * np.sin(2 * np.pi * t / period)
        times, rates = np.asarray(self.times), np.asarray(self.rates)
        if self.linear:
            return np.interp(t, times, rates)
        index = np.searchsorted(times, t, side="right") - 1
        return rates[np.clip(index, 0, len(rates) - 1)]

    @property
    def peak(self) -> float:
        """The highest rate (the bound that thins a Poisson stream to this profile)."""
        if self.sine is not None:
            return self.sine[0] + self.sine[1]
        return float(max(self.rates))

    @property
    def changes(self) -> tuple[float, float]:
        """When the rate first leaves its initial value and when it last changes (a
        linear piece changes from its first point on)."""
        if self.sine is not None:
            return 0.0, math.inf
        moved = [i for i in range(1, len(self.rates)) if self.rates[i] != self.rates[i - 1]]
        if not moved:
            return 0.0, 0.0
        return self.times[moved[0] - 1 if self.linear else moved[0]], self.times[moved[-1]]

    def mean_rate(self, horizon: float | None = None) -> float:
        """The time-average rate over ``[0, horizon]`` (default: the profile's length)."""
        horizon = self.length if horizon is None else horizon
        grid = np.linspace(0.0, horizon, 20_001)
        if self.sine is None:  # exact for steps: integrate between the points
            grid = np.unique(np.concatenate([grid, [t for t in self.times if t < horizon]]))
        values = self.rate_at(grid)
        if not self.linear and self.sine is None:
            return float(np.sum(values[:-1] * np.diff(grid)) / horizon)
        return float(np.trapezoid(values, grid) / horizon)

    def scaled(self, factor: float) -> RateProfile:
        """The same profile with every rate times ``factor`` (a share of the load).

        >>> parse({"profile": "step", "from": 10, "to": 30, "at": 5}).scaled(0.5).rates
        (5.0, 15.0)
        """
        sine = None if self.sine is None else \
            (self.sine[0] * factor, self.sine[1] * factor, self.sine[2])
        return RateProfile(self.kind, self.times, tuple(r * factor for r in self.rates),
                           self.linear, sine, self.length)

    def to_spec(self) -> dict[str, Any]:
        """A model file's profile mapping (seconds, per second) that :func:`parse` reads
        back to the same rates: a sine, or the points of any other kind.

        >>> p = parse({"profile": "spike", "base": "40/s", "peak": "130/s", "at": "8s",
        ...            "duration": "4s", "length": "20s"})
        >>> q = parse(p.to_spec())
        >>> q.rate_at([0.0, 9.0, 13.0]).tolist(), q.length
        ([40.0, 130.0, 40.0], 20.0)
        """
        if self.sine is not None:
            mean, amplitude, period = self.sine
            return {"profile": "sine", "mean": mean, "amplitude": amplitude,
                    "period": period, "length": self.length}
        return {"profile": "piecewise", "points": [[t, r] for t, r in zip(self.times, self.rates)],
                "interpolate": "linear" if self.linear else "step", "length": self.length}


def parse(spec: Any, time_unit: str = "s", base_dir: Path | None = None) -> RateProfile:
    """A :class:`RateProfile` from a model file's ``{profile: KIND, ...}`` mapping; a bad
    key raises :class:`~qmodel.errors.FieldError` naming it.

    >>> parse({"profile": "step", "from": 50, "to": 100, "at": "1min"}).rate_at([59, 61])
    array([ 50., 100.])
    """
    kind = spec.get("profile")
    if kind not in PROFILES:
        raise FieldError("profile", f"must be one of {', '.join(PROFILES)}, got {shown(kind)}")
    required, optional = _KEYS[kind]
    for key in spec:
        if key not in required | optional | {"profile", "length"}:
            allowed = ", ".join(sorted(required | optional | {"length"}))
            raise FieldError(str(key), f"unknown key for a {kind} profile; allowed: {allowed}")
    for key in sorted(required):
        if key not in spec:
            raise FieldError(key, f"is required for a {kind} profile")
    read = _Reader(spec, time_unit)
    profile = _BUILD[kind](read, base_dir)
    length = read.duration("length", positive=True) if "length" in spec else profile.length
    if length <= 0:
        raise FieldError("length", "is required: the profile has no change to set a default")
    if profile.peak <= 0:
        raise FieldError("profile", "the rate is zero throughout")
    return RateProfile(profile.kind, profile.times, profile.rates, profile.linear,
                       profile.sine, length)


def load_shape(shape: str, rate: float, duration: float) -> RateProfile:
    """The load generator's shape (``loadtest.shapes``) as a profile of a run of
    ``duration`` seconds at a target ``rate``: ``constant``/``soak`` (the rate), ``step``
    (five equal steps up to it), ``spike`` (3x for the middle tenth), ``stress`` (a
    linear ramp from half to twice the rate).

    >>> load_shape("spike", 10.0, 100.0).rate_at([44.0, 50.0, 56.0]).tolist()
    [10.0, 30.0, 10.0]
    """
    if shape in ("constant", "soak"):
        return RateProfile(shape, (0.0,), (rate,), length=duration)
    if shape == "step":
        return RateProfile(shape, tuple(duration * i / 5 for i in range(5)),
                           tuple(rate * (i + 1) / 5 for i in range(5)), length=duration)
    if shape == "spike":
        return RateProfile(shape, (0.0, 0.45 * duration, 0.55 * duration),
                           (rate, 3 * rate, rate), length=duration)
    if shape == "stress":
        return RateProfile(shape, (0.0, duration), (0.5 * rate, 2.0 * rate), linear=True,
                           length=duration)
    raise FieldError("shape", "must be one of constant, soak, step, spike, stress, "
                              f"got {shown(shape)}")


class _Reader:
    def __init__(self, spec: dict, time_unit: str):
        self.spec = spec
        self.time_unit = time_unit

    def duration(self, key: str, positive: bool = False, value: Any = None) -> float:
        raw = self.spec[key] if value is None else value
        return field_duration(key, raw, self.time_unit, positive, kind="duration")

    def rate(self, key: str, value: Any = None) -> float:
        raw = self.spec[key] if value is None else value
        try:
            per_second = parse_rate(raw, self.time_unit)
        except ValueError as exc:
            raise FieldError(key, str(exc)) from None
        if per_second < 0:
            raise FieldError(key, f"must be a non-negative rate such as 200/s, got {shown(raw)}")
        return per_second

    def linear(self) -> bool:
        mode = self.spec.get("interpolate", "step")
        if mode not in ("step", "linear"):
            raise FieldError("interpolate", f"must be step or linear, got {shown(mode)}")
        return mode == "linear"


def _step(read: _Reader, base_dir: Path | None) -> RateProfile:
    at = read.duration("at")
    return RateProfile("step", (0.0, at), (read.rate("from"), read.rate("to")), length=2 * at)


def _ramp(read: _Reader, base_dir: Path | None) -> RateProfile:
    start, end = read.duration("start"), read.duration("end")
    if end <= start:
        raise FieldError("end", f"must be after start, got {read.spec['end']!r}")
    return RateProfile("ramp", (start, end), (read.rate("from"), read.rate("to")),
                       linear=True, length=2 * end)


def _spike(read: _Reader, base_dir: Path | None) -> RateProfile:
    at, duration = read.duration("at"), read.duration("duration", positive=True)
    base = read.rate("base")
    return RateProfile("spike", (0.0, at, at + duration), (base, read.rate("peak"), base),
                       length=2 * (at + duration))


def _sine(read: _Reader, base_dir: Path | None) -> RateProfile:
    mean, amplitude = read.rate("mean"), read.rate("amplitude")
    period = read.duration("period", positive=True)
    if amplitude > mean:
        raise FieldError("amplitude", "must not exceed the mean (a rate cannot go below 0), "
                                      f"got {read.spec['amplitude']!r}")
    return RateProfile("sine", sine=(mean, amplitude, period), length=2 * period)


def _points(read: _Reader, rows: list, where: str) -> RateProfile:
    times, rates = [], []
    for i, row in enumerate(rows):
        key = f"{where}.{i}"
        if not isinstance(row, (list, tuple)) or len(row) != 2:
            raise FieldError(key, f"must be a pair [time, rate], got {shown(row)}")
        times.append(read.duration(key, value=row[0]))
        rates.append(read.rate(key, value=row[1]))
        if i and times[-1] < times[-2]:
            raise FieldError(key, f"times must not decrease, got {row[0]!r} after "
                                  f"{rows[i - 1][0]!r}")
    if not times:
        raise FieldError(where, "must list at least one [time, rate] point")
    return RateProfile("piecewise", tuple(times), tuple(rates), read.linear(), length=times[-1])


def _piecewise(read: _Reader, base_dir: Path | None) -> RateProfile:
    points = read.spec["points"]
    if not isinstance(points, list):
        raise FieldError("points", f"must be a list of [time, rate] pairs, got {shown(points)}")
    return _points(read, points, "points")


def _file(read: _Reader, base_dir: Path | None) -> RateProfile:
    """Points from a CSV file the model names: as for an empirical distribution's samples, a
    regular file of at most :data:`~.files.MAX_DATA_BYTES` inside the model's folder;
    messages name the row at fault, never echo the file's content."""
    raw = read.spec["file"]
    if not isinstance(raw, str):
        raise FieldError("file", f"must be a path to a CSV file of time,rate rows, "
                                 f"got {shown(raw)}")
    folder = (base_dir or Path.cwd()).resolve()
    path = (folder / raw).resolve()
    if not path.is_relative_to(folder):
        raise FieldError("file", f"must name a file inside the model's folder "
                                 f"{shown(str(folder))}, got {shown(raw)}")
    try:
        text = read_bounded(path, MAX_DATA_BYTES).decode("utf-8")
    except OSError as exc:
        raise FieldError("file", f"cannot read {shown(raw)}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise FieldError("file", f"{shown(raw)} is not a UTF-8 text file") from None
    rows = [row for row in csv.reader(io.StringIO(text, newline=""))
            if row and any(c.strip() for c in row)]
    if rows and not _is_number(rows[0][0]):
        rows = rows[1:]  # a header
    pairs = []
    for line, row in enumerate(rows, start=1):
        if len(row) < 2:
            raise FieldError("file", f"{shown(raw)} row {line}: need time,rate")
        pairs.append([row[0].strip(), row[1].strip()])
    try:
        profile = _points(read, pairs, "file")
    except FieldError as exc:
        line = int(exc.field.split(".")[1]) + 1 if "." in exc.field else None
        where = f"{shown(raw)} row {line}" if line else shown(raw)
        raise FieldError("file", f"{where}: {exc.message}") from None
    return RateProfile("file", profile.times, profile.rates, profile.linear, length=profile.length)


def _is_number(text: str) -> bool:
    try:
        parse_duration(text.strip())
    except ValueError:
        return False
    return True


_BUILD = {"step": _step, "ramp": _ramp, "spike": _spike, "sine": _sine,
          "piecewise": _piecewise, "file": _file}
