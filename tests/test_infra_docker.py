"""deploy/docker/Dockerfile: the image of the GitOps CronJob (no Docker daemon needed here)."""

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


def test_image_user_matches_the_cronjob_security_context():
    cronjob = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "cronjob.yaml").read_text())
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, flags=re.M)
    assert user and int(user.group(1)) == pod["securityContext"]["runAsUser"]
    assert int(user.group(2)) == pod["securityContext"]["runAsGroup"]
    image = pod["containers"][0]["image"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert image.endswith(f":{version}") and image in DOCKERFILE
