"""Replicated store: how fast is an R-of-N quorum read, and how often is it stale?

Sweeps the read join's quorum R = 1..N of topologies/replicated_store.yaml and compares
the simulated read latency with qmodel.solve's R-th order statistic of the replica
response times. Then, from a simulation trace, estimates the probability that a read
issued t ms after a write commits is stale (Bailis et al., "Probabilistically bounded
staleness for practical partial quorums", VLDB 2012: the WARS model, Monte Carlo over
the simulated replication lags and read latencies; right after the commit
C(N-W, R)/C(N, R) when replication is slow), beside what ``qmodel solve`` gives from the
model's ``consistency:`` section (the same model over the solved laws).

    python examples/replicated_store_quorum.py [--quick] [--out DIR]
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from _common import TOPOLOGIES, arguments, save

import qmodel
from qmodel.sim import simulate

N, W = 3, 1                                  # replicas; a write commits at the leader
READ_STAGES = ("read_leader", "read_a", "read_b")
FOLLOWER_STAGES = ("apply_a", "apply_b")


def replica_times(trace: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per read, its N replica visit times (leader first), and the followers' replication
    lags (visit times of the replication stages), in seconds."""
    visits = trace.assign(time=trace.end_s - trace.arrival_s)
    reads = visits[visits.node.isin(READ_STAGES)].pivot_table(
        index=["replication", "job"], columns="node", values="time")
    reads = reads.dropna()[list(READ_STAGES)].to_numpy()
    lags = visits[visits.node.isin(FOLLOWER_STAGES)].time.to_numpy()
    return reads, lags


def read_latency(model: qmodel.Model, r: int, customers: int) -> tuple[float, float]:
    """Mean read latency (s) with read quorum ``r``: simulated, and from ``qmodel.solve``."""
    quorum = model.with_changes({"nodes.read_done.quorum": r})
    sim = simulate(quorum, replications=2, customers=customers, seed=r)
    return (float(sim.classes["reads"].mean_response_time),
            float(qmodel.solve(quorum).classes["reads"].mean_response_time))


def stale_probability(t: float, r: int, reads: np.ndarray, lags: np.ndarray,
                      rng: np.random.Generator, trials: int = 200_000) -> float:
    """P(a read issued ``t`` s after the commit returns an old value), PBS/WARS.

    Replica latencies and lags are resampled independently, as in PBS. The leader has
    the write at the commit; follower ``i`` gets it ``lag_i`` later. A replica answers
    with what it holds when it serves the read, ``t + its read time`` after the commit;
    the read is stale when none of its ``r`` fastest replicas holds the write by then.
    """
    latency = reads[rng.integers(len(reads), size=(trials, N)), np.arange(N)]
    lag = np.zeros((trials, N))
    lag[:, 1:] = rng.choice(lags, size=(trials, N - 1))
    fastest = np.argsort(latency, axis=1)[:, :r]
    fresh = np.take_along_axis(lag <= t + latency, fastest, axis=1)
    return float(1.0 - fresh.any(axis=1).mean())


def k_staleness(r: int) -> float:
    """PBS eq. (1): a read quorum of R misses every one of the W replicas with the write."""
    return math.comb(N - W, r) / math.comb(N, r)


def main(argv: list[str] | None = None) -> None:
    args = arguments(__doc__.splitlines()[0], argv)
    model = qmodel.load(TOPOLOGIES / "replicated_store.yaml")
    customers = 6_000 if args.quick else 60_000

    print(f"replicated store: N={N} replicas, W={W} (async replication from the leader)")
    print(f"{'R':>3} {'simulated ms':>13} {'solve ms':>9}   (read join quorum: R)")
    for r in range(1, N + 1):
        simulated, solved = read_latency(model, r, customers)
        print(f"{r:>3} {simulated * 1e3:>13.3f} {solved * 1e3:>9.3f}")
    sim = simulate(model, replications=2, customers=customers, seed=1, trace=True)
    reads, lags = replica_times(sim.trace)
    print(f"one replica: {reads.mean() * 1e3:.3f} ms; replication lag: mean "
          f"{lags.mean() * 1e3:.3f} ms, p99 {np.quantile(lags, 0.99) * 1e3:.3f} ms")

    rng = np.random.default_rng(7)
    times_ms = np.linspace(0, 12, 7 if args.quick else 25)
    fig = go.Figure()
    print("stale-read probability (PBS) vs ms since the commit: t = "
          + " ".join(f"{t:g}" for t in times_ms))
    for r in range(1, N + 1):
        p = [stale_probability(t / 1e3, r, reads, lags, rng) for t in times_ms]
        print(f"R={r} (R+W{'>' if r + W > N else '<='}N): "
              + " ".join(f"{x:.4f}" for x in p) + f"   [t=0 bound C(N-W,R)/C(N,R) = "
              f"{k_staleness(r):.4f}]")
        fig.add_trace(go.Scatter(x=times_ms, y=p, mode="lines+markers", name=f"R = {r}"))
    stale = qmodel.solve(model).consistency   # the same WARS model over the solved laws
    print(f"qmodel solve, R={stale.r} (WARS over the solved laws): "
          + ", ".join(f"t={t * 1e3:.3g} ms: {float(p):.4f}" for t, p in stale.p_stale_at)
          + f"; 99.9% of reads fresh from {stale.t_999 * 1e3:.3g} ms")
    fig.update_layout(title="Replicated store: probability of a stale read (PBS)",
                      xaxis_title="time since the write committed (ms)",
                      yaxis_title="P(stale read)")
    save(fig, args.out, "replicated_store_quorum")


if __name__ == "__main__":
    main()
