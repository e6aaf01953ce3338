"""Fixtures shared by the model tests."""

from __future__ import annotations

import pytest

from qmodel import Model, load


@pytest.fixture
def web() -> Model:
    """topologies/web_service.yaml: gateway (2) -> app (8) -> 80% to 4 db shards; ms units."""
    return load("topologies/web_service.yaml")
