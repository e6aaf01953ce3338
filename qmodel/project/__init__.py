"""Projects: a model as typed with its saved results in one ``*.qmodel.zip`` file
(:mod:`.archive`), and two saved scenarios compared side by side (:mod:`.compare`).

The format and its limits are in docs/projects.md.
"""

from __future__ import annotations

from .archive import SUFFIX, Project, ProjectError, load_project, project_bytes, save_project
from .compare import ProjectDiff, compare_projects, model_diff, summary

__all__ = ["SUFFIX", "Project", "ProjectDiff", "ProjectError", "compare_projects",
           "load_project", "model_diff", "project_bytes", "save_project", "summary"]
