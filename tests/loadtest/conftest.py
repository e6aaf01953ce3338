"""Fixtures for the load tests: every server is started here and stopped after its test.

``redis-server`` missing: the Redis tests fail when the environment variable CI is set,
and are skipped otherwise. ``@pytest.mark.loadtest_full`` tests (the full validation set)
run only when asked: ``-m loadtest_full`` or QMODEL_LOADTEST_FULL=1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from loadtest.redis_server import RedisServer
from loadtest.refsys.supervisor import RefSystem

ROOT = Path(__file__).resolve().parents[2]
# data/ holds locustfiles run by real locust processes; importing one (doctest collection)
# would monkey-patch this process with gevent, which breaks pytest-xdist's workers
collect_ignore_glob = ["data/*"]
TOPOLOGIES = ROOT / "topologies"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "loadtest_full: the full validation set (opt-in)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = "loadtest_full" in (config.getoption("-m") or "") or \
        os.environ.get("QMODEL_LOADTEST_FULL") == "1"
    if wanted:
        return
    skip = pytest.mark.skip(reason="opt-in: -m loadtest_full or QMODEL_LOADTEST_FULL=1")
    for item in items:
        if "loadtest_full" in item.keywords:
            item.add_marker(skip)


def require_redis() -> None:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (scripts/setup.sh --system installs it)")
        pytest.skip("redis-server is not installed")


@pytest.fixture
def redis_server():
    require_redis()
    with RedisServer() as server:
        yield server


@pytest.fixture
def refsys(tmp_path):
    """Start reference systems: ``refsys(model, backend=...)``; all stopped after."""
    started: list[RefSystem] = []

    def start(model: str | Path, **kwargs) -> RefSystem:
        if kwargs.get("backend") == "redis":
            require_redis()
        system = RefSystem(str(model), run_dir=tmp_path / f"run{len(started)}", **kwargs)
        started.append(system)
        return system.start()

    yield start
    for system in started:
        system.stop()


def write_model(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path
