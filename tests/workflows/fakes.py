"""Fake activities for the workflow tests, registered on a test worker under the real activities' names.

`RemediationFakes` answers the steps every remediation run shares, whatever its path — the store's
records, incident memory, observe, analyze, validate, and the snapshot / rollout check / restore
around a change — from fields a test sets, and keeps what it was given. Each path's tests add the
steps of their path in a subclass. `Sent` is a fake `send_notification`. `replaced` swaps fakes for
other activities (real ones, or fakes of a test's own) of the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.analysis.plan import Diagnosis, Plan, RootCause
from domain.incident.memory import IncidentMemory, RecallInput, RecallResult, RememberInput, SimilarIncident
from domain.incident.model import ResourceRef
from domain.kube.observation import Observation
from domain.notifications.model import Notification, NotifyResult
from domain.policy.decision import PolicyDecision
from domain.review.plan_impact import PlanImpact
from domain.steps.analyze import AnalyzeInput
from domain.steps.change import (
    AppliedChange,
    CheckRolloutInput,
    ExecutionResult,
    PlanInput,
    RestoreInput,
    RolloutCheck,
    SnapshotResult,
    Verification,
)
from domain.steps.observe import ObserveInput
from domain.steps.record import ApprovalRecord, AuditInput, IncidentUpdate
from domain.steps.validate import ValidateInput, ValidateResult

Activity = Callable[..., Any]


def policy(risk: str, approvals: int = 1, allowed: bool = True, auto: bool = False) -> PolicyDecision:
    return PolicyDecision(allowed=allowed, risk=risk, approvals_required=approvals, auto_execute=auto)  # type: ignore[arg-type]


def activity_name(fn: Activity) -> str:
    """The name a worker registers `fn` under."""
    return str(fn.__temporal_activity_definition.name)  # type: ignore[attr-defined]


def replaced(activities: Iterable[Activity], *replacements: Activity) -> list[Activity]:
    """`activities` with each of `replacements` in place of the activity of the same name."""
    names = {activity_name(r) for r in replacements}
    return [a for a in activities if activity_name(a) not in names] + list(replacements)


@dataclass
class RemediationFakes:
    """The steps every remediation path shares, answering from the test's script and keeping what
    they were asked: `incident` (the recorded row), `audit`, `approvals`, `remembered`, `analyzed`."""

    decision: PolicyDecision = field(default_factory=lambda: policy("medium"))
    # validate's impact of the plan; None: a result as recorded before impacts
    impact: PlanImpact | None = None
    # observe's answer, for the incident at hand
    observation: Observation = field(default_factory=lambda: Observation(incident_id=""))
    root_cause: RootCause = "oom"
    summary: str = "test diagnosis"
    next_steps: list[str] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    # the workload a change acts on: what is snapshot, checked and restored
    workload: ResourceRef = field(
        default_factory=lambda: ResourceRef(namespace="payments", kind="Deployment", name="ledger")
    )
    healthy: bool = True  # the rollout after the change
    similar: list[SimilarIncident] = field(default_factory=list)
    # Whether `calls` also lists observe, recall, analyze and validate: the direct-mode tests
    # follow every step, the GitOps and drift tests only those of their path.
    lists_shared_steps: bool = False
    calls: list[str] = field(default_factory=list)
    audit: list[AuditInput] = field(default_factory=list)
    approvals: list[ApprovalRecord] = field(default_factory=list)
    incident: dict[str, Any] = field(default_factory=dict)
    remembered: list[IncidentMemory] = field(default_factory=list)
    analyzed: list[AnalyzeInput] = field(default_factory=list)

    def steps(self) -> list[tuple[str, str]]:
        return [(e.step, e.status) for e in self.audit]

    def _shared_step(self, name: str) -> None:
        if self.lists_shared_steps:
            self.calls.append(name)

    def activities(self) -> list[Activity]:
        fakes = self

        @activity.defn(name="record_incident")
        async def record_incident(update: IncidentUpdate) -> None:
            fakes.incident.update(update.model_dump(exclude_none=True))

        @activity.defn(name="record_audit")
        async def record_audit(event: AuditInput) -> None:
            fakes.audit.append(event)

        @activity.defn(name="record_approval")
        async def record_approval(record: ApprovalRecord) -> None:
            fakes.approvals.append(record)

        @activity.defn(name="recall_similar_incidents")
        async def recall_similar_incidents(input: RecallInput) -> RecallResult:
            fakes._shared_step("recall")
            return RecallResult(similar=list(fakes.similar))

        @activity.defn(name="remember_incident")
        async def remember_incident(input: RememberInput) -> None:
            fakes.remembered.append(input.memory)

        @activity.defn(name="observe_incident")
        async def observe_incident(input: ObserveInput) -> Observation:
            fakes._shared_step("observe")
            return fakes.observation.model_copy(update={"incident_id": input.incident.id})

        @activity.defn(name="analyze_incident")
        async def analyze_incident(input: AnalyzeInput) -> Diagnosis:
            fakes._shared_step("analyze")
            fakes.analyzed.append(input)
            return Diagnosis(
                root_cause=fakes.root_cause,
                summary=fakes.summary,
                plan=fakes.plan,
                next_steps=fakes.next_steps,
            )

        @activity.defn(name="validate_plan")
        async def validate_plan(input: ValidateInput) -> PolicyDecision:
            fakes._shared_step("validate")
            if fakes.impact is not None:
                return ValidateResult(**dict(fakes.decision), impact=fakes.impact)
            return fakes.decision

        @activity.defn(name="snapshot_resources")
        async def snapshot_resources(input: PlanInput) -> SnapshotResult:
            fakes.calls.append("snapshot")
            return SnapshotResult(resources=[fakes.workload])

        @activity.defn(name="check_rollout")
        async def check_rollout(input: CheckRolloutInput) -> Verification:
            fakes.calls.append("check_rollout")
            check = RolloutCheck(
                resource=fakes.workload,
                done=True,
                healthy=fakes.healthy,
                restarts=0 if fakes.healthy else fakes.calls.count("check_rollout"),
                reason="" if fakes.healthy else "pods crashing",
            )
            return Verification(ok=fakes.healthy, finished=True, checks=[check])

        @activity.defn(name="restore_snapshots")
        async def restore_snapshots(input: RestoreInput) -> ExecutionResult:
            fakes.calls.append("restore")
            fakes.healthy = True  # the restored object rolls out (its own fault aside)
            return ExecutionResult(
                changes=[AppliedChange(action_index=0, resource=fakes.workload, changed=True)]
            )

        return [
            record_incident,
            record_audit,
            record_approval,
            recall_similar_incidents,
            remember_incident,
            observe_incident,
            analyze_incident,
            validate_plan,
            snapshot_resources,
            check_rollout,
            restore_snapshots,
        ]


class Sent:
    """A fake `send_notification`: records what it is given, or fails as told."""

    def __init__(self, error: ApplicationError | None = None) -> None:
        self.error = error
        self.notifications: list[Notification] = []
        self.attempts: list[Notification] = []

    def activity(self) -> Activity:
        @activity.defn(name="send_notification")
        async def send_notification(notification: Notification) -> NotifyResult:
            self.attempts.append(notification)
            if self.error is not None:
                raise self.error
            self.notifications.append(notification)
            return NotifyResult(delivered=["fake"])

        return send_notification

    def events(self) -> list[str]:
        return [n.event for n in sorted(self.notifications, key=lambda n: n.seq)]
