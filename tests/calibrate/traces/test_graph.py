"""Trace trees to visits: exclusive time with parallel calls, async hand-offs, classes
that route differently, an outside caller as the root."""

from __future__ import annotations

import pytest

from qmodel.calibrate.traces.estimate import calibrate
from qmodel.calibrate.traces.graph import build, concurrency
from qmodel.calibrate.traces.spans import Span

T = 1_765_000_000.0


def span(trace, sid, parent, service, kind, start_ms, end_ms, name="op", links=()):
    return Span(f"t{trace}", sid, parent, service, name, kind, T + start_ms / 1e3,
                T + end_ms / 1e3, {}, tuple(links), service)


def test_exclusive_time_counts_overlapping_parallel_calls_once():
    spans = [span(1, "a", None, "api", "server", 0, 100),
             span(1, "b", "a", "api", "internal", 5, 95),       # the api's own work
             span(1, "c", "b", "api", "client", 10, 50),        # two parallel calls ...
             span(1, "d", "b", "api", "client", 30, 70),        # ... overlapping 30..50
             span(1, "e", "a", "api", "client", 90, 130),       # runs past the parent: clipped
             span(1, "f", "c", "db", "server", 12, 48),
             span(1, "g", "d", "cache", "server", 31, 69)]
    g = build(spans)
    api = next(v for v in g.visits if v.component == "api")
    assert api.exclusive == pytest.approx((100 - (70 - 10) - (100 - 90)) / 1e3)
    assert [round((b - a) * 1e3, 3) for a, b in api.busy] == [10.0, 20.0]
    assert [v.component for v in g.jobs[0].visits] == ["api", "db", "cache"]


def test_a_call_without_a_client_span_is_still_waited_for():
    g = build([span(1, "a", None, "api", "server", 0, 100),
               span(1, "b", "a", "db", "server", 20, 60)])
    api = next(v for v in g.visits if v.component == "api")
    assert api.exclusive == pytest.approx(0.060)


def test_async_hand_off_is_not_waited_for_and_its_gap_is_the_wait():
    spans = [span(1, "a", None, "api", "server", 0, 20),
             span(1, "p", "a", "api", "producer", 5, 7),
             span(1, "c", "p", "worker", "consumer", 40, 90)]
    g = build(spans)
    api, worker = (next(v for v in g.visits if v.component == n) for n in ("api", "worker"))
    assert api.exclusive == pytest.approx(0.020)
    assert worker.after.span_id == "p" and worker.entry.start - worker.after.end == \
        pytest.approx(0.033)
    assert g.skew == []  # a consumer after its producer's end is no skew


def test_a_consumer_in_its_own_trace_is_joined_through_its_link():
    spans = [span(1, "a", None, "api", "server", 0, 20),
             span(1, "p", "a", "api", "producer", 5, 7),
             span(2, "c", None, "worker", "consumer", 40, 90, links=[("t1", "p")])]
    g = build(spans)
    assert len(g.jobs) == 1 and [v.component for v in g.jobs[0].visits] == ["api", "worker"]
    assert any("joined to the producer's trace" in n for n in g.notes)


def test_an_outside_caller_root_is_not_a_component():
    g = build([span(1, "r", None, "loadgen", "client", 0, 50, name="GET /"),
               span(1, "a", "r", "api", "server", 2, 48)])
    assert [v.component for v in g.visits] == ["api"] and g.jobs[0].cls == "GET"


def test_classes_routed_differently_get_class_next():
    spans = []
    for i in range(40):
        t = i * 25.0
        spans.append(span(i, "a", None, "api", "server", t, t + 10, name="GET /read"
                          if i % 2 else "POST /write"))
        if i % 2 == 0 or i % 4 == 1:
            spans.append(span(i, "b", "a", "db", "server", t + 2, t + 6))
    cal = calibrate(build(spans), "test")
    api = cal.model.to_dict()["nodes"]["api"]
    assert "next" not in api and api["class_next"] == {"POST_write": {"db": 1.0},
                                                       "GET_read": {"db": 0.5}}
    assert cal.estimate("nodes.api.class_next.GET_read.db").n == 20


def test_concurrency_counts_an_end_and_a_start_at_one_instant_once():
    assert concurrency([(0, 1), (1, 2), (1, 3)]) == (2, 4 / 3)
