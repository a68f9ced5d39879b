"""pipeform convert on the 15 real prefect.yaml files (../shared/corpus/prefect-yaml,
with SOURCES.md): 0 errors, output validates and is fmt-stable, every
field carried over or reported at its prefect.yaml line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pipeform.convert import convert_files, write
from pipeform.spec import load_project
from pipeform.spec.fmt import format_text

# The corpus stays in the shared folder beside the repository (its SOURCES.md: input only, not
# to be copied into pipeform's source); PIPEFORM_PREFECT_YAML_CORPUS names another copy.
CORPUS = Path(
    os.environ.get("PIPEFORM_PREFECT_YAML_CORPUS")
    or Path(__file__).resolve().parents[2] / "shared" / "corpus" / "prefect-yaml"
)
if not CORPUS.is_dir():
    pytest.skip(
        f"the prefect.yaml corpus is not at {CORPUS} (set PIPEFORM_PREFECT_YAML_CORPUS)", allow_module_level=True
    )
FILES = sorted(CORPUS.glob("*.yaml"))
# Values `prefect deploy` would read from the server (Prefect variables) and the environment.
VARIABLES = {"date": "2024-06-01", "c3dc_dataloader_dev_secret_name": "dev-secret", "c3dc_dataloader_dev_runner": "me"}
ENVIRON = {
    k: "x"
    for k in (
        "TS_AUTHKEY",
        "PREFECT_IMAGE",
        "CI_COMMIT_BRANCH",
        "JGI_OFFLINE_TOKEN",
        "NCBI_API_KEY",
        "PWD",
        "JOB_BACKDATE",
        "JOB_STARTDATE",
        "JOB_ENDDATE",
    )
}


def _convert(name: str, tmp_path: Path, **kw):
    conv = convert_files([CORPUS / name], variables=kw.pop("variables", VARIABLES), import_computed=False, **kw)
    return conv, write(conv, tmp_path / "out", [CORPUS / name]) if conv.ok else []


def _docs(conv, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"] for d in conv.documents if d["kind"] == kind}


def _codes(conv) -> list[tuple[str, int]]:
    return [(d.code, d.origin.line) for d in conv.diagnostics]


def test_corpus_has_fifteen_files():
    assert len(FILES) == 15


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.split("__")[0])
def test_every_corpus_file_converts_and_validates(path, tmp_path):
    conv, written = _convert(path.name, tmp_path)
    assert [str(d) for d in conv.diagnostics if d.severity == "error"] == []
    raw = yaml.safe_load(path.read_text())
    assert len(_docs(conv, "Deployment")) == len(raw["deployments"])
    for f in written:  # formatted as `pipeform fmt` formats
        assert format_text(f.read_text()) == f.read_text(), f
    project, diags = load_project([tmp_path / "out"], environ=ENVIRON)
    assert project is not None, [str(d) for d in diags if d.severity == "error"]
    assert set(project.deployments) == {d["name"] for d in raw["deployments"]}
    assert all(d.origin and d.origin.file == str(path) and d.origin.line > 0 for d in conv.diagnostics)


def test_integration_tests_names_legacy_schedule_and_anchors(tmp_path):
    conv, _ = _convert("PrefectHQ__integration-tests__prefect.yaml", tmp_path)
    deps = _docs(conv, "Deployment")
    assert "Hello World - Helm" in deps and len(deps) == 21
    hourly = [s for s in deps.values() if s.get("schedules") == [{"interval": 30}]]
    assert len(hourly) == 1  # legacy singular `schedule:` with `interval: 30`
    crons = {s["schedules"][0]["cron"] for s in deps.values() if s.get("schedules") and "cron" in s["schedules"][0]}
    assert crons  # anchored (&) schedules resolved through `<<:`/aliases
    assert all(s.get("description") for s in deps.values())  # description anchor


def test_genomehubs_triggers_stay_on_their_deployment_with_variables_resolved(tmp_path):
    conv, _ = _convert("genomehubs__data__prefect.yaml", tmp_path)
    assert _docs(conv, "Automation") == {}  # owned by their deployment, as prefect deploy makes them
    deps = _docs(conv, "Deployment")
    assert sum(len(s.get("triggers", [])) for s in deps.values()) == 12
    [first] = deps["fetch-parse-validate-ncbi-datasets"]["triggers"]
    assert "name" not in first  # Prefect's default name, which pipeform gives too
    assert first["match"]["prefect.resource.id"].endswith(
        "assembly-data-<< values.date >>/ncbi_datasets_eukaryota.jsonl"
    )
    assert first["match"]["prefect.resource.matches.previous"] == ["no"]
    assert first["expect"] == ["update.ncbi.datasets.finished"]
    assert first["parameters"]["work_dir"].endswith("<< values.date >>")
    assert conv.values["date"] == "2024-06-01"
    # a secret the worker reads: a Secret block pipeform owns, referenced as Prefect resolves it
    assert {"JGI_OFFLINE_TOKEN", "NCBI_API_KEY"} <= conv.secrets and "JGI_OFFLINE_TOKEN" not in conv.env_used
    block = _docs(conv, "Block")[f"{conv.project}-jgi-offline-token"]
    assert block == {"type": "secret", "data": {"value": {"from_env": "JGI_OFFLINE_TOKEN"}}}
    refs = [s["work_pool"]["job_variables"]["env"] for s in deps.values() if "JGI_OFFLINE_TOKEN" in str(s)]
    assert refs and all(
        r["JGI_OFFLINE_TOKEN"] == f"{{{{ prefect.blocks.secret.{conv.project}-jgi-offline-token }}}}" for r in refs
    )


def test_concurrency_int_and_object(tmp_path):
    conv, _ = _convert("RJ-SMTR__pipelines_v3__prefect.yaml", tmp_path)
    limits = [s.get("concurrency_limit") for s in _docs(conv, "Deployment").values()]
    assert limits == [1, {"limit": 1, "collision_strategy": "CANCEL_NEW"}]
    # version from a build step's output: reported at its line, left out
    assert ("convert.step-output", 44) in _codes(conv)


def test_interval_schedules_with_slug_anchor_timezone_parameters(tmp_path):
    conv, _ = _convert("prefeitura-rio__prefect_rj_iplanrio__prefect.yaml", tmp_path)
    prod = _docs(conv, "Deployment")["rj-segovi--dump-db-1746--prod"]
    raw = yaml.safe_load((CORPUS / "prefeitura-rio__prefect_rj_iplanrio__prefect.yaml").read_text())
    assert [s["slug"] for s in prod["schedules"]] == [s["slug"] for s in raw["deployments"][1]["schedules"]]
    assert len(prod["schedules"]) == 4
    first = prod["schedules"][0]
    assert (
        first["interval"] == 86400
        and first["timezone"] == "America/Sao_Paulo"
        and first["anchor_date"].startswith("2025-07-15")
    )
    assert first["parameters"]["table_id"] == "chamado"


def test_ignored_and_legacy_keys_are_located(tmp_path):
    conv, _ = _convert("3commacapital__prefect-flows__prefect.yaml", tmp_path)
    assert ("convert.ignored-key", 41) in _codes(conv)  # schedules[0].catchup
    conv, _ = _convert("Kyytox__russia_ukraine_war_analytics_hub__prefect.yaml", tmp_path)
    assert ("convert.ignored-key", 37) in _codes(conv)  # work_pool.flow_variables
    conv, _ = _convert("mediacloud__sous-chef__prefect.yaml", tmp_path)
    assert ("convert.legacy-key", 55) in _codes(conv)


def test_build_step_image_becomes_an_environment_and_prefect_removed_placeholders(tmp_path):
    conv, _ = _convert("Brennan-Chesley-FLP__en_banc__prefect.yaml", tmp_path)
    deps = _docs(conv, "Deployment")
    assert all(s["environment"] == "image" for s in deps.values())
    assert _docs(conv, "Environment")["image"] == {"image": "<< values.image >>"}
    assert conv.values["image"] == "en-banc:latest"
    env = deps["hello-flow"]["work_pool"]["job_variables"]["env"]
    # a secret the worker reads: its Secret block; prefect deploy removes {{ flow_run.name }}
    assert env == {"TS_AUTHKEY": "{{ prefect.blocks.secret.en-banc-ts-authkey }}"}
    assert [c for c, _ in _codes(conv)].count("convert.build-steps") == 3  # once per deployment
    assert ("convert.removed-placeholder", 25) in _codes(conv)


def test_pull_steps_top_level_and_overridden(tmp_path):
    conv, _ = _convert("CBIIT__C3DC-Prefect-Dataloader__prefect.yaml", tmp_path)
    (spec,) = _docs(conv, "Deployment").values()
    raw = yaml.safe_load((CORPUS / "CBIIT__C3DC-Prefect-Dataloader__prefect.yaml").read_text())
    assert spec["pull"] == raw["deployments"][0]["pull"]  # the deployment's own pull wins
    conv, _ = _convert("fairtracks__omnipy_examples__prefect.yaml", tmp_path)
    raw = yaml.safe_load((CORPUS / "fairtracks__omnipy_examples__prefect.yaml").read_text())
    # the file's own pull steps, once, as the Project's deployment default
    assert conv.deployment_defaults == {"pull": raw["pull"]}
    assert all("pull" not in s for s in _docs(conv, "Deployment").values())
    assert "{{ clone-omnipy-examples.directory }}" in str(raw["pull"])  # run-time step output kept


def test_unresolved_variable_and_block_in_parameters_are_refused(tmp_path):
    conv, _ = _convert("CBIIT__C3DC-Prefect-Dataloader__prefect.yaml", tmp_path, variables={})
    errors = [(d.code, d.origin.line) for d in conv.diagnostics if d.severity == "error"]
    assert errors and {c for c, _ in errors} == {"convert.unresolved-variable"}
    f = tmp_path / "prefect.yaml"
    f.write_text(
        "name: x\ndeployments:\n  - name: d\n    entrypoint: f.py:g\n    work_pool: {name: p}\n"
        "    parameters:\n      token: '{{ prefect.blocks.secret.api-token }}'\n"
    )
    conv = convert_files([f], import_computed=False)
    assert [(d.code, d.origin.line, d.severity) for d in conv.diagnostics if d.severity == "error"] == [
        ("convert.block-reference", 7, "error")
    ]


def test_flow_names_read_from_the_source_next_to_prefect_yaml(tmp_path, cli):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "a.py").write_text(
        "from prefect import flow\n\n@flow(name='MAGI Vote')\ndef vote():\n    pass\n"
    )
    (tmp_path / "flows" / "b.py").write_text(
        "from prefect import flow\n\n@flow\ndef update_ncbi_datasets():\n    pass\n"
    )
    (tmp_path / "flows" / "c.py").write_text(
        "from prefect import flow\nimport string\n\n@flow(name=string.ascii_lowercase[:3])\ndef computed():\n    pass\n"
    )
    (tmp_path / "prefect.yaml").write_text(
        "name: My Project\ndeployments:\n"
        "  - {name: Vote Daily, entrypoint: flows/a.py:vote, flow_name: Wrong Name, work_pool: {name: p}}\n"
        "  - {name: ncbi, entrypoint: flows/b.py:update_ncbi_datasets, work_pool: {name: p}}\n"
        "  - {name: comp, entrypoint: flows/c.py:computed, work_pool: {name: p}}\n"
    )
    result = cli("convert", tmp_path / "prefect.yaml", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    project, _diags = load_project([tmp_path])
    assert project is not None and project.name == "my-project"
    from pipeform.spec.flow_names import deployment_flow_name

    names = {n: deployment_flow_name(d.spec) for n, d in project.deployments.items()}
    assert names == {"Vote Daily": "MAGI Vote", "ncbi": "update-ncbi-datasets", "comp": "abc"}
    assert "convert.flow-name" in result.output and "convert.flow-name-imported" in result.output
    assert project.deployments["comp"].spec.flow_name == "abc"  # computed: imported once, written down
    assert project.deployments["Vote Daily"].spec.flow_name is None  # read from the source from now on
