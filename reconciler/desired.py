"""DesiredInput -> desired Resources: what the specs ask for, in each kind's comparable
form. Pure: git, the environment, files and the disk cache are read before, by
`inputs.gather_inputs`, into the one typed input it takes."""

from __future__ import annotations

from .inputs import DesiredInput
from .kinds import REGISTRY
from .resources import Resource


def desired_state(inputs: DesiredInput) -> list[Resource]:
    return [r for kind in REGISTRY for r in kind.desired(inputs)]
