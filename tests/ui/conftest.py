"""Fixtures for the dashboard: AppTest (no browser) and a real Streamlit server + Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--disable-dev-shm-usage"]
STREAMLIT_FLAGS = ["--server.address", "127.0.0.1", "--server.headless", "true",
                   "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
                   "--client.showErrorLinks", "false", "--server.fileWatcherType", "none"]
PAGES = {"model": "qmodel_ui/pages/model.py", "solve": "qmodel_ui/pages/solve.py",
         "whatif": "qmodel_ui/pages/whatif.py", "sensitivity": "qmodel_ui/pages/sensitivity.py",
         "plan": "qmodel_ui/pages/plan.py", "validate": "qmodel_ui/pages/validate.py",
         "compare": "qmodel_ui/pages/compare.py", "calibrate": "qmodel_ui/pages/calibrate.py",
         "metastability": "qmodel_ui/pages/metastability.py",
         "timeseries": "qmodel_ui/pages/timeseries.py",
         "projects": "qmodel_ui/pages/projects.py"}


@pytest.fixture(autouse=True)
def main_module_kept() -> Iterator[None]:
    """AppTest leaves ``sys.modules["__main__"]`` set to the app's script; a later test in
    the same process that spawns a process (a Dask worker, a process pool) would then run
    app.py as that process's main. Put the real one back after every test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def app() -> AppTest:
    """The dashboard on its default page, with empty caches (they are per process)."""
    st.cache_data.clear()
    return AppTest.from_file(str(APP), default_timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run app.py`` on a free loopback port; its URL. Stopped after the tests."""
    port = free_port()
    log = (tmp_path_factory.mktemp("streamlit") / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP),
                             "--server.port", str(port), *STREAMLIT_FLAGS],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start; log in {log.name}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Debian Chromium driven by Playwright; skipped without it, unless in CI."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (scripts/setup.sh --system installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh browser tab (a fresh Streamlit session)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    yield tab
    context.close()
