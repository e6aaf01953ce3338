"""The Model page's JMT part: ``.jsimg``/``.jmva`` uploads read into the model (with the
mapping report shown) and the current model offered as ``.jsimg``/``.jmva`` downloads."""

from __future__ import annotations

import streamlit as st

import qmodel
from qmodel.io import SUFFIXES, from_jmt_bytes, to_jmt_bytes

REPORT = "jmt_report"
UPLOAD_TYPES = [s.lstrip(".") for s in SUFFIXES]


def is_jmt(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def read_upload(name: str, data: bytes) -> str | None:
    """The YAML of an uploaded JMT file (its report kept for :func:`show_report`), or
    None when it cannot be read (the error kept instead)."""
    try:
        model, report = from_jmt_bytes(data, name)
    except qmodel.QModelError as exc:
        st.session_state[REPORT] = (name, None, str(exc))
        return None
    st.session_state[REPORT] = (name, report.lines(), report.summary())
    return model.to_yaml()


def show_report() -> None:
    """What the last JMT upload mapped, approximated and refused (or why it failed)."""
    if REPORT not in st.session_state:
        return
    name, lines, summary = st.session_state[REPORT]
    if lines is None:
        st.error(f"{name} could not be read: {summary}")
        return
    with st.expander(f"Imported from JMT: {summary}", expanded=False):
        st.code("\n".join(lines), language=None)


def downloads(model: qmodel.Model, name: str) -> None:
    """Download buttons for the model as JMT files; a format the model does not fit in
    says why instead."""
    columns = st.columns(2)
    for column, fmt in zip(columns, ("jsimg", "jmva")):
        with column:
            try:
                data, report = to_jmt_bytes(model, fmt, name)  # type: ignore[arg-type]
            except qmodel.QModelError as exc:
                st.caption(f"No .{fmt}: {exc}")
                continue
            st.download_button(f"Download .{fmt} (JMT)", data, f"{name}.{fmt}",
                               mime="application/xml", key=f"jmt-{fmt}",
                               help=report.summary())
