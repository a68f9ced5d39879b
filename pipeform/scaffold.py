"""`pipeform init`: the files of a new project, as data (path -> text); the CLI writes them.

A Project (with a process work pool), one Flow and one Deployment under `pipelines/`, which
validate and apply as they are; the editor settings (VS Code + the YAML extension, mapped to
a copy of the JSON Schema); the GitHub workflow and the pre-commit config of the CI kit.
Templates live in `pipeform/templates/` (package data), `__NAME__` replaced by the project name.
"""

from __future__ import annotations

import re
from importlib.resources import files

NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,98}[a-z0-9])?$")  # spec/models/common.py NAME_PATTERN
# target path -> template file
LAYOUT = {
    "pipelines/project.yaml": "project.yaml",
    "pipelines/hello.yaml": "hello.yaml",
    ".vscode/settings.json": "vscode-settings.json",
    ".vscode/extensions.json": "vscode-extensions.json",
    ".github/workflows/pipeform.yml": "github-workflow.yml",
    ".pre-commit-config.yaml": "pre-commit-config.yaml",
    ".gitignore": "gitignore",
}
SCHEMA_COPY = ".vscode/pipeform-v1.schema.json"


def project_name(folder_name: str) -> str:
    """A valid project name from a folder name: lower case, other characters as '-'."""
    name = re.sub(r"[^a-z0-9._-]+", "-", folder_name.lower()).strip("-._")[:100].strip("-._")
    return name or "pipelines"


def scaffold(name: str) -> dict[str, str]:
    if not NAME.match(name):
        raise ValueError(f"{name!r} is not a valid project name (lower case letters, digits, '.', '_', '-')")
    templates = files("pipeform.templates")
    out = {
        target: templates.joinpath(source).read_text(encoding="utf-8").replace("__NAME__", name)
        for target, source in LAYOUT.items()
    }
    out[SCHEMA_COPY] = files("pipeform.schemas").joinpath("pipeform-v1.schema.json").read_text(encoding="utf-8")
    return out
