"""Exact MVA written out from the textbook recursion (Reiser and Lavenberg; Lazowska et
al., *Quantitative System Performance*, ch. 6-7), independent of qmodel's solvers: the
values the JMVA test files store are checked against it."""

from __future__ import annotations

import itertools

import numpy as np


def closed_mva(demands: np.ndarray, delay: list[bool], population: tuple[int, ...]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Throughput per class and queue length per (station, class) of a closed
    multiclass product-form network (``demands[k, c]`` = visits x service time)."""
    stations, classes = demands.shape
    queue: dict[tuple[int, ...], np.ndarray] = {(0,) * classes: np.zeros(stations)}
    ranges = [range(n + 1) for n in population]
    for n in sorted(itertools.product(*ranges), key=sum):
        if sum(n) == 0:
            continue
        residence = np.zeros((stations, classes))
        for c in range(classes):
            if n[c] == 0:
                continue
            less = tuple(x - (i == c) for i, x in enumerate(n))
            for k in range(stations):
                residence[k, c] = demands[k, c] * (1 if delay[k] else 1 + queue[less][k])
        x = np.array([n[c] / residence[:, c].sum() if n[c] else 0.0 for c in range(classes)])
        per = residence * x
        queue[n] = per.sum(axis=1)
        last = (x, per)
    return last


def open_pf(demands: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Queue length per (station, class) of an open product-form network of
    single-server stations: U/(1-U) shared by the classes in proportion to their load."""
    u = demands * rates
    total = u.sum(axis=1, keepdims=True)
    return u / (1 - total)
