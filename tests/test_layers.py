"""Layers import one way: the library pulls in neither the dashboard nor locust."""

from __future__ import annotations

import subprocess
import sys


def test_import_qmodel_is_free_of_ui_and_load_tools():
    code = ("import sys, qmodel, qmodel.cli; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('streamlit', 'locust', 'gevent', 'loadtest', 'qmodel_ui')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
