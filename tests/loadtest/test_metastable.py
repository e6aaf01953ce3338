"""A metastable failure on the reference system (Bronson et al., HotOS 2021): a short
spike pushes a system whose clients retry timed-out requests into a retry storm that
outlives the spike; the same spike with a retry budget is absorbed.

M/M/2 at ρ = 0.5 (50/s, 20 ms services, capacity 40 with rejection); the clients give up
after 200 ms, the server finishes abandoned attempts (wasted work), 3 retries on a
timeout (a rejection is not retried). The locust ``spike`` shape triples the rate for the
middle tenth of a 14 s run (~6.3-7.7 s): the queue fills past 20 (20 x 10 ms = 200 ms of
waiting), every admitted attempt times out and is sent again, and the attempts stay above
the 100/s the servers can do after the spike is over: with a share a of attempts
admitted, 50 a (1 + a + a^2 + a^3) = 100 holds at a ~ 0.74, a full queue feeding itself.
Goodput collapses and stays down. With a budget (retries at most 10% of first attempts)
the extra load is 5/s, the queue drains in about a second and goodput returns to the
offered rate.

As the model predicts: ``qmodel.solve``'s retry fixed point (which takes no capacity: it
is solved for the same system without one) finds a second stable state at 50/s without
the budget (every attempt timing out, goodput 0) and none with it.
"""

from __future__ import annotations

import pytest

from loadtest.clients import client_stats, read_client_rows, write_client_spec
from loadtest.loadgen import LoadSpec, run_locust
from loadtest.retrying import client_spec
from qmodel import Model, load, solve

from .conftest import write_model

pytestmark = pytest.mark.loadtest

MODEL = """
name: metastable
time_unit: ms
arrivals:
  web:
    to: app
    rate: 50/s
    timeout: 200ms
    on_timeout: continue
    retries: {{max: 3, backoff: {{base: 10ms, jitter: full}}, when: [timeout]{budget}}}
nodes:
  app: {{kind: queue, servers: 2, service: 20ms, capacity: 40, on_full: reject}}
"""
RUN_S = 14.0
SPIKE = (6.3, 7.7)  # seconds into the run
AFTER = (10.0, 13.0)  # well after the spike


def metastable_predicted(budget: str) -> bool:
    """Whether the retry fixed point finds a second (saturated) stable state."""
    text = MODEL.format(budget=budget).replace(", capacity: 40, on_full: reject", "")
    notes = solve(Model.from_yaml(text)).notes
    return any(note.startswith("METASTABLE") for note in notes)


def around_the_spike(tmp_path, refsys, name: str, budget: str) -> tuple[dict, dict]:
    """The clients' figures during the spike and well after it."""
    path = write_model(tmp_path, name, MODEL.format(budget=budget))
    model = load(path)
    system = refsys(path)
    client = write_client_spec(tmp_path / f"{name}.json",
                               client_spec(model.network.classes[0].client))
    out = tmp_path / f"{name}.csv"
    spec = LoadSpec("open", RUN_S, rate=50.0, shape="spike", client_file=str(client))
    samples = run_locust(system.url, [(spec, out)])[0]
    start = min(m["started"] for m in samples.meta)
    rows = read_client_rows(out)
    during, after = (client_stats(rows, start + a, start + b) for a, b in (SPIKE, AFTER))
    print(name, "during", during, "after", after)
    return during, after


@pytest.mark.slow
@pytest.mark.loadtest_full  # opt-in: `slow` alone is not deselected by scripts/test.sh
def test_a_spike_leaves_a_retry_storm_and_a_budget_recovers(tmp_path, refsys):
    assert metastable_predicted("") and not metastable_predicted(", budget: {ratio: 0.1}")
    hit, storm = around_the_spike(tmp_path, refsys, "retrying", "")
    assert hit["timeouts"] > 0.2 * hit["requests"], hit
    assert storm["goodput_per_s"] < 0.3 * storm["offered_per_s"], storm
    assert storm["amplification"] > 2.0, storm
    hit, budget = around_the_spike(tmp_path, refsys, "budget", ", budget: {ratio: 0.1}")
    assert hit["timeouts"] > 0.2 * hit["requests"], hit  # the spike hit this one too
    assert budget["goodput_per_s"] > 0.9 * budget["offered_per_s"], budget
    assert budget["amplification"] < 1.15, budget
