"""Fixtures shared by the experiment tests."""

from __future__ import annotations

import pytest

from qmodel import Model, load

from .models import shop as _shop


@pytest.fixture
def web() -> Model:
    """topologies/web_service.yaml: gateway (2) -> app (8) -> 80% to 4 db shards; ms units."""
    return load("topologies/web_service.yaml")


@pytest.fixture
def shop() -> Model:
    return _shop()
