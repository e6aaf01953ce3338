"""The qmodel dashboard: ``streamlit run app.py`` (or ``scripts/dashboard.sh``)."""

from __future__ import annotations

import logging

import streamlit as st

from qmodel_ui import jobs, views

# An emoji favicon (a Material icon would be fetched from a font server); the navigation
# has no icons, so nothing depends on the machine's emoji font.
st.set_page_config(page_title="qmodel", page_icon="📈", layout="wide")

page = st.navigation([
    st.Page("qmodel_ui/pages/model.py", title="Model", default=True),
    st.Page("qmodel_ui/pages/solve.py", title="Solve"),
    st.Page("qmodel_ui/pages/whatif.py", title="What-if"),
    st.Page("qmodel_ui/pages/timeseries.py", title="Load over time"),
    st.Page("qmodel_ui/pages/sensitivity.py", title="Sensitivity"),
    st.Page("qmodel_ui/pages/plan.py", title="Capacity plan"),
    st.Page("qmodel_ui/pages/metastability.py", title="Metastability"),
    st.Page("qmodel_ui/pages/validate.py", title="Validate"),
    st.Page("qmodel_ui/pages/compare.py", title="Compare"),
    st.Page("qmodel_ui/pages/calibrate.py", title="Calibrate"),
    st.Page("qmodel_ui/pages/projects.py", title="Projects"),
])
jobs.warm_up()
views.sidebar()
try:
    page.run()
except Exception as exc:  # the last line of defence: a message, never a traceback
    logging.getLogger("qmodel_ui").exception("page %s failed", page.title)
    st.error(f"**Internal error:** {type(exc).__name__}: {exc}. This is a bug in the "
             "dashboard; the traceback is in the server's log.")
