"""apiVersion registry: where each version's models and schema live, and where v2 plugs in.

Adding pipeform/v2: put its models in spec/models_v2/ and add an entry below with its
schema file name; the v1 -> v2 migration (and a `pipeform migrate` command using fmt.py's
round-trip writer) comes with it. Documents are validated against the entry of their own
apiVersion.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiVersion:
    name: str
    schema_file: str


CURRENT = "pipeform/v1"
VERSIONS: dict[str, ApiVersion] = {
    "pipeform/v1": ApiVersion("pipeform/v1", "pipeform-v1.schema.json"),
}
