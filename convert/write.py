"""Converted documents -> YAML files in the output folder, formatted as `pipeform fmt` formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeform.spec.fmt import format_text

from .core import Conversion
from .templates import SECRET_LIKE

FILES = {
    "Project": "project.yaml",
    "Environment": "environments.yaml",
    "Deployment": "deployments.yaml",
    "Automation": "automations.yaml",
    "Block": "blocks.yaml",
}
HEADER = "# Converted by `pipeform convert` from:\n#   {sources}\n# Review, then `pipeform apply --adopt`.\n"


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no type information
    """The layout `pipeform fmt` gives (2-space mappings, sequences indented under their key,
    120 columns), written directly: a ruamel round trip costs about 1 s on 57 deployments.
    tests/test_convert.py checks that `fmt` leaves every converted file unchanged."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # shared values (YAML anchors in prefect.yaml) are written out in full


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) and "\r" not in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(type(None), lambda d, _: d.represent_scalar("tag:yaml.org,2002:null", ""))  # as fmt writes null


def render(docs: list[dict[str, Any]], sources: str) -> str:
    parts = []
    for d in docs:
        text = yaml.dump(d, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100_000, indent=2)
        # ruamel folds long plain scalars at other points than PyYAML: let `fmt` itself lay those out
        parts.append(format_text(text) if any(len(line) > 120 for line in text.splitlines()) else text)
    return HEADER.format(sources=sources) + "---\n".join(parts)


def project_document(conv: Conversion) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if conv.deployment_defaults:
        spec["defaults"] = {"deployment": conv.deployment_defaults}
    if conv.values:
        spec["values"] = dict(sorted(conv.values.items()))
    if conv.env_used:  # << env.X >> reads only declared variables
        spec["env"] = {
            name: {"description": f"read by prefect.yaml as {{{{ ${name} }}}}"}
            | ({"sensitive": True} if SECRET_LIKE.search(name) else {})
            for name in sorted(conv.env_used)
        }
    return {"apiVersion": "pipeform/v1", "kind": "Project", "metadata": {"name": conv.project}, "spec": spec}


def write(conv: Conversion, outdir: Path, sources: list[Path]) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    names = "\n#   ".join(str(s) for s in sources)
    docs = [project_document(conv), *conv.documents]
    written = []
    for kind, file in FILES.items():
        mine = [d for d in docs if d["kind"] == kind]
        if mine:
            (outdir / file).write_text(render(mine, names), encoding="utf-8")
            written.append(outdir / file)
    return written
