from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from loadtest.refsys.timing import ServiceClock

pytestmark = pytest.mark.loadtest  # timing: run alone on the machine


def test_plan_subtracts_work_overshoot_and_debt():
    clock = ServiceClock(overshoot_s=0.001)
    assert clock.plan(0.010, 0.002) == 0.007
    clock.debt_s = 0.003
    assert abs(clock.plan(0.010, 0.002) - 0.004) < 1e-12
    assert clock.plan(0.001, 0.0005) == 0.0  # too short to sleep: carried as debt


def test_overshoot_estimate_follows_observations():
    clock = ServiceClock(alpha=0.5, overshoot_s=0.0)
    for _ in range(20):
        clock.observe_sleep(0.005, 0.0058)
    assert abs(clock.overshoot_s - 0.0008) < 1e-6


def test_debt_is_bounded():
    clock = ServiceClock(mean_s=0.001)
    for _ in range(100):
        clock.settle(0.0, 0.002)
    assert clock.debt_s == clock.max_debt_s == 0.020
    assert ServiceClock(mean_s=0.025).max_debt_s == 0.100


@pytest.mark.alone  # 3.4% against 3% once beside the computed tests: a CPU to itself
def test_mean_delivered_service_matches_the_draws():
    """The correction makes the mean delivered time equal the mean drawn time, even for
    draws shorter than one timer tick (exponential, mean 3 ms; real work 0.5 ms). What is
    still owed at the end (the last debt, at most 20 ms) is not counted against it."""

    async def run() -> tuple[float, float]:
        clock, rng = ServiceClock(0.003), np.random.default_rng(7)
        targets, delivered = [], []
        for _ in range(400):
            target, started = rng.exponential(0.003), time.perf_counter()
            while time.perf_counter() - started < 0.0005:
                pass
            delivered.append(await clock.pad(target, started))
            targets.append(target)
        return float(np.sum(targets)), float(np.sum(delivered)) - clock.debt_s

    target, delivered = asyncio.run(run())
    assert abs(delivered / target - 1) < 0.03


@pytest.mark.alone  # p90 off by 3 ms against the limit once beside the computed tests
def test_each_server_of_a_pool_keeps_its_own_debt(tmp_path):
    """Eight servers sharing one debt repay it eight times over and swing: delivered
    times were off their draws by ±50 ms (CV 1.2). With a clock per server they follow
    their draws to within a timer tick or so."""
    import qmodel
    from loadtest.refsys.stations import Pool
    from loadtest.refsys.trace import TraceReader, TraceWriter

    model = qmodel.Model.from_dict({
        "nodes": {"app": {"kind": "queue", "servers": 8, "service": "10ms"}},
        "arrivals": {"web": {"to": "app", "rate": "400/s"}}})
    trace = TraceWriter(tmp_path, "pool")

    async def run() -> None:
        from loadtest.refsys.items import Item

        done = asyncio.Event()
        left = [300]

        async def after(item) -> None:
            left[0] -= 1
            if not left[0]:
                done.set()

        pool = Pool(model.network.station("app"), trace, np.random.default_rng(3), None, after,
                    lambda item, exc: None)
        pool.start()
        rng = np.random.default_rng(4)
        for i in range(300):
            await pool.put(Item(f"i{i}", "web", "k", "", time.time()))
            await asyncio.sleep(rng.exponential(1 / 400))
        await asyncio.wait_for(done.wait(), 30)
        await pool.stop()

    asyncio.run(run())
    trace.flush()
    rows = TraceReader(tmp_path).frame()
    off = (rows["service"] - rows["target"]).abs()
    assert off.quantile(0.9) < 0.003, off.describe()
