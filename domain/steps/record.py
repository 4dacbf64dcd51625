"""Record: the incident row, its audit events and its approvals, as the workflow writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from domain.base import Frozen
from domain.policy.approval import Approval


class IncidentUpdate(Frozen):
    """Fields of the incident row to write; None leaves a field as it is."""

    incident_id: str
    source: str | None = None
    title: str | None = None
    status: str | None = None
    outcome: str | None = None
    risk: str | None = None
    root_cause: str | None = None
    namespace: str | None = None
    target: str | None = None
    plan_hash: str | None = None
    summary: str | None = None
    # One line: why the incident ended as it did (written when it closes).
    reason: str | None = None
    # One line: why the model could not be used and the offline rules diagnosed instead.
    model_unusable: str | None = None
    alert_group: dict[str, Any] | None = None
    diagnosis: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    policy_decision: dict[str, Any] | None = None
    # What observe saw, kept for the console (written once, after observe).
    observation: dict[str, Any] | None = None
    closed_at: datetime | None = None


class AuditInput(Frozen):
    incident_id: str
    seq: int
    step: str
    status: str
    actor: str = "medic"
    plan_hash: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    duration_ms: int | None = None
    occurred_at: datetime | None = None


class ApprovalRecord(Frozen):
    incident_id: str
    approval: Approval
