"""BRKSS shared-nothing warehouse (Pal & De, IJEMR 9(1), 2019): the worked example's
split, a batch that finishes near the bound max(console, nodes), near-linear speed-up and
sub-linear scale-up once the console saturates (DeWitt & Gray, CACM 1992), failover
that migrates a failed node's work, a failed cluster's work spread over the surviving
clusters (work conservation), and MLFQ vs FCFS vs PS on a node (Pollaczek-Khinchine;
M/G/1-PS, Kleinrock 1976 vol. 2 §4.4)."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.sim import simulate

from .helpers import close, example, load

scaling = example("brkss_scaling")
scheduling = example("brkss_scheduling")
CONSOLE = 0.0001                      # console time per transaction (s)
NODE = 0.002                          # mean transaction time on a node (s)


@pytest.fixture(scope="module")
def warehouse() -> qmodel.Model:
    return load("brkss_warehouse")


def test_worked_example_split(warehouse):
    net = warehouse.network
    m = net.job_class("batch").size
    router = net.routers["nodes"]
    clusters, per_cluster = 5 - 2, 4                          # p = 5 ports, d = 4
    assert (m, len(router.members), router.policy) == (180_000, 12, "round_robin")
    assert len(router.members) == clusters * per_cluster
    assert m // clusters == 60_000 and m // len(router.members) == 15_000
    assert net.station("nodes-0").capacity == m // 12 // 10 == 1_500
    assert scaling.console_limit(warehouse) == pytest.approx(NODE / CONSOLE)
    solved = qmodel.solve(warehouse)
    assert solved.system.mean_response_time is None                     # needs simulation
    assert solved.system.makespan_bound == pytest.approx(m * NODE / 12, rel=1e-4)  # 30 s


def test_a_batch_splits_evenly_and_finishes_near_its_bound(warehouse):
    m, n = 2_400, 12
    makespan, sim = scaling.run_batch(warehouse, m, n)
    assert sim.system.completed == m and all(r["completed"] == m for r in sim.per_replication)
    assert sim.system.throughput * makespan == pytest.approx(m, rel=0.01)
    for i in range(n):                                # round robin: m/(c d) each
        assert sim.node(f"nodes-{i}").arrival_rate * makespan == pytest.approx(m / n, rel=0.01)
    bound = max(m * CONSOLE, m * NODE / n)
    assert sim.system.makespan_bound == pytest.approx(bound, rel=1e-3)
    assert bound < makespan < 1.5 * bound
    assert sim.system.mean_response_time < makespan


def test_speed_up_near_linear_scale_up_sub_linear_past_the_console(warehouse):
    fixed = {n: scaling.run_batch(warehouse, 3_600, n)[0] for n in (3, 12)}
    assert fixed[3] / fixed[12] > 0.75 * 4                    # ideal: 4x
    grown = {n: scaling.run_batch(warehouse, 200 * n, n)[0] for n in (4, 12, 36)}
    assert grown[4] / grown[12] > 0.8                         # ideal: 1
    assert grown[4] / grown[36] < 0.75                        # console-bound past 20 nodes
    assert grown[36] == pytest.approx(200 * 36 * CONSOLE, rel=0.15)


@pytest.mark.parametrize("seed", [3, 4])
def test_failover_migrates_a_failed_nodes_work(warehouse, seed):
    # the same failures (common random numbers) under both policies, with group
    # admission: a failed node's held-back share moves too
    makespan = {policy: scaling.run_batch(
        warehouse, 2_400, 12, seed=seed, **{"nodes.nodes.failures": {
            "mttf": "2s", "mttr": "300ms", "policy": policy}})
        for policy in ("migrate", "retry")}
    for _, sim in makespan.values():
        assert sim.system.completed == 2_400
    assert makespan["migrate"][0] < 0.9 * makespan["retry"][0]


def test_a_failed_clusters_work_is_spread_over_the_surviving_clusters(warehouse):
    m, n, at = 12_000, 12, 1.0
    base, _ = scaling.run_batch(warehouse, m, n, replications=1)
    failed, sim = scaling.run_batch(warehouse, m, n, replications=1,
                                    **scaling.cluster_failure(2, at))
    assert sim.system.completed == m and sim.system.loss_probability == 0
    # work conservation: W by 12 nodes until t_f, the rest by 8 (plus the no-failure
    # run's tail); partly done transactions of the failed cluster restart, so a little more
    estimate = scaling.failover_makespan(warehouse, m, n, at) + base - m * NODE / n
    assert estimate < failed < 1.1 * estimate
    busy = [sim.node(f"nodes-{i}").utilization * failed for i in range(n)]  # seconds
    survivors, down = busy[:8], busy[8:]
    assert all(at * 0.95 < b <= at for b in down)             # busy until t_f, then down
    assert sum(survivors) > m * NODE - sum(down) > 0          # they did all the rest
    # ... each about a share (transactions are dealt by count; their sizes vary)
    assert min(survivors) > 1.2 * m * NODE / n and max(survivors) < 1.2 * min(survivors)
    kept = {policy: scaling.run_batch(warehouse, m, n, replications=1, **{
        "nodes.nodes.failures": [{**scaling.cluster_failure(2, at)["nodes.nodes.failures"][0],
                                  "duration": "2s", "policy": policy}]})[0]
            for policy in ("migrate", "retry")}
    assert kept["migrate"] < kept["retry"]                   # failover beats waiting


@pytest.mark.parametrize("discipline", ["fcfs", "ps"])
def test_node_scheduler_against_its_exact_formula(discipline):
    sim = simulate(scheduling.node_model(0.7, discipline), replications=4,
                   customers=40_000, seed=2)
    for cls, expected in scheduling.exact(0.7, discipline).items():
        assert close(sim.classes[cls].mean_response_time, expected, 0.04)


def test_mlfq_serves_short_transactions_first():
    short = {d: simulate(scheduling.node_model(0.7, d), replications=2, customers=20_000,
                         seed=2).classes["short"].mean_response_time
             for d in ("fcfs", "ps", "mlfq")}
    assert short["mlfq"] < short["ps"] < short["fcfs"] / 3
