"""Distributions of times: one object feeds both the formulas and the simulator.

Every distribution knows its ``mean``, ``scv`` (squared coefficient of variation) and
``second_moment`` — what analytic formulas need — and draws samples with
``sample(rng, size)`` from a :class:`numpy.random.Generator`. Times are in seconds.

>>> import numpy as np
>>> d = Erlang(4, 0.02)
>>> round(d.scv, 3), d.sample(np.random.default_rng(1), 3).shape
(0.25, (3,))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class Distribution:
    """Base of all time distributions (seconds)."""

    name: ClassVar[str] = "distribution"

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def scv(self) -> float:
        """Squared coefficient of variation, Var/mean²."""
        raise NotImplementedError

    @property
    def variance(self) -> float:
        return self.scv * self.mean**2

    @property
    def second_moment(self) -> float:
        return self.variance + self.mean**2

    @property
    def third_moment(self) -> float:
        """E[X³] (for the response-time variance of M/G/1, Takács)."""
        raise NotImplementedError

    @property
    def is_exponential(self) -> bool:
        return False

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        raise NotImplementedError

    def scaled(self, factor: float) -> Distribution:
        """The same shape with every time multiplied by ``factor``."""
        raise NotImplementedError

    def with_mean(self, mean: float) -> Distribution:
        """The same shape rescaled to ``mean``."""
        return self.scaled(mean / self.mean) if self.mean > 0 else self

    def to_spec(self) -> dict[str, Any]:
        """A spec (in seconds) that :func:`qmodel.model.dist_spec.parse` turns back into this
        distribution."""
        raise NotImplementedError


@dataclass(frozen=True)
class Exponential(Distribution):
    mean_: float
    name: ClassVar[str] = "exponential"

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def scv(self) -> float:
        return 1.0

    @property
    def is_exponential(self) -> bool:
        return True

    @property
    def third_moment(self) -> float:
        return 6.0 * self.mean_**3

    def sample(self, rng, size=None):
        return rng.exponential(self.mean_, size)

    def scaled(self, factor):
        return Exponential(self.mean_ * factor)

    def to_spec(self):
        return {"dist": self.name, "mean": self.mean_}


@dataclass(frozen=True)
class Deterministic(Distribution):
    value: float
    name: ClassVar[str] = "deterministic"

    @property
    def mean(self) -> float:
        return self.value

    @property
    def scv(self) -> float:
        return 0.0

    @property
    def third_moment(self) -> float:
        return self.value**3

    def sample(self, rng, size=None):
        return self.value if size is None else np.full(size, self.value)

    def scaled(self, factor):
        return Deterministic(self.value * factor)

    def to_spec(self):
        return {"dist": self.name, "value": self.value}


@dataclass(frozen=True)
class Erlang(Distribution):
    k: int
    mean_: float
    name: ClassVar[str] = "erlang"

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def scv(self) -> float:
        return 1.0 / self.k

    @property
    def third_moment(self) -> float:
        theta = self.mean_ / self.k
        return self.k * (self.k + 1) * (self.k + 2) * theta**3

    def sample(self, rng, size=None):
        return rng.gamma(self.k, self.mean_ / self.k, size)

    def scaled(self, factor):
        return Erlang(self.k, self.mean_ * factor)

    def to_spec(self):
        return {"dist": self.name, "k": self.k, "mean": self.mean_}


@dataclass(frozen=True)
class HyperExponential(Distribution):
    probs: tuple[float, ...]
    means: tuple[float, ...]
    name: ClassVar[str] = "hyperexponential"

    @classmethod
    def balanced(cls, mean: float, scv: float) -> HyperExponential:
        """Two phases with balanced means (each phase carries half the mean), scv >= 1."""
        p = 0.5 * (1.0 + math.sqrt((scv - 1.0) / (scv + 1.0)))
        return cls((p, 1.0 - p), (mean / (2 * p), mean / (2 * (1.0 - p))))

    @property
    def mean(self) -> float:
        return float(np.dot(self.probs, self.means))

    @property
    def second_moment(self) -> float:
        return float(np.dot(self.probs, 2.0 * np.square(self.means)))

    @property
    def scv(self) -> float:
        return self.second_moment / self.mean**2 - 1.0

    @property
    def variance(self) -> float:
        return self.second_moment - self.mean**2

    @property
    def third_moment(self) -> float:
        return float(np.dot(self.probs, 6.0 * np.power(self.means, 3)))

    def sample(self, rng, size=None):
        phase = rng.choice(len(self.probs), size=size, p=self.probs)
        return rng.exponential(np.asarray(self.means)[phase])

    def scaled(self, factor):
        return HyperExponential(self.probs, tuple(m * factor for m in self.means))

    def to_spec(self):
        return {"dist": self.name, "probs": list(self.probs), "means": list(self.means)}


@dataclass(frozen=True)
class Lognormal(Distribution):
    mean_: float
    cv: float
    name: ClassVar[str] = "lognormal"

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def scv(self) -> float:
        return self.cv**2

    @property
    def third_moment(self) -> float:
        return self.mean_**3 * (1.0 + self.cv**2) ** 3

    def sample(self, rng, size=None):
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean_) - sigma2 / 2
        return rng.lognormal(mu, math.sqrt(sigma2), size)

    def scaled(self, factor):
        return Lognormal(self.mean_ * factor, self.cv)

    def to_spec(self):
        return {"dist": self.name, "mean": self.mean_, "cv": self.cv}


@dataclass(frozen=True)
class Gamma(Distribution):
    mean_: float
    cv: float
    name: ClassVar[str] = "gamma"

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def scv(self) -> float:
        return self.cv**2

    @property
    def third_moment(self) -> float:
        return self.mean_**3 * (1.0 + self.cv**2) * (1.0 + 2.0 * self.cv**2)

    def sample(self, rng, size=None):
        shape = 1.0 / self.cv**2
        return rng.gamma(shape, self.mean_ / shape, size)

    def scaled(self, factor):
        return Gamma(self.mean_ * factor, self.cv)

    def to_spec(self):
        return {"dist": self.name, "mean": self.mean_, "cv": self.cv}


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float
    name: ClassVar[str] = "uniform"

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    @property
    def scv(self) -> float:
        return ((self.high - self.low) ** 2 / 12) / self.mean**2 if self.mean > 0 else 0.0

    @property
    def third_moment(self) -> float:
        return (self.high**4 - self.low**4) / (4.0 * (self.high - self.low))

    def sample(self, rng, size=None):
        return rng.uniform(self.low, self.high, size)

    def scaled(self, factor):
        return Uniform(self.low * factor, self.high * factor)

    def to_spec(self):
        return {"dist": self.name, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Pareto(Distribution):
    """Classical Pareto with shape ``alpha`` > 1 and minimum ``scale``: a heavy tail."""

    alpha: float
    scale: float
    name: ClassVar[str] = "pareto"

    @property
    def mean(self) -> float:
        return self.alpha * self.scale / (self.alpha - 1)

    @property
    def scv(self) -> float:
        if self.alpha <= 2:
            return math.inf
        return 1.0 / (self.alpha * (self.alpha - 2))

    @property
    def third_moment(self) -> float:
        if self.alpha <= 3:
            return math.inf
        return self.alpha * self.scale**3 / (self.alpha - 3)

    def sample(self, rng, size=None):
        return self.scale * (1.0 + rng.pareto(self.alpha, size))

    def scaled(self, factor):
        return Pareto(self.alpha, self.scale * factor)

    def to_spec(self):
        return {"dist": self.name, "alpha": self.alpha, "scale": self.scale}


@dataclass(frozen=True)
class Empirical(Distribution):
    """Resamples the given observations with replacement."""

    samples: tuple[float, ...]
    name: ClassVar[str] = "empirical"

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))

    @property
    def scv(self) -> float:
        m = self.mean
        return float(np.var(self.samples)) / m**2 if m > 0 else 0.0

    @property
    def third_moment(self) -> float:
        return float(np.mean(np.power(self.samples, 3)))

    def sample(self, rng, size=None):
        return rng.choice(np.asarray(self.samples), size=size)

    def scaled(self, factor):
        return Empirical(tuple(x * factor for x in self.samples))

    def to_spec(self):
        return {"dist": self.name, "samples": list(self.samples)}


@dataclass(frozen=True)
class Mixture(Distribution):
    """A draw of ``parts[i]`` with probability ``probs[i]``: the service time of the next
    job at a station serving several classes. Built by solvers; not a model field.

    >>> m = Mixture((0.5, 0.5), (Deterministic(1.0), Exponential(3.0)))
    >>> m.mean, m.second_moment
    (2.0, 9.5)
    """

    probs: tuple[float, ...]
    parts: tuple[Distribution, ...]
    name: ClassVar[str] = "mixture"

    @property
    def mean(self) -> float:
        return float(sum(p * d.mean for p, d in zip(self.probs, self.parts)))

    @property
    def second_moment(self) -> float:
        return float(sum(p * d.second_moment for p, d in zip(self.probs, self.parts)))

    @property
    def variance(self) -> float:
        return self.second_moment - self.mean**2

    @property
    def scv(self) -> float:
        return self.variance / self.mean**2

    @property
    def third_moment(self) -> float:
        return float(sum(p * d.third_moment for p, d in zip(self.probs, self.parts)))


def fit(mean: float, scv: float) -> Distribution:
    """The distribution qmodel uses when only mean and cv² are given.

    cv = 0 → deterministic, cv = 1 → exponential, cv < 1 → gamma, cv > 1 →
    balanced two-phase hyperexponential (Whitt's usual choice, matching two moments).

    >>> type(fit(1.0, 1.0)).__name__, type(fit(1.0, 4.0)).__name__
    ('Exponential', 'HyperExponential')
    """
    if scv == 0:
        return Deterministic(mean)
    if math.isclose(scv, 1.0):
        return Exponential(mean)
    if scv < 1:
        return Gamma(mean, math.sqrt(scv))
    return HyperExponential.balanced(mean, scv)


__all__ = [
    "Distribution",
    "Exponential",
    "Deterministic",
    "Erlang",
    "HyperExponential",
    "Lognormal",
    "Gamma",
    "Uniform",
    "Pareto",
    "Empirical",
    "Mixture",
    "fit",
]
