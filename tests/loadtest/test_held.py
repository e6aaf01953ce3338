"""Held threads in the reference system, driven directly (no HTTP, no load run): a caller
keeps its server through a real sub-visit to the callee, pools are FIFO semaphores, a
call times out, is retried and withdrawn, queued jobs renege and arrivals balk, and what
the Redis backend cannot run is refused naming the field."""

from __future__ import annotations

import asyncio
import time

import pytest

from loadtest.refsys.items import (
    BalkedError,
    CallFailedError,
    CancelledItemError,
    Item,
    RenegedError,
)
from loadtest.refsys.runtime import Runtime, check_routing
from loadtest.refsys.trace import TraceWriter
from qmodel import Model

pytestmark = pytest.mark.loadtest


def model(nodes: dict, pools: dict | None = None) -> Model:
    return Model.from_dict({"arrivals": {"web": {"to": "app", "rate": "10/s"}},
                            "nodes": nodes, "pools": pools or {}})


def run(tmp_path, m: Model, scenario):
    """Run ``scenario(runtime, submit)`` against a started runtime; ``submit(n)`` puts
    item n in and returns (seconds taken, outcome or exception)."""
    async def main():
        runtime = Runtime(m, tmp_path, TraceWriter(tmp_path / "trace", "test"))
        runtime.build()
        await runtime.start()
        t0 = time.perf_counter()

        async def submit(n: int):
            try:
                out = await runtime.submit(Item(f"i{n}", "web", f"k{n}", "a b", time.time()))
            except Exception as exc:  # the outcome under test
                out = exc
            return time.perf_counter() - t0, out

        try:
            return await scenario(runtime, submit)
        finally:
            await runtime.stop()
    return asyncio.run(main())


def det(ms: float) -> dict:
    return {"dist": "deterministic", "value": f"{ms}ms"}


def test_a_caller_holds_its_server_through_the_call_and_the_callee_returns(tmp_path):
    """One thread: the second request waits for the first's whole visit (own 20 ms +
    the db's 40 ms + 10 ms after), and the db's end returns to it (one visit each)."""
    m = model({"app": {"kind": "queue", "servers": 1, "service": det(20),
                       "calls": [{"to": "db"}], "service_after": det(10)},
               "db": {"kind": "queue", "servers": 4, "service": det(40)}})

    async def scenario(runtime, submit):
        done = await asyncio.gather(submit(0), submit(1))
        return done, runtime

    (first, second), runtime = run(tmp_path, m, scenario)
    assert first[1].status == second[1].status == "done"
    assert 0.068 < first[0] < 0.085 and 0.138 < second[0] < 0.165, (first[0], second[0])
    runtime.trace.flush()
    rows = [line.split("\t") for line in runtime.trace.path.read_text().splitlines()]
    stations = [r[4] for r in rows if r[0] == "S"]
    assert sorted(stations) == ["app", "app", "db", "db"]
    app = next(r for r in rows if r[0] == "S" and r[4] == "app")
    target, service = float(app[8]), float(app[9])
    assert target == pytest.approx(0.030) and service == pytest.approx(0.030, abs=0.004)
    assert float(app[7]) - float(app[6]) == pytest.approx(0.070, abs=0.008)  # held


def test_a_call_pool_is_a_fifo_semaphore(tmp_path):
    """Four threads but one connection: the calls to the db go one at a time."""
    m = model({"app": {"kind": "queue", "servers": 4, "service": det(1),
                       "calls": [{"to": "db", "pool": "conn"}]},
               "db": {"kind": "delay", "service": det(30)}}, pools={"conn": {"size": 1}})

    async def scenario(runtime, submit):
        return await asyncio.gather(*(submit(n) for n in range(3)))

    times = sorted(t for t, _ in run(tmp_path, m, scenario))
    assert [round(t / 0.030) for t in times] == [1, 2, 3], times


