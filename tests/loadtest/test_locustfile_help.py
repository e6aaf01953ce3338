"""The locustfile's own options are listed by ``python -m loadtest.locustfile --help``:
``locust --help`` prints before it loads a locustfile (locust issue #2917)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_custom_options_have_a_help_of_their_own():
    out = subprocess.run([sys.executable, "-m", "loadtest.locustfile", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: locust -f loadtest/locustfile.py")
    for option in ("--arrival-rate", "--mode {open,closed}", "--requests-file",
                   "--client-file", "--profile-file", "--max-error-rate"):
        assert option in out.stdout, option
