"""``validate --soak`` refuses bad options and models before it starts anything."""

from __future__ import annotations

import pytest

from loadtest.soak import validate_soak

from .conftest import write_model

ONE_QUEUE = "nodes:\n  app: {kind: queue, service: 10ms}\narrivals:\n  web: {to: app, rate: 50/s}\n"


@pytest.mark.parametrize("options, says", [
    ({"duration": "nan"}, "--soak: "),
    ({"duration": "1e400min"}, "--soak: "),
    ({"duration": "-5s"}, "--soak: "),
    ({"duration": "25h"}, "--soak: must be a positive duration up to 24h"),
    ({"load": float("nan")}, "--load: the bottleneck's utilization"),
    ({"load": float("inf")}, "--load: the bottleneck's utilization"),
    ({"load": 0.0}, "--load: the bottleneck's utilization"),
    ({"bins": "1h"}, "--bins: must be positive and give at least 4 bins"),
    ({"bins": "soon"}, "--bins: "),
])
def test_bad_options_are_refused_by_name(tmp_path, options, says):
    kwargs = {"duration": "60s", "load": 0.5, "bins": "5s", **options}
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        validate_soak(write_model(tmp_path, "m", ONE_QUEUE), kwargs.pop("duration"), **kwargs)


def test_a_model_without_a_steady_open_load_is_refused(tmp_path):
    spike = ONE_QUEUE.replace("rate: 50/s", "rate: {profile: spike, base: 10/s, peak: 20/s, "
                                            "at: 5s, duration: 5s, length: 20s}")
    with pytest.raises(ValueError, match="needs open classes at constant rates"):
        validate_soak(write_model(tmp_path, "spike", spike), "60s")
