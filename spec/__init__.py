"""The spec stage: YAML files -> validated, located Project. See README.md for its steps."""

from .api import load_project, load_project_or_raise, split_projects
from .diagnostics import Diagnostic, Origin, SpecError
from .project import Project

__all__ = ["Diagnostic", "Origin", "Project", "SpecError", "load_project", "load_project_or_raise", "split_projects"]
