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
from domain.observation import ArgoApplication, Observation
from domain.plan import Diagnosis, Plan
from domain.pull_requests import PullRequest, PullRequestKind
from domain.settings import Settings

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
    "preparing_change",
    "opening_pull_request",
    "merging",
    "awaiting_merge",
    "syncing",
    "verifying",
    "reverting",
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
    # GitOps mode: how often the pull request is polled while the workflow waits for its merge
    # (a `pull_request_event` signal — the GitHub webhook, `medic pr merge` — ends the wait at
    # once), and how long it waits (0: as long as the approval wait).
    pr_poll_seconds: int = 30
    pr_merge_timeout_seconds: int = 0
    # Whether the revert pull request of a fix that failed verification needs the approvals the
    # fix needed (a new round: the same approvers may approve again). Off: it is opened and
    # merged as soon as verification fails, where the policy would let the fix auto-merge, else
    # it waits for its merge only.
    revert_needs_approval: bool = True


def remediation_input_for(settings: Settings, incident: Incident) -> RemediationInput:
    """An incident's workflow input, with the settings that shape its run (alerts and drift alike)."""
    return RemediationInput(
        incident=incident,
        approval_timeout_seconds=settings.approval_timeout_seconds,
        verify_timeout_seconds=settings.verify_timeout_seconds,
        verify_interval_seconds=settings.verify_interval_seconds,
        cooldown_seconds=settings.incident_cooldown_seconds,
        search_attributes=settings.search_attributes,
        second_opinion=bool(settings.reviewer),
        notify=bool(settings.slack_webhook_url or settings.notify_webhook_url),
        approval_reminders_seconds=list(settings.approval_reminders_seconds),
        pr_poll_seconds=settings.pr_poll_seconds,
        pr_merge_timeout_seconds=settings.pr_merge_timeout_seconds,
        revert_needs_approval=settings.revert_needs_approval,
    )


class DriftDefaults(BaseModel):
    """What a drift scan takes from the worker's configuration (`get_drift_defaults`): the input
    of the incidents it opens (with a placeholder incident), its page size, whether it compares
    raw manifests too, and whether reports are notified."""

    model_config = ConfigDict(frozen=True)

    remediation: RemediationInput
    page_size: int = 25
    raw_manifests: bool = False
    notify: bool = False
    # The scan continues as new past this many history events (or when the server suggests it).
    history_events_limit: int = 5_000


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
    # GitOps mode: the change being made through Git (the fix, then a revert), and the pull
    # requests opened for it, as last seen.
    gitops_change: GitOpsChange | None = None
    pull_requests: list[PullRequest] = Field(default_factory=list)
    # "fix" while the plan is decided on; "revert" while a revert of it is.
    approval_round: PullRequestKind = "fix"


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
    # Nothing left to change (an Argo CD sync of resources that already match Git).
    nothing_to_do: bool = False


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


# --- GitOps mode --------------------------------------------------------------------------------


class GitOpsApplication(BaseModel):
    """An Argo CD Application a GitOps change goes through: what the sync and its checks need."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str = "argocd"
    project: str = ""
    automated: bool = False


class FileDiff(BaseModel):
    """One file of a GitOps change: its unified diff (redacted) and what it changes. The file's
    full text stays out of the history: `open_pull_request` computes it again at `base_commit`."""

    model_config = ConfigDict(frozen=True)

    path: str
    diff: str
    description: str = ""


class PrepareChangeInput(BaseModel):
    """A plan's GitOps actions and the Applications that own their targets (from observe)."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    plan: Plan
    plan_hash: str
    applications: list[ArgoApplication]


class GitOpsChange(BaseModel):
    """The file changes a pull request makes, computed at `base_commit` of branch `base` — or the
    reasons none can be made with confidence (`refused`). `edit_hash` digests the diffs: the pull
    request opened later must make exactly these (it is refused otherwise). A revert also names
    the fix it undoes (`reverts_base`..`reverts_head`)."""

    model_config = ConfigDict(frozen=True)

    kind: PullRequestKind = "fix"
    base: str = ""
    base_commit: str = ""
    files: list[FileDiff] = Field(default_factory=list)
    edit_hash: str = ""
    refused: list[str] = Field(default_factory=list)
    # values the repository already has (no change needed), one line each
    unchanged: list[str] = Field(default_factory=list)
    applications: list[GitOpsApplication] = Field(default_factory=list)
    reverts_base: str = ""
    reverts_head: str = ""


class OpenPullRequestInput(BaseModel):
    """What `open_pull_request` needs: the change (recomputed at its base commit and checked
    against `change.edit_hash`) and what the PR body tells its reviewers."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    change: GitOpsChange
    plan: Plan
    plan_hash: str
    # the owning Applications' sources, to compute a fix's files again
    applications: list[ArgoApplication] = Field(default_factory=list)
    title: str = ""
    diagnosis: Diagnosis | None = None
    policy: PolicyDecision | None = None
    approvals: list[Approval] = Field(default_factory=list)
    # a revert: why the fix is undone, and the fix's pull request
    reason: str = ""
    fix: PullRequest | None = None


class PrepareRevertInput(BaseModel):
    """The fix to undo: its change (base commit, Applications) and its merged pull request."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    change: GitOpsChange
    fix: PullRequest


class PullRequestInput(BaseModel):
    """One pull request of an incident, for reading, merging or closing it."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    number: int
    actor: str = "medic"
    # closing: a comment left on the PR first, saying why
    comment: str = ""


class ApplicationsInput(BaseModel):
    """The Applications to sync to (or check against) `revision`, a commit of their branch."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    applications: list[GitOpsApplication]
    revision: str


class SyncTarget(BaseModel):
    """One resource an Argo CD sync of drift is limited to."""

    model_config = ConfigDict(frozen=True)

    group: str = ""
    kind: str
    namespace: str = ""
    name: str
    # The Application that manages it ("": any of the input's Applications).
    application: str = ""


class SyncInput(BaseModel):
    """A sync of drifted resources back to Git: the Applications and exactly the resources."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    applications: list[GitOpsApplication]
    resources: list[SyncTarget]


class SyncProgress(BaseModel):
    """Where a sync of drifted resources stands (`check_sync`): waiting, ready, or failed."""

    model_config = ConfigDict(frozen=True)

    state: Literal["waiting", "ready", "failed"]
    reason: str = ""
    resources: list[dict[str, str]] = Field(default_factory=list)


class ApplicationStatus(BaseModel):
    """One Application as Argo CD reports it, and whether it is synced to the revision asked."""

    model_config = ConfigDict(frozen=True)

    name: str
    sync_status: str = ""
    health_status: str = ""
    health_message: str = ""
    revision: str = ""
    # Synced at the revision asked for, or at a later commit of the branch that contains it
    synced: bool = False
    operation_phase: str = ""
    operation_message: str = ""
    operation_in_progress: bool = False
    # the last operation failed on the revision asked for (or a later one)
    operation_failed: bool = False
    automated: bool = False
    # a sync request was made by this call
    sync_requested: bool = False
    note: str = ""


class ApplicationCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    applications: list[ApplicationStatus] = Field(default_factory=list)


WorkflowStatus.model_rebuild()
