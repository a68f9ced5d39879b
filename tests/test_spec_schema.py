"""The published JSON Schema: fresh, complete, strict, and the same judge as the CLI."""

import json
from pathlib import Path

import jsonschema
import pytest

from pipeform.spec import load_project, schema
from pipeform.spec.load import read_file

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "pipeform-v1.schema.json"
FREE_FORM = {
    "labels",
    "annotations",
    "parameters",
    "inputs",
    "map",
    "job_variables",
    "base_job_template",
    "values",
    "env",
    "cluster_kwargs",
    "items",
}


def test_committed_schema_is_fresh():
    assert SCHEMA_FILE.read_text() == schema.dumps(schema.generate()), (
        "run: python -m pipeform.spec.schema schemas/pipeform-v1.schema.json"
    )


def test_packaged_schema_is_the_committed_file():
    assert schema.published() == json.loads(SCHEMA_FILE.read_text())


def _objects(node, path=()):
    if isinstance(node, dict):
        if "properties" in node:
            yield path, node
        for k, v in node.items():
            yield from _objects(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _objects(v, (*path, i))


def test_every_field_described_and_unknown_keys_refused():
    published = json.loads(SCHEMA_FILE.read_text())
    objects = list(_objects(published))
    assert len(objects) > 30
    for path, obj in objects:
        if path and path[-1] in ("if", "then"):
            continue
        assert obj.get("additionalProperties") is False, path
        for name, prop in obj["properties"].items():
            if path and path[-1] == "properties" and path[-2] == "then":
                continue
            assert prop.get("description"), (path, name)


def test_important_fields_have_examples():
    defs = json.loads(SCHEMA_FILE.read_text())["definitions"]
    for model, field in [
        ("Task", "python"),
        ("Task", "inputs"),
        ("Schedule", "cron"),
        ("Task", "when"),
        ("WorkPoolRef", "name"),
    ]:
        assert defs[model]["properties"][field].get("examples"), (model, field)


def _editor_errors(path: Path) -> list[str]:
    """What an editor using the schema file reports: the whole schema, jsonschema's own validator."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text()))
    docs, problems = read_file(path)
    assert not problems
    return [e.message for d in docs for e in validator.iter_errors(d.data)]


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        ("{type: process}", True),
        ("{type: process, concurrency_limit: 3}", True),
        ("{type: process, concurrency_limit: << values.n >>}", True),
        ("{type: process, concurrency_limit: three}", False),
        ("{type: process, concurency_limit: 3}", False),
        ("{type: process, queues: [{name: q, priority: 0}]}", False),  # priority >= 1
        ("{queues: []}", False),
    ],
)
def test_cli_accepts_exactly_what_an_editor_accepts(write, spec, valid):
    path = write("p.yaml", f"apiVersion: pipeform/v1\nkind: WorkPool\nmetadata: {{name: p}}\nspec: {spec}\n")
    editor_ok = _editor_errors(path) == []
    _, diagnostics = load_project([path])
    cli_schema_ok = not any(d.code.startswith(("schema.", "doc.")) for d in diagnostics)
    assert editor_ok == valid, _editor_errors(path)
    assert cli_schema_ok == valid, diagnostics


def test_examples_carry_the_schema_modeline():
    files = sorted((ROOT / "examples").rglob("*.y*ml"))
    assert len(files) >= 4, files  # every example has specs: an empty glob must not pass
    for f in files:
        first = f.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=") and first.endswith(
            "schemas/pipeform-v1.schema.json"
        ), f
        target = (f.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == SCHEMA_FILE, f


def test_schema_command(cli, tmp_path):
    out = tmp_path / "s.json"
    assert cli("schema", "--output", out).exit_code == 0
    assert json.loads(out.read_text()) == json.loads(SCHEMA_FILE.read_text())
    result = cli("schema")
    assert json.loads(result.stdout)["$id"] == schema.SCHEMA_ID


def test_validation_never_changes_the_data(write):
    """A regression guard: fastjsonschema fills defaults into the data unless told not to."""
    from pipeform.spec.load import read_file

    path = write(
        "f.yaml",
        "apiVersion: pipeform/v1\nkind: Flow\nmetadata: {name: f}\nspec:\n  task_runner: {type: thread_pool}\n  tasks: [{name: t, shell: x}]\n",
    )
    (doc,), _ = read_file(path)
    before = json.dumps(doc.data, sort_keys=True)
    assert schema.check(doc) == []
    assert json.dumps(doc.data, sort_keys=True) == before
    project, diagnostics = load_project([path])
    assert diagnostics == [] and project.flows["f"].spec.task_runner.max_workers is None
