"""Only a missing third-party package makes an optional part absent; real errors surface."""

from __future__ import annotations

import pytest

from qmodel_ui.optional import missing_package


@pytest.fixture
def modules(tmp_path, monkeypatch):
    (tmp_path / "needs_absent.py").write_text("import no_such_package_q11.sub\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('a bug at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_missing_third_party_package_means_absent(modules):
    assert missing_package("needs_absent") == "no_such_package_q11"
    assert missing_package("qmodel.sim") is None


def test_real_import_errors_propagate(modules):
    with pytest.raises(RuntimeError, match="a bug at import"):
        missing_package("broken")
    with pytest.raises(ModuleNotFoundError, match="qmodel.no_such_module"):
        missing_package("qmodel.no_such_module")
