"""Typed models of the pipeform/v1 spec language, one module per group of kinds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .automation import AutomationDocument
from .block import BlockDocument
from .common import DocumentBase
from .deployment import DeploymentDocument
from .flow import FlowDocument
from .project import ProjectDocument
from .resources import ConcurrencyLimitDocument, EnvironmentDocument, VariableDocument, WorkPoolDocument

KINDS: dict[str, type[DocumentBase]] = {
    "Project": ProjectDocument,
    "Flow": FlowDocument,
    "Deployment": DeploymentDocument,
    "WorkPool": WorkPoolDocument,
    "ConcurrencyLimit": ConcurrencyLimitDocument,
    "Variable": VariableDocument,
    "Environment": EnvironmentDocument,
    "Automation": AutomationDocument,
    "Block": BlockDocument,
}

Document = Annotated[
    ProjectDocument
    | FlowDocument
    | DeploymentDocument
    | WorkPoolDocument
    | ConcurrencyLimitDocument
    | VariableDocument
    | EnvironmentDocument
    | AutomationDocument
    | BlockDocument,
    Field(discriminator="kind"),
]

__all__ = ["KINDS", "Document"]
