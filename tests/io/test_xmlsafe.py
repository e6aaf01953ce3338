"""Malformed or hostile XML: a clear QModelError, fast, without expanding anything."""

from __future__ import annotations

import time

import pytest

from qmodel.errors import QModelError
from qmodel.io import from_jmt_bytes, read_jmt, xmlsafe

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<sim name="x">&lol9;</sim>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE sim [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><sim name="&xxe;"/>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "xxe"])
def test_entities_are_refused_fast(data):
    start = time.perf_counter()
    with pytest.raises(QModelError, match="DTD"):
        from_jmt_bytes(data, "evil.jsimg")
    assert time.perf_counter() - start < 1.0


def test_deep_nesting_is_refused():
    data = b"<sim>" + b"<a>" * 200 + b"</a>" * 200 + b"</sim>"
    with pytest.raises(QModelError, match="nest deeper than 64"):
        from_jmt_bytes(data)


def test_huge_files_are_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(xmlsafe, "MAX_BYTES", 1000)
    path = tmp_path / "big.jsimg"
    path.write_bytes(b"<sim>" + b" " * 2000 + b"</sim>")
    with pytest.raises(QModelError, match="larger than the 1,000 bytes read"):
        read_jmt(path)


@pytest.mark.parametrize("data, message", [
    (b"<sim><node>", "not well-formed XML"),
    (b"<html/>", "root element is <html>"),
    (b"<sim name='x'/>", "no userClass"),
    (b"<model><parameters/></model>", "needs <parameters> with <classes>"),
])
def test_malformed_files_say_what_is_wrong(data, message):
    with pytest.raises(QModelError, match=message):
        from_jmt_bytes(data)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(QModelError, match="cannot read"):
        read_jmt(tmp_path / "nope.jsimg")


def test_a_million_deep_document_stops_early_and_fast():
    data = b"<sim>" + b"<a>" * 1_000_000 + b"</a>" * 1_000_000 + b"</sim>"
    start = time.perf_counter()
    with pytest.raises(QModelError, match="nest deeper"):
        from_jmt_bytes(data)
    assert time.perf_counter() - start < 1.0


def test_too_many_elements_are_refused(monkeypatch):
    monkeypatch.setattr(xmlsafe, "MAX_ELEMENTS", 50)
    with pytest.raises(QModelError, match="more than 50 elements"):
        from_jmt_bytes(b"<sim>" + b"<a/>" * 60 + b"</sim>")
