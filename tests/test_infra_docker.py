"""deploy/docker/Dockerfile: the image of the GitOps controller chart (no Docker daemon needed here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()


def test_image_copies_every_package_folder_of_the_wheel():
    """A new stage folder added to pyproject's package-dir must reach the image too."""
    package_dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    folders = {d.split("/")[0] for d in package_dirs.values()}
    copied = set(re.findall(r"^COPY (\S+) \1$", DOCKERFILE, flags=re.M))
    assert folders <= copied, folders - copied
    for name in copied | {"pyproject.toml", "README.md"}:
        assert (ROOT / name).exists(), name


def test_image_user_and_version_match_the_chart():
    chart = ROOT / "deploy" / "helm" / "pipeform-sync"
    template = (chart / "templates" / "deployment.yaml").read_text()
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, flags=re.M)
    assert user and f"runAsUser: {user.group(1)}" in template and f"runAsGroup: {user.group(2)}" in template
    values = yaml.safe_load((chart / "values.yaml").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"] == version
    assert f"{values['image']['repository']}:{version}" in DOCKERFILE
    assert "install -y --no-install-recommends git" in DOCKERFILE  # `pipeform sync` runs git
