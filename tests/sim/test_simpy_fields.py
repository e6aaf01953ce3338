"""The engine's fast getters read what simpy's public API says (guards a simpy upgrade)."""

from __future__ import annotations

import simpy

from qmodel.sim.simpy_fields import event_value, sim_time


def test_getters_agree_with_the_public_api():
    env = simpy.Environment(initial_time=2.5)
    seen = []
    timeout = env.timeout(1.25, value=("job", 7))
    timeout.callbacks.append(lambda ev: seen.append((sim_time(env), env.now, event_value(ev),
                                                     ev.value)))
    assert sim_time(env) == env.now == 2.5
    env.run()
    assert seen == [(3.75, 3.75, ("job", 7), ("job", 7))]
