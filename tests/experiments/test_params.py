"""Parameter paths: the catalogue, closest-path suggestions, writing values with units."""

from __future__ import annotations

import math

import pytest

from qmodel import ModelError
from qmodel.experiments.params import apply, catalogue, resolve

from .models import mm1


def test_catalogue_lists_every_numeric_field(web):
    params = catalogue(web)
    for path in ("nodes.app.servers", "nodes.db.shards", "nodes.db.servers",
                 "nodes.app.service", "nodes.app.service.mean", "nodes.app.service.cv",
                 "arrivals.web.rate", "nodes.app.next.db", "nodes.gateway.capacity"):
        assert path in params, path
    assert params["nodes.db.shards"].value == 4
    assert params["arrivals.web.rate"].value == 200.0          # per second, not per ms
    assert params["nodes.app.service"].value == pytest.approx(0.025)
    assert params["nodes.gateway.capacity"].value is None      # unset, still variable


@pytest.mark.parametrize(("typo", "closest"), [
    ("nodes.app.srevers", "nodes.app.servers"),
    ("nodes.db.shard", "nodes.db.shards"),
    ("arrivals.web.rates", "arrivals.web.rate"),
])
def test_unknown_path_names_the_closest_valid_path(web, typo, closest):
    with pytest.raises(ModelError) as info:
        resolve(web, [typo])
    assert info.value.problems[0].path == typo
    assert f"did you mean {closest}?" in str(info.value)


def test_values_are_written_with_units_in_an_ms_model(web):
    changed = apply(web, {"arrivals.web.rate": 250.0, "nodes.app.service": 0.02,
                          "nodes.db.shards": 6})
    doc = changed.to_dict()
    assert doc["arrivals"]["web"]["rate"] == "250.0/s"          # not 250 per ms
    assert doc["nodes"]["app"]["service"] == {"dist": "exponential", "mean": "0.02s"}
    assert changed.network.classes[0].rate == 250.0
    assert len(changed.network.stations) == 2 + 6


def test_distribution_mean_and_cv_keep_each_other():
    m = mm1(service="10ms")
    changed = apply(m, {"nodes.cpu.service.mean": 0.004, "nodes.cpu.service.cv": 2.0})
    dist = changed.network.station("cpu").service["jobs"]
    assert dist.mean == pytest.approx(0.004) and math.sqrt(dist.scv) == pytest.approx(2.0)


def test_routing_probability_from_a_single_next(web):
    changed = apply(web, {"nodes.gateway.next.app": 0.5})
    assert changed.to_dict()["nodes"]["gateway"]["next"] == {"app": 0.5}


def test_invalid_value_fails_validation_with_its_path():
    with pytest.raises(ModelError, match=r"nodes\.cpu\.servers: must be a whole number"):
        apply(mm1(), {"nodes.cpu.servers": 2.5})
