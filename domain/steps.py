"""Payloads of the remediation workflow and its activities: one model in, one model out.

New fields always get defaults, so that recorded histories keep decoding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.decision import Approval, Outcome, PolicyDecision
from domain.incident import Incident, ResourceRef
from domain.memory import SimilarIncident
from domain.observation import Observation
from domain.plan import Diagnosis, Plan

# The least risk a second-opinion review may set: it can raise the policy's risk, never lower it.
RiskFloor = Literal["medium", "high"]

Step = Literal[
    "received",
    "observing",
    "recalling",
    "analyzing",
    "reviewing",
    "validating",
    "awaiting_approval",
    "dry_run",
    "snapshot",
    "executing",
    "verifying",
    "rolling_back",
    "closed",
]


class RemediationInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident: Incident
    approval_timeout_seconds: int = 4 * 3600
    verify_timeout_seconds: int = 300
    verify_interval_seconds: int = 5
    # Consecutive healthy checks, with restarts not increasing, that make a verification pass.
    verify_stable_checks: int = 2
    protected_namespaces: list[str] = Field(default_factory=list)
    # How long the incident stays open after its outcome, absorbing repeated notifications of
    # the same alert group; 0 closes the workflow at once.
    cooldown_seconds: int = 0
    # Publish status, risk, namespace, target and root cause as search attributes (MedicStatus, ...)
    # and a one-line memo. The server must have them registered (the worker does it at start-up).
    search_attributes: bool = False
    # Ask a second model to review a plan with actions before the policy decides (it may only
    # veto or raise the risk). Off unless a reviewer is configured.
    second_opinion: bool = False
    # Send notifications (send_notification: Slack, a generic webhook) of the approval wait, its
    # reminders, each decision and the outcome. Off unless a channel is configured; they never
    # hold up or fail the remediation.
    notify: bool = False
    # Reminders of a pending approval, in seconds before its deadline; one already past when the
    # wait starts is skipped.
    approval_reminders_seconds: list[int] = Field(default_factory=lambda: [3600, 900])


class RemediationResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_id: str
    outcome: Outcome
    reason: str = ""
    plan_hash: str = ""
    approvals: list[Approval] = Field(default_factory=list)


class WorkflowStatus(BaseModel):
    """What the `status` query (and the `decide` update) return."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    step: Step
    title: str = ""
    diagnosis: Diagnosis | None = None
    plan: Plan | None = None
    plan_hash: str = ""
    policy: PolicyDecision | None = None
    approvals: list[Approval] = Field(default_factory=list)
    approvals_required: int = 0
    approval_deadline: datetime | None = None
    alert_resolved: bool = False
    outcome: Outcome | None = None
    reason: str = ""
    refused: list[str] = Field(default_factory=list)


class IncidentUpdate(BaseModel):
    """Fields of the incident row to write; None leaves a field as it is."""

    model_config = ConfigDict(frozen=True)

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
    alert_group: dict[str, Any] | None = None
    diagnosis: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    policy_decision: dict[str, Any] | None = None
    closed_at: datetime | None = None


class AuditInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_id: str
    seq: int
    step: str
    status: str
    actor: str = "medic"
    plan_hash: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    duration_ms: int | None = None
    occurred_at: datetime | None = None


class ApprovalRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_id: str
    approval: Approval


class ObserveInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident: Incident


class AnalyzeInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident: Incident
    observation: Observation
    # Past incidents most like this one, with their outcomes (a rolled-back fix is flagged).
    similar: list[SimilarIncident] = Field(default_factory=list)
    # "" uses the worker's configured analyzer; "offline" forces the rule-based one (the fallback).
    analyzer: str = ""


class ReviewInput(BaseModel):
    """What the second-opinion reviewer is shown: the incident, what was seen, what is proposed."""

    model_config = ConfigDict(frozen=True)

    incident: Incident
    observation: Observation
    diagnosis: Diagnosis


class ReviewResult(BaseModel):
    """The diagnosis after review — the one proposed, or on a veto the same with no actions — and
    the least risk the policy must give it (None: the policy's own risk stands)."""

    model_config = ConfigDict(frozen=True)

    diagnosis: Diagnosis
    min_risk: RiskFloor | None = None
    vetoed: bool = False
    reason: str = ""
    reviewer: str = ""


class ValidateInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident: Incident
    observation: Observation
    diagnosis: Diagnosis
    protected_namespaces: list[str] = Field(default_factory=list)
    # A second-opinion review's risk floor: the policy's risk is the higher of its own and this.
    min_risk: RiskFloor | None = None


class PlanInput(BaseModel):
    """A plan bound to its incident and hash: what dry-run, snapshot and execute act on."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    plan: Plan
    plan_hash: str


class DryRunResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    problems: list[str] = Field(default_factory=list)
    diffs: list[dict[str, Any]] = Field(default_factory=list)


class SnapshotResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    resources: list[ResourceRef] = Field(default_factory=list)


class CheckRolloutInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_id: str
    targets: list[ResourceRef]
    # Restart totals per target key at the first completed check; None before that.
    baseline_restarts: dict[str, int] = Field(default_factory=dict)


class RestoreInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident_id: str
    targets: list[ResourceRef]
