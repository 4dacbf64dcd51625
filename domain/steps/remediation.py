"""The remediation workflow's own payloads: its input, its result and what its `status` query shows.

New fields always get defaults, so that recorded histories keep decoding.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from domain.analysis.plan import Diagnosis, Plan
from domain.base import Frozen
from domain.gitops.pull_requests import PullRequest, PullRequestKind
from domain.incident.model import Incident, Outcome
from domain.policy.approval import Approval
from domain.policy.decision import PolicyDecision
from domain.review.plan_impact import PlanImpact
from domain.settings import Settings
from domain.steps.gitops import GitOpsChange

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


class RemediationInput(Frozen):
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


class RemediationResult(Frozen):
    incident_id: str
    outcome: Outcome
    reason: str = ""
    plan_hash: str = ""
    approvals: list[Approval] = Field(default_factory=list)


class WorkflowStatus(Frozen):
    """What the `status` query (and the `decide` update) return."""

    incident_id: str
    step: Step
    title: str = ""
    diagnosis: Diagnosis | None = None
    plan: Plan | None = None
    plan_hash: str = ""
    policy: PolicyDecision | None = None
    # The plan's cost delta and downtime and rollback findings, shown beside what is approved.
    impact: PlanImpact | None = None
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


WorkflowStatus.model_rebuild()
