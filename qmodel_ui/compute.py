"""Cached calls into qmodel keyed on the model's YAML text; they return plain data."""

from __future__ import annotations

import streamlit as st

import qmodel

from . import state


@st.cache_data(show_spinner=False, max_entries=512)
def solve(text: str, method: str = "auto") -> dict:
    """``qmodel.solve`` as ``Result.to_dict()`` (raises :class:`qmodel.QModelError`)."""
    return qmodel.solve(state.parse(text), method).to_dict()
