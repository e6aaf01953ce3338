"""Sizing a sharded component from its batches (BRKSS): the clusters, the shares, the
admission group and the rounds derived from m, c and d, and refused by field path when
they do not fit."""

from __future__ import annotations

import pytest

import qmodel
from qmodel.errors import ModelError
from qmodel.model.sizing import sizing_notes

from ..topologies.helpers import load


def model(size: int = 1200, **fields) -> qmodel.Model:
    node = {"kind": "shards", "shards": 12, "routing": "round_robin", "service": "1ms",
            "on_full": "block", **fields}
    return qmodel.Model.from_dict({"batches": {"b": {"to": "db", "size": size}},
                                   "nodes": {"db": node}})


def test_the_brkss_worked_example_is_derived_from_m_c_and_d():
    """m = 180,000 over c = 3 clusters of d = 4: 60,000 per cluster, 15,000 per node,
    admitted max_n/10 = 1,500 at a time in 10 rounds; push migration within clusters."""
    net = load("brkss_warehouse").network
    (sized,) = net.sizing
    assert (sized.component, sized.shards, sized.clusters, sized.admitted, sized.rounds) == \
        ("nodes", 12, 3, 1_500, 10)
    assert (sized.jobs, sized.cluster_share, sized.shard_share) == \
        pytest.approx((180_000, 60_000, 15_000), rel=1e-12)
    assert {net.station(f"nodes-{i}").capacity for i in range(12)} == {1_500}
    assert net.routers["nodes"].rebalance.groups == 3
    assert sizing_notes(net) == ["nodes: 180,000 batch jobs over 3 clusters of 4 shards: "
                                 "60,000 per cluster, 15,000 per shard, admitted 1,500 at a "
                                 "time in 10 rounds"]
    assert sizing_notes(net)[0] in qmodel.solve(net).notes


def test_rounds_round_the_group_up_and_weights_size_the_busiest_shard():
    net = model(1000, admission_rounds=7).network           # 83.3 per shard / 7
    assert net.station("db-0").capacity == 12
    weighted = model(1000, shards=4, routing="hash", weights=[2, 1, 1, 0],
                     admission_rounds=10).network
    assert weighted.sizing[0].shard_share == pytest.approx(500, rel=1e-12)
    assert weighted.station("db-3").capacity == 50
    plain = model(1000, clusters=4).network                 # clusters alone: no capacity
    assert plain.station("db-0").capacity is None
    assert plain.sizing[0].cluster_share == pytest.approx(250, rel=1e-12)


def test_clusters_are_the_migration_groups_unless_given():
    net = model(clusters=3, rebalance="100ms").network
    assert net.routers["db"].rebalance.groups == 3
    same = model(clusters=3, rebalance={"period": "100ms", "groups": 3}).network
    assert same.routers["db"].rebalance.groups == 3


@pytest.mark.parametrize("fields, path, words", [
    ({"clusters": 5}, "nodes.db.clusters", "must divide the 12 shards"),
    ({"clusters": 3, "rebalance": {"period": "1s", "groups": 2}}, "nodes.db.rebalance.groups",
     "must equal clusters (3)"),
    ({"admission_rounds": 10, "capacity": 5}, "nodes.db.admission_rounds", "not both"),
    ({"admission_rounds": 10, "on_full": "reject"}, "nodes.db.admission_rounds",
     "needs on_full: block"),
])
def test_what_does_not_fit_is_refused_by_path(fields, path, words):
    with pytest.raises(ModelError) as caught:
        model(**fields)
    assert [p.path for p in caught.value.problems] == [path]
    assert words in str(caught.value)


def test_admission_without_batches_is_refused():
    with pytest.raises(ModelError, match="nodes.db.admission_rounds: no batch reaches"):
        qmodel.Model.from_dict({"arrivals": {"a": {"to": "db", "rate": 5}}, "nodes": {"db": {
            "kind": "shards", "shards": 2, "service": "1ms", "on_full": "block",
            "admission_rounds": 10}}})
