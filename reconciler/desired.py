"""DesiredInput -> desired Resources: what the specs ask for, in each kind's comparable
form. Pure: git, the environment, files and the disk cache are read before, by
`inputs.gather_inputs`, into the one typed input it takes. A secret that would be written
in plain text (secret_scan.py) stops it with a located SpecError."""

from __future__ import annotations

from pipeform.spec.diagnostics import SpecError

from .inputs import DesiredInput
from .kinds import REGISTRY
from .resources import Resource
from .secret_scan import plain_text_secrets


def desired_state(inputs: DesiredInput) -> list[Resource]:
    resources = [r for kind in REGISTRY for r in kind.desired(inputs)]
    secrets = {**inputs.secrets, **inputs.project.sensitive_env}
    leaks = plain_text_secrets(resources, secrets, inputs.project)
    if leaks:
        raise SpecError(leaks)
    return resources
