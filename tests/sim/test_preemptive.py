"""Scheduling disciplines: priorities against Cobham's and Kleinrock's formulas, PS and
LCFS-PR against their insensitive M/G/1 forms, MLFQ against FCFS on a bimodal mix."""

from __future__ import annotations

import pytest

from qmodel import Model
from qmodel.sim import simulate

from .theory import cobham, preemptive_priority, within_ci


def two_classes(discipline: str, rates=(0.3, 0.4), means=(1.0, 1.0), service=None, **extra):
    service = service or [{"dist": "exponential", "mean": m} for m in means]
    return Model.from_dict({
        "nodes": {"q": {"kind": "queue", "discipline": discipline, "service": service[0],
                        "class_service": {"hi": service[0], "lo": service[1]}, **extra}},
        "arrivals": {"hi": {"to": "q", "rate": rates[0], "priority": 0},
                     "lo": {"to": "q", "rate": rates[1], "priority": 1}}})


@pytest.mark.parametrize("rates, means", [((0.3, 0.4), (1.0, 1.0)), ((0.2, 0.5), (0.5, 1.2))])
def test_non_preemptive_priority_matches_cobham(rates, means):
    r = simulate(two_classes("priority", rates, means), replications=10, customers=30_000,
                 seed=8)
    exact = cobham(list(rates), list(means), [1.0, 1.0])
    assert within_ci(r.classes["hi"].mean_response_time, exact[0])
    assert within_ci(r.classes["lo"].mean_response_time, exact[1])


def test_preemptive_priority_matches_kleinrock():
    rates, means = (0.3, 0.4), (1.0, 1.0)
    r = simulate(two_classes("priority-preemptive", rates, means), replications=10,
                 customers=30_000, seed=6)
    exact = preemptive_priority(list(rates), list(means), [1.0, 1.0])
    assert within_ci(r.classes["hi"].mean_response_time, exact[0])
    assert within_ci(r.classes["lo"].mean_response_time, exact[1])


@pytest.mark.parametrize("discipline", ["ps", "lcfs-pr"])
def test_ps_and_lcfs_pr_are_insensitive(discipline):
    # M/G/1-PS and M/G/1-LCFS-PR: mean response S / (1 - rho) whatever the distribution.
    model = Model.from_dict({"nodes": {"q": {"kind": "queue", "discipline": discipline,
                                             "service": {"dist": "deterministic", "value": 1.0}}},
                             "arrivals": {"a": {"to": "q", "rate": 0.7}}})
    r = simulate(model, replications=10, customers=20_000, seed=12)
    assert within_ci(r.node("q").mean_response, 1.0 / 0.3)


def test_ps_with_several_servers_matches_mmc_mean_number():
    # M/M/c-PS has the same queue-length distribution as M/M/c-FCFS.
    from .theory import mmc_response

    model = Model.from_dict({"nodes": {"q": {"kind": "queue", "discipline": "ps", "servers": 3,
                                             "service": 1.0}},
                             "arrivals": {"a": {"to": "q", "rate": 2.4}}})
    r = simulate(model, replications=10, customers=20_000, seed=2)
    assert within_ci(r.node("q").mean_response, mmc_response(2.4, 1.0, 3))


def test_mlfq_favours_short_jobs():
    bimodal = {"dist": "hyperexponential", "probs": [0.9, 0.1], "means": [0.1, 5.0]}
    short = {"dist": "exponential", "mean": 0.1}
    long = {"dist": "exponential", "mean": 5.0}

    def model(discipline, **extra):
        return Model.from_dict({
            "nodes": {"q": {"kind": "queue", "discipline": discipline, "service": bimodal,
                            "class_service": {"short": short, "long": long}, **extra}},
            "arrivals": {"short": {"to": "q", "rate": 0.9}, "long": {"to": "q", "rate": 0.1}}})

    run = dict(replications=6, customers=20_000, seed=21)
    fcfs = simulate(model("fcfs"), **run)
    mlfq = simulate(model("mlfq", mlfq={"levels": 3, "quantum": [0.2, 1.0], "boost": 50.0}),
                    **run)
    assert mlfq.classes["short"].mean_response_time.ci95[1] < \
        0.5 * fcfs.classes["short"].mean_response_time.ci95[0]
    assert mlfq.system.mean_response_time < fcfs.system.mean_response_time
    # work conserving: the same utilization
    assert within_ci(mlfq.node("q").utilization, 0.9 * 0.1 + 0.1 * 5.0, n=6)
