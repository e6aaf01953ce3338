"""Projects: save the current model with its latest results in one file, open a saved
project (its model becomes the current one), compare two saved scenarios."""

from __future__ import annotations

import streamlit as st

from qmodel.project import SUFFIX, Project, ProjectError, compare_projects, project_bytes, summary
from qmodel_ui import projects, state, views

st.title("Projects")
st.caption(f"A project file ({SUFFIX}) holds the model as typed and the results saved with "
           "it; `qmodel project show` and `qmodel project diff` read it too.")

st.subheader("Save")
cur = state.current()
if cur.model is None:
    views.show_problems(cur.problems)
else:
    results = projects.latest_results(cur)
    kept = ", ".join(results) if results else "no results"
    st.write(f"**{views.plain(cur.name)}**: the model and {kept} (a simulation, What-if "
             "sweep or validation of this model is added once it has finished).")
    st.download_button("Save project", project_bytes(cur.text, results, cur.name),
                       f"{cur.name}{SUFFIX}", "application/zip", on_click="ignore",
                       key="project-save")

st.subheader("Open")
st.file_uploader(f"Open a project ({SUFFIX})", type=["zip"], key="project_open",
                 on_change=projects.open_upload)
opened = st.session_state.get(projects.OPENED)
if opened is not None:
    name, project = opened
    if isinstance(project, Project):
        st.success(f"Opened **{views.plain(project.name)}** (saved {views.plain(project.created)} "
                   f"by qmodel {views.plain(project.qmodel_version)}): it is now the current "
                   "model.")
        st.caption(f"members: {', '.join(project.members)}")
        for kind in ("solve", "simulate"):
            doc = getattr(project, kind)
            if doc is not None:
                st.markdown(f"Saved **{kind}** result")
                st.dataframe(summary(doc), width="stretch", hide_index=True,
                             key=f"opened-{kind}")
        if project.sweep is not None:
            st.markdown("Saved **sweep**")
            st.dataframe(project.sweep, width="stretch", key="opened-sweep")
    else:
        st.error(f"**Cannot open {views.plain(name)}:** {views.plain(project)}")

st.subheader("Compare two projects")
left, right = st.columns(2)
uploads = (left.file_uploader("Project A", type=["zip"], key="project_a"),
           right.file_uploader("Project B", type=["zip"], key="project_b"))
if None in uploads:
    st.caption("Upload two projects to see the model fields that differ and B's key "
               "metrics beside A's.")
    st.stop()
pair = [projects.read(upload) for upload in uploads]
for label, upload, project in zip("AB", uploads, pair, strict=True):
    if not isinstance(project, Project):
        st.error(f"**Cannot read {label} ({views.plain(upload.name)}):** {views.plain(project)}")
if not all(isinstance(p, Project) for p in pair):
    st.stop()
try:
    diff = compare_projects(*pair)
except ProjectError as exc:
    st.error(f"**Cannot compare:** {views.plain(str(exc))}")
    st.stop()
st.markdown(f"**Model:** {len(diff.model)} fields differ")
st.dataframe(diff.model, width="stretch", hide_index=True, key="diff-model")
st.markdown(f"**{diff.result} results** (times in {diff.time_unit}, rates per second)")
st.dataframe(projects.metrics_view(diff), width="stretch", hide_index=True, key="diff-metrics")
