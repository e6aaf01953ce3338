"""The result JSON (``qmodel solve --json``, ``qmodel simulate --json``) is pinned by the
JSON Schema in ``docs/results.md``: every shipped topology's output validates against it,
and every field the schema names is described in that page's prose."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import jsonschema
import pytest

import qmodel

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "results.md"
TOPOLOGIES = sorted((ROOT / "topologies").glob("*.yaml"))
MARKER = "<!-- result-schema -->"


@cache
def schema() -> dict:
    text = DOC.read_text()
    assert MARKER in text, f"{DOC} lost its schema block"
    block = re.search(r"```json\n(.*?)```", text[text.index(MARKER):], re.S)
    assert block, "no ```json block after the schema marker"
    out = json.loads(block.group(1))
    jsonschema.Draft202012Validator.check_schema(out)
    return out


def validate(document: dict) -> None:
    jsonschema.Draft202012Validator(schema()).validate(document)


def field_names(node: object) -> set[str]:
    """Every property name the schema declares, at any depth."""
    names: set[str] = set()
    if isinstance(node, dict):
        names.update(node.get("properties", {}))
        for value in node.values():
            names |= field_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= field_names(value)
    return names


def test_every_schema_field_is_described_in_the_prose():
    text = DOC.read_text()
    prose = text[:text.index(MARKER)]
    described = set(re.findall(r"`([a-z0-9_]+)`", prose)) | set(re.findall(r'"([a-z0-9_]+)":', prose))
    missing = sorted(field_names(schema()) - described)
    assert not missing, f"fields in the schema but not described in {DOC.name}: {missing}"


SIMULATION_ONLY = {"microservices_pooled_db"}  # pools: no analytic method models them


@pytest.mark.parametrize("path", [p for p in TOPOLOGIES if p.stem not in SIMULATION_ONLY],
                         ids=lambda p: p.stem)
def test_solve_output_matches_the_documented_schema(path):
    document = json.loads(qmodel.solve(qmodel.load(path)).to_json())
    validate(document)


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_simulate_output_matches_the_documented_schema(path):
    result = qmodel.simulate(qmodel.load(path), replications=2, customers=300, seed=3)
    document = json.loads(result.to_json())
    validate(document)
    assert {"replications", "seed", "warmup_s", "per_replication"} <= document.keys()


def test_unstable_output_matches_the_documented_schema():
    model = qmodel.Model.from_dict({"nodes": {"cpu": {"kind": "queue", "service": "10ms"}},
                                    "arrivals": {"jobs": {"to": "cpu", "rate": "150/s"}}})
    document = json.loads(qmodel.solve(model).to_json())
    validate(document)
    assert document["stable"] is False and document["unstable"][0]["node"] == "cpu"


def test_windowed_batcher_output_matches_the_documented_schema():
    model = qmodel.Model.from_dict({
        "nodes": {"b": {"kind": "batcher", "interval": "200ms", "window": "1s",
                        "slide": "400ms", "fixed": "10ms", "per_item": "1ms"}},
        "arrivals": {"a": {"to": "b", "rate": "50/s"}}})
    for result in (qmodel.solve(model),
                   qmodel.simulate(model, replications=2, customers=300, seed=3)):
        document = json.loads(result.to_json())
        validate(document)
        assert document["nodes"]["b"]["batches_per_window"]["value"] == 5
        assert document["nodes"]["b"]["window_response"]["value"] > 0.6


@pytest.mark.parametrize("mutate", [
    lambda d: d.__setitem__("surprise", 1),
    lambda d: d["system"].__setitem__("p999_response_time", None),
    lambda d: d["nodes"]["cpu"].pop("utilization"),
    lambda d: d["nodes"]["cpu"]["utilization"].__setitem__("value", "high"),
], ids=["new top-level field", "new system field", "missing node field", "wrong type"])
def test_the_schema_rejects_undocumented_changes(mutate):
    model = qmodel.Model.from_dict({"nodes": {"cpu": {"kind": "queue", "service": "10ms"}},
                                    "arrivals": {"jobs": {"to": "cpu", "rate": "50/s"}}})
    document = json.loads(qmodel.solve(model).to_json())
    validate(document)
    mutate(document)
    with pytest.raises(jsonschema.ValidationError):
        validate(document)
