"""apiVersion registry: where each version's models and schema live, and where v2 plugs in.

Adding pipeform/v2: put its models in spec/models_v2/, add an entry below with the schema
file name and a `migrate` function (v1 data -> v2 data) that `pipeform migrate` will apply
file by file with the round-trip writer in fmt.py. Documents are validated against the
entry of their own apiVersion; a project may mix versions while it migrates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApiVersion:
    name: str
    schema_file: str
    migrate_to_next: Callable[[dict[str, Any]], dict[str, Any]] | None = None


CURRENT = "pipeform/v1"
VERSIONS: dict[str, ApiVersion] = {
    "pipeform/v1": ApiVersion("pipeform/v1", "pipeform-v1.schema.json"),
}
