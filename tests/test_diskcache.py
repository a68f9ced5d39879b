"""pipeform's disk cache (pipeform/diskcache.py) only saves time: a warm cache gives the
same answers as a cold one, skips importing Prefect, and never hides a new error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from pipeform.spec import load_project
from pipeform.reconciler.desired import desired_state
from pipeform.reconciler.inputs import gather_inputs
project, diagnostics = load_project([sys.argv[1]])
out = {"codes": [d.code for d in diagnostics], "prefect_imported": "prefect" in sys.modules}
if project is not None:
    deps = [r for r in desired_state(gather_inputs(project)) if r.kind == "deployment"]
    out["schema"] = deps[0].body["parameter_openapi_schema"] if deps else None
    out["prefect_imported"] = "prefect" in sys.modules
print(json.dumps(out))
"""

SPECS = """\
apiVersion: pipeform/v1
kind: Project
metadata: {name: cached}
spec: {}
---
apiVersion: pipeform/v1
kind: WorkPool
metadata: {name: cached-pool}
spec: {type: process}
---
apiVersion: pipeform/v1
kind: Deployment
metadata: {name: nightly}
spec:
  entrypoint: flows.py:report
  work_pool: {name: cached-pool}
  schedules:
    - {slug: nightly, cron: "CRON", timezone: Europe/Paris}
"""

FLOWS = '''\
from prefect import flow


@flow
def report(day: str = "today", limit: int = 10):
    """Write the report."""
'''


def probe(folder: Path, cache: Path | str) -> dict:
    env = {**os.environ, "PIPEFORM_CACHE_DIR": str(cache)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(folder)], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def write(folder: Path, cron: str = "0 3 * * *", flows: str = FLOWS) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "pipeline.yaml").write_text(SPECS.replace("CRON", cron))
    (folder / "flows.py").write_text(flows)


def test_warm_cache_same_answers_without_importing_prefect(tmp_path):
    folder, cache = tmp_path / "specs", tmp_path / "cache"
    write(folder)
    cold = probe(folder, cache)
    warm = probe(folder, cache)
    assert cold["codes"] == warm["codes"] == []
    assert cold["prefect_imported"] and not warm["prefect_imported"]
    assert warm["schema"] == cold["schema"]
    assert set(cold["schema"]["properties"]) == {"day", "limit"}
    # the same folder with the cache off computes the same schema again
    assert probe(folder, "off")["schema"] == cold["schema"]


def test_changed_inputs_are_computed_again_and_errors_never_cached(tmp_path):
    folder, cache = tmp_path / "specs", tmp_path / "cache"
    write(folder)
    probe(folder, cache)
    write(folder, flows=FLOWS.replace("limit: int = 10", "limit: int = 10, dry_run: bool = False"))
    assert set(probe(folder, cache)["schema"]["properties"]) == {"day", "limit", "dry_run"}
    write(folder, cron="0 25 * * *")
    for _ in range(2):  # an invalid schedule is reported every time, cache or not
        assert probe(folder, cache)["codes"] == ["schedule.invalid"]


def test_signature_depending_on_other_modules_is_not_kept_on_disk(tmp_path):
    folder, cache = tmp_path / "specs", tmp_path / "cache"
    write(
        folder,
        flows="from prefect import flow\nfrom mytypes import Mode\n\n\n@flow\ndef report(mode: Mode = 'a'):\n    pass\n",
    )
    (folder / "mytypes.py").write_text("from typing import Literal\n\nMode = Literal['a', 'b']\n")
    probe(folder, cache)
    assert not list(cache.glob("schemas/*.json"))
    assert probe(folder, cache)["prefect_imported"]  # recomputed: mytypes may have changed
