"""Modules stay small: one over about 500 lines says at its top why it is one module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 520  # "about 500"


def test_a_long_module_says_why_it_is_one():
    unexplained = []
    for package in ("qmodel", "qmodel_ui", "loadtest"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            if text.count("\n") <= LIMIT:
                continue
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "why one module" not in doc.lower():
                unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert unexplained == [], "split these, or say at the top why each is one module"
