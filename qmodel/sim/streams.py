"""Random number streams: one independent stream per replication, station and purpose.

``SeedSequence(seed).spawn(replications)`` gives each replication its own sequence; inside
a replication each stream is keyed by the names of what it feeds (``("service", "db-0",
"web")``), not by position, so two variants of a model that share a station and class
draw the same numbers for it (common random numbers: what-if differences are far less
noisy). Values are drawn in batches from numpy and handed out one at a time.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from itertools import chain, repeat

import numpy as np

from ..distributions import Deterministic, Distribution

BATCH = 8192


class Streams:
    """The random streams of one replication.

    >>> s = Streams(np.random.SeedSequence(7).spawn(1)[0])
    >>> a = s.generator("service", "app", "web").random()
    >>> a == Streams(np.random.SeedSequence(7).spawn(1)[0]).generator("service", "app", "web").random()
    True
    """

    def __init__(self, seq: np.random.SeedSequence):
        self.seq = seq

    def generator(self, *key: str) -> np.random.Generator:
        """An independent generator for the purpose named by ``key``."""
        words = tuple(zlib.crc32(k.encode()) for k in key)
        child = np.random.SeedSequence(self.seq.entropy, spawn_key=self.seq.spawn_key + words)
        return np.random.Generator(np.random.PCG64(child))

    def draws(self, dist: Distribution, *key: str) -> Iterator[float]:
        """An endless iterator of samples of ``dist``; ``next()`` on it is cheap."""
        if isinstance(dist, Deterministic):
            return repeat(float(dist.value))
        rng = self.generator(*key)
        return chain.from_iterable(iter(lambda: np.asarray(dist.sample(rng, BATCH),
                                                           dtype=float).tolist(), None))

    def uniforms(self, *key: str) -> Iterator[float]:
        """An endless iterator of uniform(0, 1) numbers."""
        rng = self.generator(*key)
        return chain.from_iterable(iter(lambda: rng.random(BATCH).tolist(), None))


def replication_seeds(seed: int | None, replications: int
                      ) -> tuple[int, list[np.random.SeedSequence]]:
    """The root entropy (drawn fresh when ``seed`` is None) and one sequence per replication."""
    root = np.random.SeedSequence(seed)
    return int(root.entropy), root.spawn(replications)
