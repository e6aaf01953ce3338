"""Projects in the dashboard: the current model and its latest results as one project
file (:mod:`qmodel.project`), a project opened, two projects compared."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

import qmodel
from qmodel.project import Project, ProjectDiff, ProjectError, load_project

from . import compute, state

OPENED = "project_opened"
# Finished jobs whose value a project keeps: (kind, job slot, field of the job's value;
# None: the value itself, the What-if page's sweep table).
LATEST = (("simulate", "simulate", "result"), ("sweep", "whatif", None),
          ("validation", "validate-results", "report"),
          ("validation", "validate-service", "report"))


def latest_results(cur: state.Current) -> dict:
    """The current model's analytic result (when it has one) and the latest simulation,
    What-if sweep and validation of the same model text finished in this session."""
    results = {}
    try:
        results["solve"] = compute.solve(cur.text)
    except qmodel.QModelError:  # no analytic answer (it needs simulation): nothing to keep
        pass
    for kind, slot, key in LATEST:
        job = st.session_state.get(f"job:{slot}")
        if kind in results or job is None or job.status != "done" or cur.text not in job.args:
            continue
        value = job.value if key is None else \
            job.value.get(key) if isinstance(job.value, dict) else None
        if value is not None:
            results[kind] = value
    return results


def read(upload) -> Project | str:
    """An uploaded project, or the reason it cannot be read."""
    try:
        return load_project(upload.getvalue())
    except ProjectError as exc:
        return str(exc)


def open_upload() -> None:
    """The project uploader's callback: its model becomes the current one (the Model page
    shows it), and the project is kept to show its saved results."""
    upload = st.session_state.get("project_open")
    if upload is None:
        st.session_state.pop(OPENED, None)
        return
    project = read(upload)
    if isinstance(project, Project):
        state.use_text(project.model_text)
    st.session_state[OPENED] = (upload.name, project)


def _shown(v: float, percent: bool = False) -> str:
    if math.isnan(v):
        return "—"
    return f"{v:+.1%}" if percent else f"{v:.4g}"


def metrics_view(diff: ProjectDiff) -> pd.DataFrame:
    """The compared metrics as the screen shows them: four significant digits, the
    relative change in percent, a missing number as —."""
    table = diff.metrics
    return pd.DataFrame({"scope": table.scope, "metric": table.metric, "unit": table.unit,
                         "A": table.A.map(_shown), "B": table.B.map(_shown),
                         "B − A": table.difference.map(_shown),
                         "change": table.relative.map(lambda v: _shown(v, percent=True))})
