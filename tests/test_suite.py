"""The suite's two sets (scripts/test.sh): the load tests run from the LOAD_TESTS paths
only, so a ``loadtest``-marked test anywhere else would run in neither set."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_load_test_is_where_the_script_runs_the_load_tests():
    script = (ROOT / "scripts" / "test.sh").read_text()
    paths = re.search(r"^LOAD_TESTS=\((.*)\)$", script, re.M).group(1).split()
    assert "tests/loadtest" in paths
    marked = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py")
              if re.search(r"mark\.loadtest\b", p.read_text()) and p != Path(__file__)}
    outside = sorted(m for m in marked
                     if not any(m == p or m.startswith(p + "/") for p in paths))
    assert outside == [], f"add these to LOAD_TESTS in scripts/test.sh: {outside}"
    assert all((ROOT / p).exists() for p in paths)
