"""Work queues against the session's real server: a queue declared without a priority
gets the one Prefect assigns (the next after the pool's highest, as `prefect work-queue
create` does) and is then never a diff; a declared priority is applied and kept."""

from __future__ import annotations

import pytest
from server_helpers import apply_specs, plan_specs, project_dir, server

pytestmark = pytest.mark.usefixtures("prefect_api")

POOL = """\
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: NAME-pool}
spec:
  type: process
  queues:
    - {name: plain}
    - {name: described, description: no priority here, concurrency_limit: 2}
    - {name: first, priority: 1}
"""


def _queues(pool: str) -> dict[str, dict]:
    return {q["name"]: q for q in server("POST", f"/work_pools/{pool}/queues/filter", {})}


def test_queue_without_priority_plans_empty_after_apply(tmp_path):
    path, name = project_dir(tmp_path, POOL, prefix="wq")
    plan, outcomes, _ = apply_specs(path)
    assert plan.errors == () and outcomes and all(o.ok for o in outcomes), outcomes
    queues = _queues(f"{name}-pool")
    assert queues["first"]["priority"] == 1
    assert queues["plain"]["priority"] is not None  # the server chose one
    assert queues["described"]["concurrency_limit"] == 2
    assert queues["described"]["description"] == "no priority here"

    again = plan_specs(path)
    assert again.pending == (), [(c.address, c.diffs) for c in again.pending]
    _, outcomes, counters = apply_specs(path)
    assert outcomes == () and counters.writes == 0

    # a priority set out of band on a queue declared without one is Prefect's to keep
    server("PATCH", f"/work_pools/{name}-pool/queues/plain", {"priority": 7})
    assert plan_specs(path).pending == ()
    # a declared priority changed out of band is drift, and apply restores it
    server("PATCH", f"/work_pools/{name}-pool/queues/first", {"priority": 9})
    drift = plan_specs(path)
    assert [c.address for c in drift.pending] == [f"work_queue.{name}-pool/first"]
    _, outcomes, _ = apply_specs(path)
    assert [o.ok for o in outcomes] == [True]
    assert _queues(f"{name}-pool")["first"]["priority"] == 1
    assert _queues(f"{name}-pool")["plain"]["priority"] == 7
