"""The metastable retry storm: a one-second spike pushes an M/M/4 at rho 0.8, whose
clients time out (the server finishes abandoned attempts) and retry three times, into a
state where almost every attempt times out and the retries keep it saturated after the
spike; the same spike with a retry budget (or without retries) is absorbed."""

from __future__ import annotations

import numpy as np
import pytest

import qmodel
from qmodel import Model

OFFERED = 80.0


def spiked(retries: dict) -> Model:
    return Model.from_dict({
        "nodes": {"api": {"kind": "queue", "servers": 4, "service": "40ms"}},
        "arrivals": {"web": {"to": "api", "timeout": "300ms", "on_timeout": "continue",
                             "retries": retries,
                             "rate": {"profile": "spike", "base": f"{OFFERED}/s",
                                      "peak": "200/s", "at": "4s", "duration": "1s",
                                      "length": "20s"}}}})


STORM = spiked({"max": 3})
BUDGET = spiked({"max": 3, "budget": {"ratio": 0.05, "window": "1s"}})


@pytest.fixture(scope="module")
def storm():
    return qmodel.simulate(STORM, bins="2s", replications=2, seed=1).frame


def test_without_a_budget_the_storm_outlives_the_spike(storm):
    after = storm[storm.time_s >= 12]
    assert (after.throughput_per_s < 0.1 * OFFERED).all()  # goodput stays near zero
    assert (after.attempts_per_s > 3 * OFFERED).all()  # every request sent 4 times
    before = storm[storm.end_s <= 4]
    assert np.allclose(before.attempts_per_s, before.arrivals_per_s, rtol=0.1)


@pytest.mark.parametrize("model", [BUDGET, spiked({"max": 0})], ids=["budget", "no retries"])
def test_with_a_retry_budget_or_no_retries_goodput_returns_to_the_offered_rate(model):
    frame = qmodel.simulate(model, bins="2s", replications=2, seed=1).frame
    after = frame[frame.time_s >= 16]
    assert np.allclose(after.throughput_per_s, OFFERED, rtol=0.12)
    assert (after.attempts_per_s < 1.2 * OFFERED).all()
    assert (after.failures_per_s < 0.05 * OFFERED).all()


def test_the_storm_is_reported_unstable_and_the_budgeted_system_stable():
    # Without bins the run covers the profile: the storm's queue of attempts grows.
    stormy = qmodel.simulate(STORM, replications=2, seed=2)
    assert [u.station for u in stormy.unstable] == ["api"]
    assert qmodel.simulate(BUDGET, replications=2, seed=2).stable


def test_the_series_has_no_mmc_prediction_and_draws_attempts(storm):
    assert not any(c.startswith(("psa_", "fluid", "ctmc")) for c in storm.columns)
    series = qmodel.simulate(BUDGET, bins="4s", replications=1, seed=1)
    assert any("do not model retries, timeouts" in n for n in series.notes)
    assert {"attempts", "goodput"} <= {t.name for t in series.figure().data}
