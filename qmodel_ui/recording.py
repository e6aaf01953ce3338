"""Job records for the Solve page, in a worker process (:mod:`qmodel_ui.jobs`): one
replication with every visit recorded. No streamlit here."""

from __future__ import annotations

import qmodel

from .work import Progress, model

RECORD_JOBS = 20_000
"""The most jobs whose visits the Solve page records (one replication)."""


def job_records(text: str, seed: int, customers: int, *, progress: Progress) -> dict:
    """One replication of ``customers`` jobs of the model ``text`` with every visit
    recorded (``qmodel.simulate(..., trace=True)``, the simpy engine): ``visits`` (one row
    per visit), ``jobs`` (:func:`qmodel.sim.trace.per_job`, slowest first) and ``notes``.
    A model of batches runs them to the end; more than :data:`RECORD_JOBS` batch jobs
    are refused."""
    from qmodel.sim.trace import per_job

    m = model(text)
    network = m.network
    batch_only = len(network.batch_classes) == len(network.classes)
    if batch_only:
        size = sum(c.size * c.count for c in network.batch_classes)
        if size > RECORD_JOBS:
            raise qmodel.QModelError(f"the batches hold {size:,} jobs; job records are "
                                     f"kept for at most {RECORD_JOBS:,}")
    run = qmodel.simulate(m, replications=1, seed=seed, trace=True, progress=progress,
                          customers=None if batch_only else min(customers, RECORD_JOBS))
    return {"visits": run.trace, "jobs": per_job(run.trace), "notes": run.notes}
