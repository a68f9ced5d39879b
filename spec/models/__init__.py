"""Typed models of the pipeform/v1 spec language, one module per group of kinds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter

from .automation import AutomationDocument
from .block import BlockDocument
from .deployment import DeploymentDocument
from .flow import FlowDocument
from .project import ProjectDocument
from .resources import ConcurrencyLimitDocument, EnvironmentDocument, VariableDocument, WorkPoolDocument

API_VERSION = "pipeform/v1"

KINDS: dict[str, type] = {
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
DOCUMENT_ADAPTER: TypeAdapter[Document] = TypeAdapter(Document)

__all__ = ["API_VERSION", "DOCUMENT_ADAPTER", "KINDS", "Document"]
