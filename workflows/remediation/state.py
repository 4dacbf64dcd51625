"""What one remediation run knows, shared by the concerns that make up the workflow.

Only the workflow and its helpers in this package touch it, always from the workflow's own task,
so plain mutable dataclasses are enough. What the `status` query shows is read from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Diagnosis, Plan
    from domain.drift.model import AppDrift
    from domain.gitops.pull_requests import PullRequest, PullRequestEvent, PullRequestKind
    from domain.incident.model import Incident, Outcome, ResourceRef
    from domain.kube.observation import Observation
    from domain.policy.approval import Approval
    from domain.policy.decision import PolicyDecision
    from domain.review.plan_impact import PlanImpact
    from domain.steps.gitops import GitOpsChange
    from domain.steps.record import AuditInput
    from domain.steps.remediation import RemediationInput, Step

# How a path of the loop ends: the incident's outcome and the one-line reason for it.
Ending = tuple[Outcome, str]


@dataclass
class ApprovalState:
    """Decisions taken so far, and the approval round they count in.

    Rounds: the fix's plan, then (GitOps mode) a revert of it. A round's decisions are bound to its
    hash and counted from `round_start` in `approvals`.
    """

    approvals: list[Approval] = field(default_factory=list)
    rejection: Approval | None = None
    awaiting: bool = False
    deadline: datetime | None = None
    required: int = 0
    # Decisions taken by a signal or update, waiting to be recorded by the workflow's task.
    pending: list[AuditInput] = field(default_factory=list)
    # Signalled decisions the workflow refused, and why (an update's refusal reaches its caller).
    refused: list[str] = field(default_factory=list)
    round: PullRequestKind = "fix"
    round_hash: str | None = None
    round_start: int = 0
    cancel_on_resolve: bool = True

    def round_approvals(self) -> list[Approval]:
        return self.approvals[self.round_start :]

    def approved_count(self) -> int:
        return sum(1 for a in self.round_approvals() if a.decision == "approve")


@dataclass
class RunState:
    input: RemediationInput
    incident: Incident
    step: Step = "received"
    # The audit sequence: every audit event of the incident gets the next number.
    seq: int = 0
    observation: Observation | None = None
    diagnosis: Diagnosis | None = None
    plan_hash: str = ""
    policy: PolicyDecision | None = None
    # What the plan costs a month and its downtime and rollback findings (validate's result).
    impact: PlanImpact | None = None
    approval: ApprovalState = field(default_factory=ApprovalState)
    alert_resolved: bool = False
    outcome: Outcome | None = None
    reason: str = ""
    # A failed incident closes without its cooldown, freeing its group (see cooldown.py).
    skips_cooldown: bool = False
    # One line when the model could not be used and the offline rules diagnosed instead.
    model_unusable: str | None = None
    notifying: bool = False
    # GitOps mode: the change being made through Git (the fix, then a revert), its pull requests
    # as last seen, and merge/close events signalled for them.
    change: GitOpsChange | None = None
    pull_requests: dict[int, PullRequest] = field(default_factory=dict)
    pr_events: dict[int, PullRequestEvent] = field(default_factory=dict)
    # Drift incidents: what later scans found while this one was open (audited as they come).
    drift_updates: list[AppDrift] = field(default_factory=list)

    @property
    def subject_hash(self) -> str:
        """The hash decisions are bound to now: the plan's, or in a revert round the revert's."""
        return self.approval.round_hash or self.plan_hash


def targets_of(plan: Plan) -> list[ResourceRef]:
    """The workloads a plan changes, each once, in the order the plan names them."""
    seen: dict[str, ResourceRef] = {}
    for action in plan.actions:
        ref = action.target.without_container()
        seen.setdefault(ref.key, ref)
    return list(seen.values())
