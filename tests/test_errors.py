"""Errors survive pickling (process pools, Dask workers) with their fields."""

from __future__ import annotations

import pickle

from qmodel.errors import ModelError, Problem, UnstableError, UnsupportedError


def test_errors_pickle_round_trip():
    model = pickle.loads(pickle.dumps(ModelError([Problem("nodes.a.servers", "bad")])))
    assert model.problems == [Problem("nodes.a.servers", "bad")] and str(model) == "nodes.a.servers: bad"
    unstable = pickle.loads(pickle.dumps(UnstableError(1.2, "app", "detail")))
    assert (unstable.utilization, unstable.component, str(unstable)) == \
        (1.2, "app", "app: unstable, utilization 1.2 >= 1 (detail)")
    unsupported = pickle.loads(pickle.dumps(UnsupportedError("mva", "why")))
    assert (unsupported.solver, unsupported.reason) == ("mva", "why")
