"""An approval resumed by the test with typed input, and a flow on a real local Dask cluster."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from pipeform.spec import load_project

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "compiler_pkg"))
pytestmark = pytest.mark.usefixtures("prefect_api")


def compile_text(write, text: str, name: str):
    from pipeform.compiler import compile_flow

    project, diagnostics = load_project([write(f"{name}.yaml", text)])
    assert project is not None, diagnostics
    return compile_flow(project, name)


def test_approval_resumed_by_the_test(write):
    from prefect.client.orchestration import get_client
    from prefect.flow_runs import resume_flow_run

    flow = compile_text(
        write,
        """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: gated}
spec:
  tasks:
    - name: approve
      approval:
        message: ship it?
        timeout_seconds: 120
        inputs:
          approved_by: {type: string}
          batch: {type: integer, default: 1}
    - name: after
      python: pfx_tasks:add
      inputs:
        a: $[ tasks.approve.result.batch ]
        b: 100
  returns: {who: "$[ tasks.approve.result.approved_by ]", sum: "$[ tasks.after.result ]"}
""",
        "gated",
    )
    box: dict = {}
    runner = threading.Thread(target=lambda: box.setdefault("state", flow(return_state=True)))
    runner.start()
    client = get_client(sync_client=True)
    paused = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and paused is None:
        for run in client.read_flow_runs():
            if run.flow_id and run.state and run.state.is_paused() and client.read_flow(run.flow_id).name == "gated":
                paused = run
        time.sleep(0.5)
    assert paused is not None, "the flow never paused"
    resume_flow_run(paused.id, run_input={"approved_by": "ana", "batch": 5})
    runner.join(timeout=60)
    state = box["state"]
    assert state.is_completed(), state
    assert state.result() == {"who": "ana", "sum": 105}


@pytest.mark.slow
def test_flow_on_a_local_dask_cluster(write):
    pytest.importorskip("prefect_dask")
    flow = compile_text(
        write,
        """\
apiVersion: pipeform/v1
kind: Flow
metadata: {name: on-dask}
spec:
  task_runner:
    type: dask
    cluster_kwargs: {n_workers: 1, threads_per_worker: 2, processes: false, dashboard_address: null}
  parameters:
    xs: {type: array, default: [1, 2, 3]}
  tasks:
    - name: doubled
      python: pfx_tasks:double
      map: {x: "$[ params.xs ]"}
    - name: summed
      python: pfx_tasks:total
      inputs: {values: "$[ tasks.doubled.result ]"}
""",
        "on-dask",
    )
    state = flow(return_state=True)
    assert state.is_completed(), state
    assert state.result() == {"summed": 12}
    assert type(flow.task_runner).__name__ == "DaskTaskRunner"
