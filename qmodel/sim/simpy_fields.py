"""simpy's clock and event values, read in one place.

The engine's hot paths (each arrival, service start and completion) read the simulated
time and the value of the event that fired. simpy's public ``Environment.now`` and
``Event.value`` are Python properties (``value`` also checks that the event was
triggered); at hundreds of thousands of calls per replication they cost about a third of
the engine's time on small models. These getters read the same fields
(``Environment._now`` and ``Event._value``, simpy 4) at C speed, and are the only place in
qmodel that touches simpy's private names: tests/sim/test_simpy_fields.py checks that they agree
with the public API, so a simpy release that renames the fields fails there, not as wrong
numbers.
"""

from __future__ import annotations

from operator import attrgetter

sim_time = attrgetter("_now")
"""``sim_time(env)``: ``env.now``."""

event_value = attrgetter("_value")
"""``event_value(event)``: ``event.value`` of a triggered event."""
