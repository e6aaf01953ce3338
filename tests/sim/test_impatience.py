"""Patience (reneging) and balking against their birth-death chains: Erlang-A (M/M/c+M)
for exponential patience, M/M/c/(c+k) for balking above k waiting."""

from __future__ import annotations

import numpy as np

import qmodel
from qmodel import Model

LAM, MU, C = 18.0, 10.0, 2  # rho 0.9


def within(est, exact: float, slack: float = 0.02) -> bool:
    low, high = est.ci95
    return low - slack * abs(exact) <= exact <= high + slack * abs(exact)


def birth_death(lam: float, deaths: list[float]) -> np.ndarray:
    """Stationary distribution of a birth-death chain with births ``lam`` and death rate
    ``deaths[n]`` out of state n + 1."""
    p = np.cumprod([1.0] + [lam / d for d in deaths])
    return p / p.sum()


def test_exponential_patience_matches_erlang_a():
    theta = 5.0  # mean patience 200 ms
    n = np.arange(400)
    p = birth_death(LAM, [min(k, C) * MU + max(k - C, 0) * theta for k in n[1:]])
    queue = float(np.dot(np.maximum(n - C, 0), p))
    p_abandon = theta * queue / LAM  # abandonment flow over arrival flow
    r = qmodel.simulate(Model.from_dict({
        "nodes": {"desk": {"kind": "queue", "servers": C, "service": "100ms",
                           "patience": "200ms"}},
        "arrivals": {"calls": {"to": "desk", "rate": f"{LAM}/s"}}}),
        replications=4, customers=4000, seed=11)
    desk = r.node("desk")
    assert within(desk.p_abandon, p_abandon, 0.04)
    assert within(desk.mean_in_queue, queue, 0.04)
    assert within(desk.throughput, LAM * (1 - p_abandon), 0.02)
    assert within(r.system.loss_probability, p_abandon, 0.04)
    assert desk.p_balk is None and "p_abandon" in r.to_dict()["nodes"]["desk"]


def test_balking_above_k_is_the_mmc_k_loss_system():
    k = 3
    p = birth_death(LAM, [min(j, C) * MU for j in range(1, C + k + 1)])
    r = qmodel.simulate(Model.from_dict({
        "nodes": {"desk": {"kind": "queue", "servers": C, "service": "100ms",
                           "balk": {"above": k}}},
        "arrivals": {"calls": {"to": "desk", "rate": f"{LAM}/s"}}}),
        replications=4, customers=4000, seed=12)
    desk = r.node("desk")
    assert within(desk.p_balk, float(p[-1]), 0.04)  # PASTA: arrivals see the chain
    assert within(desk.mean_in_system, float(np.dot(np.arange(C + k + 1), p)), 0.03)


def test_balking_by_probability_joins_with_the_given_share():
    # p = [1, 0.5]: arrivals finding anyone waiting join half the time; the chain's
    # birth rate in states >= c + 1 is lam / 2.
    lam_n = [LAM if j <= C else LAM / 2 for j in range(60)]
    p = np.cumprod([1.0] + [lam_n[j] / (min(j + 1, C) * MU) for j in range(59)])
    p /= p.sum()
    joins = np.array([1.0 if j <= C else 0.5 for j in range(60)])
    r = qmodel.simulate(Model.from_dict({
        "nodes": {"desk": {"kind": "queue", "servers": C, "service": "100ms",
                           "balk": {"probabilities": [1, 0.5]}}},
        "arrivals": {"calls": {"to": "desk", "rate": f"{LAM}/s"}}}),
        replications=4, customers=4000, seed=13)
    assert within(r.node("desk").p_balk, float(np.dot(1 - joins, p)), 0.05)


def test_an_overloaded_queue_with_patience_is_stable_and_agrees_with_erlang_a():
    """Offered load 1.5: waiting jobs leave, so the queue stays bounded (Erlang-A is stable
    at any load); the simulation runs to its end and compare() agrees with the exact chain."""
    import qmodel
    from qmodel.sim import compare

    model = qmodel.Model.from_dict({
        "nodes": {"a": {"kind": "queue", "servers": 2, "service": "10ms",
                        "patience": {"mean": "20ms"}}},
        "arrivals": {"w": {"to": "a", "rate": "300/s"}}})
    simulated = qmodel.simulate(model, replications=4, customers=6000, seed=5)
    assert not simulated.unstable
    table = compare(qmodel.solve(model), simulated, tolerance=0.03)
    assert {"p_abandon", "mean_in_system", "loss_probability"} <= set(table["metric"])
    assert table["agrees"].all(), table.to_string()
