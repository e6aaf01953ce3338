"""``qmodel simulate`` of a model with clients, held threads, pools and patience: the
tables show what the clients saw, the pools and the abandonment; the JSON has them too
and still validates against the documented schema."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qmodel.cli.main import app
from tests.test_results_schema import validate

MODEL = """
name: shop
nodes:
  app:
    kind: queue
    servers: 8
    service: 2ms
    patience: 50ms
    calls: [{to: db, pool: conn, timeout: 40ms}]
  db: {kind: queue, servers: 2, service: 4ms}
pools:
  conn: {size: 3}
arrivals:
  web: {to: app, rate: 150/s, timeout: 100ms, retries: {max: 2, backoff: {base: 5ms}}}
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("shop") / "shop.yaml"
    path.write_text(MODEL)
    return str(path)


def run(*args: str):
    return CliRunner().invoke(app, ["simulate", *args, "--replications", "2",
                                    "--customers", "2000", "--seed", "3"])


def test_the_tables_show_clients_pools_and_abandonment(model):
    result = run(model)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for title in ("clients (per class", "pools (wait in", "abandonment, balking and calls"):
        assert title in text
    for column in ("amplification", "goodput", "wasted work", "p99.9 R", "P(abandon)"):
        assert column in text


def test_the_json_has_the_new_fields_and_matches_the_schema(model):
    result = run(model, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    validate(doc)
    client = doc["classes"]["web"]["client"]
    assert client["retry_amplification"]["value"] >= 1
    assert client["offered_rate"]["value"] == pytest.approx(150, rel=0.1)
    assert set(doc["pools"]) == {"conn"} and 0 < doc["pools"]["conn"]["utilization"]["value"] < 1
    assert "p_abandon" in doc["nodes"]["app"] and "p_abandon" not in doc["nodes"]["db"]
    assert doc["nodes"]["app"]["call_amplification"]["value"] >= 1
