"""Microservices behind a gateway: retries as feedback (traffic equations), and one shared
pool vs a queue per server with random, primary/secondary or JSQ dispatch (Kleinrock 1976
vol. 2 §5.1; Harchol-Balter 2013 ch. 14)."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.sim import simulate

from .helpers import close, load, mmc_response

# P(a request calls the database) = 0.5 x 0.4 + 0.3 x 1.0 + 0.2 x 0.5
P_DB = 0.6


@pytest.fixture(scope="module")
def pooled() -> qmodel.Model:
    return load("microservices_gateway")


def test_retries_multiply_every_visit_by_one_over_one_minus_q(pooled):
    q = 0.1
    r = qmodel.solve(pooled)
    amplification = 1 / (1 - P_DB * q)
    assert r.node("gateway").visits == pytest.approx(amplification, rel=1e-12)
    assert r.node("db").visits == pytest.approx(P_DB * amplification, rel=1e-12)
    # the database saturates first: 4 servers of 6 ms over P_DB x amplification visits
    assert r.system.bottleneck == "db"
    assert r.system.saturation_rate == pytest.approx(4 / 0.006 / (P_DB * amplification),
                                                     rel=1e-9)


def test_a_shared_pool_waits_less_than_a_queue_per_server(pooled):
    per_server = load("microservices_per_server_queues")
    mu = 1 / 0.012
    lam = qmodel.solve(pooled).node("catalog").arrival_rate
    pool = qmodel.solve(pooled).node("catalog").mean_response
    split = qmodel.solve(per_server).node("catalog-0").mean_response
    assert pool == pytest.approx(mmc_response(lam, mu, 8), rel=1e-9)       # M/M/8
    assert split == pytest.approx(1 / (mu - lam / 8), rel=1e-9)            # M/M/1 at lam/8
    assert pool < split
    assert qmodel.solve(pooled).system.mean_response_time < \
        qmodel.solve(per_server).system.mean_response_time


@pytest.mark.parametrize("rate", [800, 1000])
def test_primary_secondary_lies_between_the_pool_and_random_split_behind_jsq(pooled, rate):
    """Catalog wait: pool (M/M/8) and jsq < primary/secondary < random (M/M/1 at lam/8)."""
    at = {"arrivals.api.rate": f"{rate}/s"}
    per_server = load("microservices_per_server_queues").with_changes(at)
    lam = qmodel.solve(pooled.with_changes(at)).node("catalog").arrival_rate
    mu = 1 / 0.012

    def wait(routing: str):
        sim = simulate(per_server.with_changes({"nodes.catalog.routing": routing}),
                       replications=3, customers=20_000, seed=7)
        return sim.node("catalog").mean_wait

    ps, jsq = wait("primary_secondary"), wait("jsq")
    assert mmc_response(lam, mu, 8) - 1 / mu < ps.ci95[0]
    assert ps.ci95[1] < 1 / (mu - lam / 8) - 1 / mu
    assert jsq.ci95[1] < ps.ci95[0]  # JSQ sees all 8 queues, overflow only 2


def test_simulation_agrees_with_the_exact_product_form(pooled):
    exact = qmodel.solve(pooled)
    sim = simulate(pooled, replications=4, customers=30_000, seed=3)
    assert close(sim.system.mean_response_time, exact.system.mean_response_time, 0.03)
    assert close(sim.node("gateway").visits, exact.node("gateway").visits, 0.01)
