"""Global concurrency limits and rate limits around tasks, against the real server's limits."""

from __future__ import annotations

import itertools
import sys
import uuid
from pathlib import Path

import pytest
from server_helpers import server

from pipeform.spec import load_project

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "compiler_pkg"))
pytestmark = pytest.mark.usefixtures("prefect_api")


def limited_flow(write, limit: str, concurrency: str):
    from pipeform.compiler import compile_flow

    text = f"""\
apiVersion: pipeform/v1
kind: ConcurrencyLimit
metadata: {{name: {limit}}}
spec: {{limit: 1}}
---
apiVersion: pipeform/v1
kind: Flow
metadata: {{name: held}}
spec:
  task_runner: {{type: thread_pool, max_workers: 3}}
  tasks:
    - name: hold
      python: pfx_tasks:hold
      map: {{i: [0, 1, 2]}}
{concurrency}"""
    project, diagnostics = load_project([write(f"{limit}.yaml", text)])
    assert project is not None, diagnostics
    return compile_flow(project, "held")


def intervals(flow) -> list[dict]:
    # The return value (raises if the run did not complete), not `state.result()`: that is the
    # server's copy of the state when the final set_state had to be retried (tests/test_cli_run.py).
    return sorted(flow()["hold"], key=lambda r: r["start"])


def overlapping(runs: list[dict]) -> bool:
    return any(b["start"] < a["end"] for a, b in itertools.pairwise(runs))


def test_a_limit_of_one_serializes_mapped_tasks(write):
    name = f"one-{uuid.uuid4().hex[:8]}"
    server("POST", "/v2/concurrency_limits/", {"name": name, "limit": 1})
    # without the limit the three runs overlap on the thread pool: the check below can fail
    assert overlapping(intervals(limited_flow(write, name, "")))
    runs = intervals(limited_flow(write, name, f"      concurrency: {{limits: [{name}]}}\n"))
    assert not overlapping(runs), runs


def test_a_rate_limit_spaces_task_starts(write):
    name = f"rate-{uuid.uuid4().hex[:8]}"
    # one slot that decays at 2 per second: a start at most every 0.5 s
    server("POST", "/v2/concurrency_limits/", {"name": name, "limit": 1, "slot_decay_per_second": 2.0})
    flow = limited_flow(write, name, f"      concurrency: {{rate_limit: [{name}]}}\n")
    starts = [r["start"] for r in intervals(flow)]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g >= 0.4 for g in gaps), gaps
