"""The Model page reads JMT uploads (showing the mapping report) and offers the model
as JMT downloads, without a browser."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from .conftest import ROOT
from .test_pages import healthy, open_page, settle

JMVA = ROOT / "tests" / "io" / "data" / "jmva" / "central_server.jmva"


def test_a_jmva_upload_becomes_the_model_with_its_report(app: AppTest) -> None:
    at = open_page(app, "model")
    at.file_uploader(key="upload").set_value([(JMVA.name, JMVA.read_bytes(),
                                               "application/xml")])
    at = settle(at.run())
    healthy(at)
    assert any(e.label.startswith("Imported from JMT:") and "5 mapped" in e.label
               for e in at.expander)
    at = at.toggle(key="yaml_plain").set_value(True).run()  # the code editor's plain twin
    assert "name: central_server" in at.text_area[0].value
    labels = [b.label for b in at.get("download_button")]
    assert "Download .jsimg (JMT)" in labels and "Download .jmva (JMT)" in labels


def test_a_broken_jmt_upload_says_why(app: AppTest) -> None:
    at = open_page(app, "model")
    at.file_uploader(key="upload").set_value([("bad.jsimg", b"<sim>", "application/xml")])
    at = settle(at.run())
    healthy(at)
    assert any("bad.jsimg could not be read" in e.value and "not well-formed" in e.value
               for e in at.error)
