"""The README's Python examples run and print what it says, and its model sample is the
shipped file it names."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_readme_examples(monkeypatch):
    monkeypatch.chdir(ROOT)
    failures, tried = doctest.testfile(str(ROOT / "README.md"), module_relative=False,
                                       optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_the_yaml_sample_is_the_shipped_file_it_names():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"`(topologies/\w+\.yaml)`[^`]*?:\n\n```yaml\n(.*?)```", text, re.S)
    assert match, "the README's YAML sample does not name the file it shows"
    shipped = yaml.safe_load((ROOT / match[1]).read_text(encoding="utf-8"))
    assert yaml.safe_load(match[2]) == shipped
