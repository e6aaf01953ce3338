"""The opt-in full set outside the load tests: ``@pytest.mark.full`` tests (long
simulations behind a figure the docs quote) run only when asked, with ``-m full`` or
QMODEL_FULL=1; each feature they cover keeps a short default test. (``slow`` alone is a
label: those tests run in the default suite.)"""

from __future__ import annotations

import os
import re

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "full: the opt-in full set (long simulations)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = re.search(r"\bfull\b", config.getoption("-m") or "")  # not loadtest_full
    if asked or os.environ.get("QMODEL_FULL") == "1":
        return
    skip = pytest.mark.skip(reason="opt-in: -m full or QMODEL_FULL=1")
    for item in items:
        if "full" in item.keywords:
            item.add_marker(skip)
