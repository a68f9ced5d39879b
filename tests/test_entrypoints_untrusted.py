"""Python entrypoints run no code in validate and plan (issue 13): confined to the project,
parameter schema read from source, execution only when allowed and said so."""

import json
import os
import uuid
from pathlib import Path

import pytest

from pipeform.spec import entrypoints, load_project


def specs(name: str, entrypoint: str) -> str:
    return (
        f"apiVersion: pipeform/v1\nkind: Project\nmetadata: {{name: {name}}}\nspec: {{}}\n---\n"
        f"apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  entrypoint: {entrypoint}\n"
    )


def evil(marker: Path, extra: str = "") -> str:
    return (
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n{extra}\n"
        "from prefect import flow\n\n\n@flow\ndef f(n: int = 1):\n    pass\n"
    )


@pytest.fixture
def project(tmp_path):
    name = f"ep{uuid.uuid4().hex[:8]}"
    folder = tmp_path / name
    folder.mkdir()
    return folder, name


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_outside_entrypoint_is_refused_and_never_runs(cli, project, tmp_path, how, prefect_api):
    folder, name = project
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = tmp_path / "pwned"
    (outside / "evil.py").write_text(evil(marker))
    entrypoint = {"dotdot": "../outside/evil.py:f", "absolute": f"{outside}/evil.py:f", "symlink": "link/evil.py:f"}[
        how
    ]
    if how == "symlink":
        (folder / "link").symlink_to(outside)
    (folder / "specs.yaml").write_text(specs(name, entrypoint))
    result = cli("validate", folder, "--output", "json")
    assert result.exit_code == 1
    [d] = json.loads(result.output)["diagnostics"]
    assert (d["code"], d["line"], d["column"]) == ("entrypoint.outside-project", 10, 15)
    planned = cli("plan", folder)
    assert planned.exit_code == 1 and "[entrypoint.outside-project]" in planned.output
    assert not marker.exists()


TOP_LEVEL_SIDE_EFFECT = """\
import pathlib
pathlib.Path(MARKER).write_text("ran")
from .models import Settings  # a local module: reading it would run it

from prefect import flow


@flow
def f(settings: Settings, n: int = 3, who: str = "world"):
    pass
"""


def test_plan_runs_no_code_of_an_in_project_entrypoint(cli, project, tmp_path, prefect_api, monkeypatch):
    folder, name = project
    marker = tmp_path / "ran"
    (folder / "flows.py").write_text(TOP_LEVEL_SIDE_EFFECT.replace("MARKER", repr(str(marker))))
    (folder / "models.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    (folder / "specs.yaml").write_text(specs(name, "flows.py:f"))
    for args in ((), ("--untrusted",)):
        result = cli("plan", folder, *args)
        assert result.exit_code == 0, result.output
        assert "read without running code" in result.output and "'settings'" in result.output
        assert not marker.exists()
    monkeypatch.setenv("PIPEFORM_UNTRUSTED", "1")
    refused = cli("plan", folder, "--allow-exec")
    assert refused.exit_code == 0 and not marker.exists()  # the environment variable wins
    monkeypatch.delenv("PIPEFORM_UNTRUSTED")
    monkeypatch.syspath_prepend(str(folder.parent))
    allowed = cli("plan", folder, "--allow-exec")
    assert allowed.exit_code == 0, allowed.output
    assert marker.exists() and "computed by running the file's top level" in allowed.output


RICH = '''\
"""A flow file."""
import datetime
import enum
from typing import Literal, Optional

from pydantic import BaseModel, Field
from prefect import flow


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Config(BaseModel):
    """Settings."""

    size: int = 3
    name: str = Field("x", description="the name")
    color: Color = Color.RED


LIMIT = 10


@flow
def f(
    a: int,
    b: str = "hi",
    c: Optional[list[int]] = None,
    d: Config = Config(),
    e: Literal["x", "y"] = "x",
    when: datetime.date | None = None,
    lim: int = LIMIT,
    color: Color = Color.BLUE,
    *,
    k: float = 1.5,
):
    """Doc.

    Args:
        a: the a
        b: the b
    """
'''


def test_static_schema_is_the_one_prefect_computes(tmp_path):
    (tmp_path / "flows.py").write_text(RICH)
    static = entrypoints.parameter_schema(str(tmp_path), "flows.py:f")
    assert static.exact and not static.executed and static.notes == ()
    from prefect.utilities.callables import parameter_schema_from_entrypoint

    assert static.schema == parameter_schema_from_entrypoint(f"{tmp_path}/flows.py:f").model_dump(mode="json")
    assert static.schema["properties"]["d"]["default"] == {"size": 3, "name": "x", "color": "red"}


def test_module_data_never_becomes_a_default(tmp_path, monkeypatch):
    """`os.environ[...]` as a default would carry an environment variable into the plan."""
    monkeypatch.setenv("PF_T_LEAK", "s3cr3t")
    (tmp_path / "flows.py").write_text(
        "import os\n\n\ndef f(a: str = os.environ['PF_T_LEAK'], b: str = os.environ.get('PF_T_LEAK')):\n    pass\n"
    )
    schema = entrypoints.parameter_schema(str(tmp_path), "flows.py:f")
    assert "s3cr3t" not in json.dumps(schema.schema) and not schema.exact


def test_missing_entrypoint_file_is_reported_as_such(cli, project, prefect_api):
    folder, name = project
    (folder / "specs.yaml").write_text(specs(name, "flows/etl.py:etl"))
    _, diagnostics = load_project([folder])
    assert [(d.code, d.severity, d.origin.line) for d in diagnostics] == [("entrypoint.not-found", "warning", 10)]
    result = cli("plan", folder)
    assert result.exit_code == 1
    assert "flows/etl.py does not exist" in result.output and "cannot reach" not in result.output


def test_missing_function_and_syntax_error_are_located(project):
    folder, name = project
    (folder / "flows.py").write_text("def other():\n    pass\n")
    (folder / "broken.py").write_text("def f(:\n")
    second = "---\napiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: e}\nspec:\n  entrypoint: broken.py:f\n"
    (folder / "specs.yaml").write_text(specs(name, "flows.py:f") + second)
    _, diagnostics = load_project([folder])
    assert sorted((d.code, d.origin.line) for d in diagnostics) == [
        ("entrypoint.invalid", 16),
        ("entrypoint.not-found", 10),
    ]
    assert os.path.exists(folder / "flows.py")
