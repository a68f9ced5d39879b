"""Run-time reads of the server from a flow (`$[ secrets.X ]`, `$[ variables.X ]`,
`$[ blocks.TYPE.NAME ]`) and result storage in blocks, against the session's real server:
the blocks and variables are applied by pipeform, the flows compiled and run, and what they
saw and logged is read back from the Prefect API and the storage folders."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import pytest
from server_helpers import apply_specs, project_dir

from pipeform.spec import load_project_or_raise

FIXTURES = Path(__file__).parent / "fixtures" / "compiler_pkg"
sys.path.insert(0, str(FIXTURES))
pytestmark = pytest.mark.usefixtures("prefect_api")

PROBE = """\
import json


def dump(path: str, **values):
    with open(path, "w") as f:
        json.dump(values, f)
    return "ok"


def count(path: str, value: int) -> dict:
    with open(path, "a") as f:
        f.write("ran\\n")
    return {"value": value}
"""


def _logs(flow_run_id: str) -> list[str]:
    from server_helpers import server

    time.sleep(2)  # run logs are shipped in batches
    found = server("POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [str(flow_run_id)]}}})
    return [entry["message"] for entry in found]


def _flow(path: Path, name: str):
    from pipeform.compiler import compile_flow

    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    return compile_flow(load_project_or_raise([path]), name)


READER = """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-api-token}
spec: {type: secret, data: {value: {from_env: PF_TEST_RUN_TOKEN}}}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: NAME_bucket}
spec: {value: "s3://bucket-NAME"}
---
apiVersion: pipeform/v1
kind: Variable
metadata: {name: NAME_password}
spec: {value: {from_env: PF_TEST_RUN_PASSWORD}, sensitive: true}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-reader}
spec:
  log_prints: true
  tasks:
    - name: dump
      python: "probe:dump"
      inputs:
        path: OUT
        token: "$[ secrets.NAME-api-token ]"
        bucket: "$[ variables.NAME_bucket ]"
        password: "$[ variables.NAME_password ]"
        block_value: "$[ blocks.secret.NAME-api-token.get() ]"
    - name: echo
      shell: 'echo "the token is $TOKEN"'
      inputs: {TOKEN: "$[ secrets.NAME-api-token ]"}
"""


def test_flow_reads_secrets_and_variables_and_never_logs_them(tmp_path, monkeypatch):
    token, password = f"run-tok-{uuid.uuid4().hex}", f"run-pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("PF_TEST_RUN_TOKEN", token)
    monkeypatch.setenv("PF_TEST_RUN_PASSWORD", password)
    out = tmp_path / "seen.json"
    path, name = project_dir(tmp_path, READER.replace("OUT", str(out)), prefix="rr")
    (path / "probe.py").write_text(PROBE)
    _, outcomes, _ = apply_specs(path)
    assert all(o.ok for o in outcomes), outcomes
    monkeypatch.delenv("PF_TEST_RUN_TOKEN")  # the run reads the server, not this environment
    state = _flow(path, f"{name}-reader")(return_state=True)
    assert state.is_completed(), state
    import json

    seen = json.loads(out.read_text())
    assert seen == {"token": token, "bucket": f"s3://bucket-{name}", "password": password, "block_value": token}
    logs = _logs(state.state_details.flow_run_id)
    assert any("the token is (sensitive)" in line for line in logs), logs
    assert not any(token in line or password in line for line in logs)


STORAGE = """\
apiVersion: pipeform/v1
kind: Block
metadata: {name: NAME-results}
spec: {type: local-file-system, data: {basepath: BLOCKDIR}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-by-path}
spec:
  result_storage: LOCALDIR
  tasks:
    - {name: t, python: "probe:count", inputs: {path: COUNTER1, value: 7}, persist_result: true, cache: {policy: inputs}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {name: NAME-by-block}
spec:
  result_storage: NAME-results
  tasks:
    - {name: t, python: "probe:count", inputs: {path: COUNTER2, value: 8}, persist_result: true, cache: {policy: inputs}}
"""


def test_result_storage_by_local_path_and_by_block_document(tmp_path):
    local, block_dir = tmp_path / "local-results", tmp_path / "block-results"
    counters = tmp_path / "c1", tmp_path / "c2"
    text = (
        STORAGE.replace("LOCALDIR", str(local))
        .replace("BLOCKDIR", str(block_dir))
        .replace("COUNTER1", str(counters[0]))
        .replace("COUNTER2", str(counters[1]))
    )
    path, name = project_dir(tmp_path, text, prefix="rs")
    (path / "probe.py").write_text(PROBE)
    plan, outcomes, _ = apply_specs(path)
    assert all(o.ok for o in outcomes), outcomes
    assert any(c.address.startswith("block.local-file-system/pipeform-") for c in plan.pending)
    for flow_name, folder, counter in (
        (f"{name}-by-path", local, counters[0]),
        (f"{name}-by-block", block_dir, counters[1]),
    ):
        first = _flow(path, flow_name)(return_state=True)
        assert first.is_completed(), first
        assert any(folder.iterdir()), f"no result written to {folder}"
        second = _flow(path, flow_name)(return_state=True)  # a later run reads the stored result back
        assert second.is_completed(), second
        assert counter.read_text() == "ran\n"  # the task ran once: the second run read its result


def test_emitted_python_reads_the_same_secrets_and_variables(tmp_path, monkeypatch):
    from test_compiler_emit import emit_project

    token = f"emit-tok-{uuid.uuid4().hex}"
    monkeypatch.setenv("PF_TEST_RUN_TOKEN", token)
    monkeypatch.setenv("PF_TEST_RUN_PASSWORD", "emit-password-value")
    out = tmp_path / "seen.json"
    text = READER.replace("OUT", str(out)).replace(
        '        block_value: "$[ blocks.secret.NAME-api-token.get() ]"\n', ""
    )
    path, name = project_dir(tmp_path, text, prefix="re")
    (path / "probe.py").write_text(PROBE)
    _, outcomes, _ = apply_specs(path)
    assert all(o.ok for o in outcomes), outcomes
    sys.path.insert(0, str(path))
    project = load_project_or_raise([path])
    flow = emit_project(project, tmp_path / "emitted")[f"{name}-reader"]
    source = (tmp_path / "emitted").glob("*.py")
    code = "".join(p.read_text() for p in source)
    assert f'read_secret("{name}-api-token")' in code and token not in code
    state = flow(return_state=True)
    assert state.is_completed(), state
    import json

    seen = json.loads(out.read_text())
    assert seen == {"token": token, "bucket": f"s3://bucket-{name}", "password": "emit-password-value"}
    logs = _logs(state.state_details.flow_run_id)
    assert any("the token is (sensitive)" in line for line in logs) and not any(token in line for line in logs)
