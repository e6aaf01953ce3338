"""The Streamlit dashboard of qmodel (``streamlit run app.py``).

Pages live in ``qmodel_ui/pages``; they call :mod:`qmodel` (and :mod:`loadtest`) through the
helpers here and do not compute. ``import qmodel`` never imports this package.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "topologies"
