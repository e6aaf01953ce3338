"""One simpy replication kept open, for tests that count what happened to each job."""

from __future__ import annotations

from qmodel import Model
from qmodel.model.network import Network
from qmodel.sim.distributed import ReplicationTask, make_runner
from qmodel.sim.engine import Engine
from qmodel.sim.streams import replication_seeds


def one_run(model: Model | Network, *, seed: int = 1, customers: int | None = None,
            horizon: float | None = None, warmup: float | None = None) -> Engine:
    """Run one replication on the simpy engine and return the engine (its stations keep
    their counters: ``completions``, ``losses``, ``area_busy``...)."""
    network = model.network if isinstance(model, Model) else model
    seq = replication_seeds(seed, 1)[1][0]
    engine = make_runner(ReplicationTask(network, seq, False, customers, horizon, warmup))
    engine.run()
    return engine


def completions(engine: Engine) -> dict[str, int]:
    """Completed visits per station."""
    return {s.name: s.completions for s in engine.stations}
