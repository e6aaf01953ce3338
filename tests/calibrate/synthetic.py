"""Synthetic metrics with known demands, for the estimator and reader tests.

Each interval draws a class mix, Poisson counts of completions, and busy seconds as the sum
of the completed jobs' exponential service demands (Gamma(count, D): the time the resource
really spent on them) plus Gaussian measurement noise on the utilization."""

from __future__ import annotations

import numpy as np

CLASSES = ["browse", "buy"]
COMPONENTS = ["app", "db"]
DEMANDS = np.array([[0.030, 0.004],    # browse: seconds of app, of db per job
                    [0.080, 0.012]])   # buy
SERVERS = {"app": 4, "db": 1}
MODEL = {
    "name": "shop",
    "arrivals": {"browse": {"to": "app", "rate": "40/s"}, "buy": {"to": "app", "rate": "10/s"}},
    "nodes": {"app": {"kind": "queue", "servers": 4, "service": {"mean": "20ms", "cv": 0.8},
                      "next": "db"},
              "db": {"kind": "queue", "servers": 1, "service": "5ms"}},
}


def metrics(rng: np.random.Generator, intervals: int = 40, demands: np.ndarray = DEMANDS,
            dt: float = 60.0, noise: float = 0.01, proportional: bool = False,
            low: tuple[float, ...] = (10.0, 2.0), high: tuple[float, ...] = (60.0, 20.0)
            ) -> tuple[np.ndarray, np.ndarray]:
    """Throughput ``[T, R]`` (per second) and busy servers ``[T, K]``."""
    R = demands.shape[0]
    rates = rng.uniform(low[:R], high[:R], size=(intervals, R))
    if proportional:  # the same mix in every interval: only the total load moves
        rates = rng.uniform(0.3, 1.0, size=(intervals, 1)) * np.asarray(high[:R])
    counts = rng.poisson(rates * dt)
    busy = np.stack([(rng.gamma(np.maximum(counts, 1e-12), demands[:, k]) * (counts > 0))
                     .sum(axis=1) for k in range(demands.shape[1])], axis=1)
    return counts / dt, busy / dt + rng.normal(0.0, noise, size=busy.shape)


def csv_text(rng: np.random.Generator, intervals: int = 40) -> str:
    x, busy = metrics(rng, intervals)
    lines = ["time,duration,count.browse,count.buy,utilization.app,busy.db"]
    for t in range(intervals):
        lines.append(f"{t * 60},60,{round(x[t, 0] * 60)},{round(x[t, 1] * 60)},"
                     f"{min(max(busy[t, 0] / 4, 0), 1):.5f},{max(busy[t, 1], 0) * 60:.4f}")
    return "\n".join(lines) + "\n"


def scrape_text(rng: np.random.Generator, intervals: int = 40, start: float = 1.7e9) -> str:
    """Several scrapes in one file: cumulative request counters and CPU seconds."""
    x, busy = metrics(rng, intervals)
    counts = np.vstack([np.zeros((1, 2)), np.cumsum(np.round(x * 60), axis=0)])
    cpu = np.vstack([np.zeros((1, 2)), np.cumsum(np.maximum(busy, 0) * 60, axis=0)])
    out = []
    for t in range(intervals + 1):
        out.append(f"# time: {start + 60 * t:.0f}")
        out.append("# TYPE http_requests_total counter")
        for j, c in enumerate(CLASSES):
            half = counts[t, j] // 2
            out.append(f'http_requests_total{{route="{c}",instance="a"}} {half:.0f}')
            out.append(f'http_requests_total{{route="{c}",instance="b"}} '
                       f'{counts[t, j] - half:.0f}')
        for k, comp in enumerate(COMPONENTS):
            out.append(f'process_cpu_seconds_total{{service="{comp}"}} {cpu[t, k]:.4f}')
    return "\n".join(out) + "\n"
