"""Load shapes for the seed lecture's test types, as a rate multiplier over a bounded
duration (the open-loop dispatcher multiplies its target rate by it).

- ``constant``: the target rate throughout.
- ``step``: five equal steps 20%, 40% … 100% of the rate (scalability ramp).
- ``soak``: the target rate held for a long, bounded run (pass a long ``--run-time``).
- ``spike``: the rate, with 3x the rate for the middle tenth of the run.
- ``stress``: a linear ramp from 50% to 200% of the rate, past the system's capacity.
"""

from __future__ import annotations

SHAPES = ("constant", "step", "soak", "spike", "stress")


def rate_factor(shape: str, elapsed_s: float, duration_s: float) -> float:
    """The multiplier of the target rate ``elapsed_s`` into a run of ``duration_s``."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    x = min(max(elapsed_s / duration_s, 0.0), 1.0) if duration_s > 0 else 0.0
    if shape == "step":
        return min(int(x * 5) + 1, 5) / 5
    if shape == "spike":
        return 3.0 if 0.45 <= x < 0.55 else 1.0
    if shape == "stress":
        return 0.5 + 1.5 * x
    return 1.0
