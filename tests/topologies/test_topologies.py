"""Every topology file is documented, validates, and solves or says it needs simulation
(and then simulates)."""

from __future__ import annotations

import math

import pytest

from qmodel.errors import UnsupportedError
from qmodel.sim import simulate

from .helpers import NEW_TOPOLOGIES, TOPOLOGIES, load, solved

# Smaller versions for the smoke simulation (the full BRKSS batch is 180,000 transactions).
SMALL = {
    "brkss_warehouse": {"batches.batch.size": 600},   # admitted 600 / 12 / 10 = 5 at a time
    "naiad_iterative": {"nodes.iteration.tasks": 8, "nodes.iteration.slots": 8},
}
SIM_OPTIONS = {"brkss_warehouse": {}}  # a batch: runs until it is done


def header(name: str) -> str:
    lines = (TOPOLOGIES / f"{name}.yaml").read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith("#"))


@pytest.mark.parametrize("name", NEW_TOPOLOGIES)
def test_header_says_system_parameters_behaviour_and_sources(name):
    text = header(name)
    for part in ("The system", "Parameters to tune", "Behaviour shown", "Source"):
        assert part in text, f"{name}.yaml header lacks {part!r}"


@pytest.mark.parametrize("name", NEW_TOPOLOGIES)
def test_validates_and_solves_or_needs_simulation(name):
    model = load(name)
    if model.network.behaviours:  # layered, the family that models them, says why not
        with pytest.raises(UnsupportedError, match="^auto: layered: "):
            solved(name)
        return _simulates(model, name)
    result = solved(name)
    mean = result.system.mean_response_time
    if mean is not None:
        assert result.stable and math.isfinite(mean) and mean > 0
        return
    assert any("needs simulation" in note for note in result.notes), result.notes
    _simulates(model, name)


def _simulates(model, name: str) -> None:
    sim = simulate(model.with_changes(SMALL.get(name, {})), replications=2, seed=1,
                   **SIM_OPTIONS.get(name, {"customers": 400}))
    assert sim.system.throughput > 0
    assert sim.system.mean_response_time > 0