def test_call_timeouts_are_retried_then_fail_the_visit(tmp_path):
    """A 50 ms callee and a 10 ms timeout: 1 + 2 retries, each timed out; cancelled
    attempts leave the callee (its two servers are not kept busy by abandoned calls)."""
    m = model({"app": {"kind": "queue", "servers": 1, "service": det(1),
                       "calls": [{"to": "db", "timeout": "10ms", "on_timeout": "cancel",
                                  "retries": {"max": 2, "backoff": {"base": "5ms"}}}]},
               "db": {"kind": "queue", "servers": 2, "service": det(50)}})

    async def scenario(runtime, submit):
        took, out = await submit(0)
        return took, out, runtime.held.stats(), runtime.parts["db"].busy

    took, out, stats, busy = run(tmp_path, m, scenario)
    assert isinstance(out, CallFailedError) and "timeout after 3 attempt(s)" in str(out)
    assert stats == {"app -> db": {"attempts": 3, "timeout": 3, "retries": 2,
                                   "failures": 1}}
    assert 0.040 < took < 0.065  # 3 x 10 ms + 5 + 10 ms back-off, not 3 x 50 ms
    assert busy == 0  # cancelled in service


def test_an_item_withdrawn_while_queued_leaves_and_is_answered(tmp_path):
    m = model({"app": {"kind": "queue", "servers": 1, "service": det(30)}})

    async def scenario(runtime, submit):
        first = asyncio.ensure_future(submit(0))
        second = asyncio.ensure_future(submit(1))
        await asyncio.sleep(0.005)
        assert runtime.held.cancel("i1")  # queued behind i0
        return await first, await second, runtime.parts["app"].inside

    first, second, inside = run(tmp_path, m, scenario)
    assert first[1].status == "done" and isinstance(second[1], CancelledItemError)
    assert second[0] < 0.015 and inside == 0


def test_a_timed_out_call_that_continues_keeps_the_callee_busy(tmp_path):
    m = model({"app": {"kind": "queue", "servers": 1, "service": det(1),
                       "calls": [{"to": "db", "timeout": "10ms"}]},
               "db": {"kind": "queue", "servers": 2, "service": det(50)}})

    async def scenario(runtime, submit):
        took, out = await submit(0)
        return out, runtime.parts["db"].busy

    out, busy = run(tmp_path, m, scenario)
    assert isinstance(out, CallFailedError) and busy == 1  # wasted work goes on


def test_patience_balking_and_cancelling_a_served_item(tmp_path):
    """One server busy for 50 ms: the next job waits (20 ms patience: it leaves), a job
    finding one waiting balks (above: 1); a job withdrawn in service ends at once."""
    m = model({"app": {"kind": "queue", "servers": 1, "service": det(50),
                       "patience": det(20), "balk": {"above": 1}}})

    async def scenario(runtime, submit):
        first = asyncio.ensure_future(submit(0))
        await asyncio.sleep(0.005)
        second = asyncio.ensure_future(submit(1))
        await asyncio.sleep(0.005)
        third = await submit(2)
        second = await second  # reneged at 25 ms: the first is still in service
        runtime.held.cancel("i0")
        return await first, second, third, runtime.parts["app"].inside

    first, second, third, inside = run(tmp_path, m, scenario)
    assert isinstance(third[1], BalkedError) and third[0] < 0.015
    assert isinstance(first[1], CancelledItemError) and first[0] < 0.04
    assert isinstance(second[1], RenegedError) and 0.024 < second[0] < 0.035
    assert inside == 0


def test_behaviours_the_redis_backend_cannot_run_are_refused_by_field():
    m = model({"app": {"kind": "queue", "service": det(1), "pool": "conn"}},
              pools={"conn": {"size": 2}})
    check_routing(m, "embedded")
    with pytest.raises(ValueError, match=r"nodes\.app\.pool: .*embedded backend only"):
        check_routing(m, "redis")
    hedged = model({"app": {"kind": "queue", "service": det(1),
                            "calls": [{"to": "db", "hedge": {"after": "5ms"}}]},
                    "db": {"kind": "delay", "service": det(1)}})
    with pytest.raises(ValueError, match=r"nodes\.app\.calls\[0\]\.hedge"):
        check_routing(hedged, "embedded")
