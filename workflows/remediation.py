"""RemediationWorkflow: one incident, from alert to a verified (or rolled back) fix.

direct:  observe → analyze → validate → [approval] → dry-run → snapshot → execute → verify → (rollback)
gitops:  observe → analyze → validate → file change → [approval] → pull request → merge →
         Argo CD sync → verify → (revert pull request → [approval] → merge → sync → verify)

Orchestration only: every side effect is an activity, every step writes an audit event, and the
workflow ends with exactly one outcome.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Diagnosis, Plan
    from domain.drift.model import AppDrift
    from domain.gitops.flow import (
        degraded,
        needs_sync,
        owning_applications,
        verdict,
    )
    from domain.gitops.pull_requests import PullRequest, PullRequestEvent, PullRequestKind
    from domain.incident.alerts import AlertGroup
    from domain.incident.memory import RecallInput, RecallResult, RememberInput, memory_of
    from domain.incident.model import WORKLOAD_KINDS, Incident, Outcome, ResourceRef
    from domain.kube.observation import ArgoApplication, Observation
    from domain.notifications.model import Notification, NotificationEvent, NotifyResult
    from domain.policy.approval import Approval, DecisionInput, approval_refusal
    from domain.policy.decision import PolicyDecision
    from domain.steps.analyze import AnalyzeInput, ReviewInput, ReviewResult, RiskFloor
    from domain.steps.change import (
        CheckRolloutInput,
        DryRunResult,
        ExecutionResult,
        PlanInput,
        RestoreInput,
        SnapshotResult,
        Verification,
    )
    from domain.steps.gitops import (
        ApplicationCheck,
        ApplicationsInput,
        GitOpsApplication,
        GitOpsChange,
        OpenPullRequestInput,
        PrepareChangeInput,
        PrepareRevertInput,
        PullRequestInput,
    )
    from domain.steps.observe import ObserveInput
    from domain.steps.record import ApprovalRecord, AuditInput, IncidentUpdate
    from domain.steps.remediation import RemediationInput, RemediationResult, Step, WorkflowStatus
    from domain.steps.sync import SyncInput, SyncProgress, SyncTarget
    from domain.steps.validate import ValidateInput
    from workflows.search import (
        MEDIC_NAMESPACE,
        MEDIC_RISK,
        MEDIC_ROOT_CAUSE,
        MEDIC_STATUS,
        MEDIC_TARGET,
    )


@dataclass(frozen=True)
class StepOptions:
    timeout: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None


_STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
STORE = StepOptions(timedelta(seconds=30), _STORE_RETRY)
OBSERVE = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)
)
ANALYZE = StepOptions(
    timedelta(seconds=120), RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=5)
)
# A second opinion is optional: a few attempts, then the workflow goes on without it.
REVIEW = StepOptions(
    timedelta(seconds=120), RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=3)
)
VALIDATE = StepOptions(timedelta(seconds=30), RetryPolicy(maximum_attempts=5))
DRY_RUN = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)
)
SNAPSHOT = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)
)
# Execute and restore heartbeat between objects, so a dead worker's attempt is retried quickly;
# the retry finds the change already applied and does nothing.
EXECUTE = StepOptions(
    timedelta(seconds=120),
    RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=20),
    heartbeat=timedelta(seconds=10),
)
CHECK = StepOptions(
    timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(seconds=15), maximum_attempts=5)
)


# Execution modes histories recorded before GitOps mode could carry out: such a run sent a plan
# needing another one to a human (its replay still does; see PATCH_GITOPS_MODE).
EXECUTABLE_MODES = frozenset({"direct"})
# Marks the histories that carry out GitOps plans through a pull request. Asked only when a plan
# has a GitOps action, so that a history recorded before (which sent it to needs_review) replays.
PATCH_GITOPS_MODE = "gitops-mode"
# Git work (a clone or fetch, a push) and PR host calls; Temporal retries transient failures,
# a rate limit after the host's Retry-After.
GIT = StepOptions(
    timedelta(seconds=300), RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=10)
)
PR_WRITE = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=60), maximum_attempts=10)
)
# A poll of the PR while waiting for its merge: a failed poll is only a missed look.
PR_POLL = StepOptions(
    timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3)
)
ARGO = StepOptions(
    timedelta(seconds=60), RetryPolicy(maximum_interval=timedelta(seconds=15), maximum_attempts=5)
)
# A sync request is made again (for an Application without automated sync) at most this often.
MAX_SYNC_REQUESTS = 3


# Analyzer failures (ApplicationError types from activities/analyze.py): output that must not be
# acted on goes to a human; a model that cannot answer hands over to the offline rules.
MODEL_OUTPUT_REJECTED = frozenset({"InvalidModelOutput", "InvalidDiagnosis"})
MODEL_NOT_USABLE = frozenset({"ModelUnavailable", "ModelRefused", "PromptTooLarge"})

# Marks the histories that carry out a `sync_application` plan: drift brought back to Git by an
# Argo CD sync of exactly the drifted resources. Asked only for such plans, so that a history
# recorded before (whose dry-run refused the action) replays.
PATCH_ARGO_SYNC = "argo-sync"
SYNC = StepOptions(
    timedelta(seconds=60),
    RetryPolicy(maximum_interval=timedelta(seconds=15), maximum_attempts=5),
    heartbeat=timedelta(seconds=30),
)

# Marks the histories that recall and remember incidents (older histories replay without them).
PATCH_INCIDENT_MEMORY = "incident-memory"
RECALL_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3)
# Marks the histories that ask for a second-opinion review (only when the input turns it on).
PATCH_SECOND_OPINION = "second-opinion"
# Marks the histories that send notifications (only when the input turns them on).
PATCH_NOTIFICATIONS = "notifications"
# Notifications never hold up the remediation: started and left to run, retried (a rate limit
# after the receiver's Retry-After) for up to an hour.
NOTIFY = StepOptions(timedelta(seconds=30), RetryPolicy(maximum_interval=timedelta(minutes=5)))
NOTIFY_SCHEDULE_TO_CLOSE = timedelta(hours=1)
# How long a finished incident waits for its outstanding notifications before it closes anyway.
NOTIFY_DRAIN = timedelta(minutes=5)


class StepFailed(Exception):
    """An activity failed for good; the workflow ends with an outcome instead of failing."""

    def __init__(self, step: str, message: str, error_type: str | None) -> None:
        super().__init__(message)
        self.step = step
        self.error_type = error_type


def _cause(err: ActivityError) -> tuple[str, str | None]:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.message, cause.type
    return str(cause or err), None


@workflow.defn
class RemediationWorkflow:
    @workflow.init
    def __init__(self, input: RemediationInput) -> None:
        self._input = input
        # One alert group keeps one workflow id; each run of it is its own incident (an episode),
        # so that a later episode never mixes its audit trail, snapshots or approvals with an
        # earlier one's. The run id is fixed for the run, so this is deterministic.
        episode = workflow.info().run_id[:8]
        self._incident = input.incident.model_copy(update={"id": f"{input.incident.id}.{episode}"})
        self._step: Step = "received"
        self._seq = 0
        self._diagnosis: Diagnosis | None = None
        self._observation: Observation | None = None
        self._plan_hash = ""
        self._policy: PolicyDecision | None = None
        self._approvals: list[Approval] = []
        self._rejection: Approval | None = None
        self._awaiting = False
        self._deadline: datetime | None = None
        self._alert_resolved = False
        self._outcome: Outcome | None = None
        self._reason = ""
        self._refused: list[str] = []
        self._pending_audit: list[AuditInput] = []
        self._required = 0
        self._notifying = False
        self._notify_seq = 0
        self._notifications: list[tuple[Notification, workflow.ActivityHandle[NotifyResult]]] = []
        # Approval rounds: the fix's plan, then (GitOps mode) a revert of it. A round's decisions
        # are bound to its hash and counted from `_round_start` in `_approvals`.
        self._round: PullRequestKind = "fix"
        self._round_hash: str | None = None
        self._round_start = 0
        self._cancel_on_resolve = True
        # GitOps mode
        self._change: GitOpsChange | None = None
        self._pull_requests: dict[int, PullRequest] = {}
        self._pr_events: dict[int, PullRequestEvent] = {}
        # Drift incidents: what later scans found while this one was open (audited as they come).
        self._drift_updates: list[AppDrift] = []

    # ---- the loop -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: RemediationInput) -> RemediationResult:
        # Asked only when notifications are on, so that histories without them replay unchanged.
        self._notifying = input.notify and workflow.patched(PATCH_NOTIFICATIONS)
        incident = self._incident
        first = incident.targets[0] if incident.targets else None
        await self._record_incident(
            IncidentUpdate(
                incident_id=incident.id,
                source=incident.source,
                title=incident.title,
                status="received",
                namespace=first.namespace if first else None,
                target=first.key if first else None,
                alert_group=incident.group.model_dump(mode="json") if incident.group else None,
            )
        )
        await self._audit(
            "received",
            "completed",
            detail={
                "alerts": len(incident.alerts),
                "truncated_alerts": incident.group.truncatedAlerts if incident.group else 0,
            },
        )
        try:
            outcome, reason = await self._remediate()
        except StepFailed as failed:
            outcome, reason = "failed", f"{failed.step}: {failed}"
        result = await self._close(outcome, reason)
        await self._cool_down()
        await self._drain_notifications()
        return result

    async def _cool_down(self) -> None:
        """Stay open after the outcome until the alert resolves or the cooldown ends.

        Alertmanager repeats a firing notification every repeat_interval; while this run is open
        those repeats land here (and change nothing) instead of starting a new incident — so a
        rejection, an expiry or a fix waiting for the alert to clear holds. A notification after
        the cooldown opens a new incident.
        """
        cooldown = self._input.cooldown_seconds
        if self._incident.source == "drift":
            await self._cool_down_drift(cooldown)
            return
        if cooldown <= 0 or self._alert_resolved:
            return
        try:
            await workflow.wait_condition(lambda: self._alert_resolved, timeout=timedelta(seconds=cooldown))
        except TimeoutError:
            return

    async def _cool_down_drift(self, cooldown: int) -> None:
        """A drift incident stays open after its outcome for the cooldown, so that the scans that
        still find the drift (one reported, rejected or rolled back) add to it instead of opening
        another; each of their findings is audited. A resolved drift closes at once: the sync
        removed it, and drift found after that is new."""
        await self._flush_drift_updates()
        if cooldown <= 0 or self._outcome == "resolved":
            return
        deadline = workflow.now() + timedelta(seconds=cooldown)
        while True:
            left = deadline - workflow.now()
            if left <= timedelta(0):
                return
            try:
                await workflow.wait_condition(lambda: bool(self._drift_updates), timeout=left)
            except TimeoutError:
                return
            await self._flush_drift_updates()

    async def _flush_drift_updates(self) -> None:
        while self._drift_updates:
            drift = self._drift_updates.pop(0)
            await self._audit(
                "drift_observed",
                "completed",
                detail={
                    "application": drift.application,
                    "revision": drift.revision,
                    "resources": [
                        {
                            "resource": r.key,
                            "fields": [f.path for f in r.fields],
                            "live_missing": r.live_missing,
                        }
                        for r in drift.resources
                    ],
                },
            )

    async def _remediate(self) -> tuple[Outcome, str]:
        incident = self._incident
        observation: Observation = await self._run_step(
            "observing",
            "observe_incident",
            ObserveInput(incident=incident),
            Observation,
            OBSERVE,
            summary=lambda o: {
                "workloads": [w.id for w in o.workloads],
                "pods": len(o.pods),
                "events": len(o.events),
                "notes": o.notes,
            },
        )
        self._observation = observation
        recall = RecallResult()
        if workflow.patched(PATCH_INCIDENT_MEMORY):
            recall = await self._recall(observation)
        analyze_input = AnalyzeInput(incident=incident, observation=observation, similar=recall.similar)
        try:
            diagnosis = await self._analyze(analyze_input)
        except StepFailed as failed:
            if failed.error_type in MODEL_OUTPUT_REJECTED:
                return "needs_review", f"the analysis was rejected: {failed}"
            if failed.error_type not in MODEL_NOT_USABLE:
                raise
            # The model cannot answer (after its retries): the offline rules decide.
            diagnosis = await self._analyze(analyze_input.model_copy(update={"analyzer": "offline"}))
        self._diagnosis = diagnosis
        self._plan_hash = diagnosis.plan.plan_hash()
        min_risk: RiskFloor | None = None
        veto: str | None = None
        if self._input.second_opinion and diagnosis.plan.actions and workflow.patched(PATCH_SECOND_OPINION):
            review = await self._review(observation, diagnosis)
            if review is not None:
                min_risk = review.min_risk
                if not review.diagnosis.plan.actions:
                    veto = review.reason or "no reason given"
                    diagnosis = review.diagnosis
        self._diagnosis = diagnosis
        plan = diagnosis.plan
        self._plan_hash = plan.plan_hash()
        policy: PolicyDecision = await self._run_step(
            "validating",
            "validate_plan",
            ValidateInput(
                incident=incident,
                observation=observation,
                diagnosis=diagnosis,
                protected_namespaces=list(self._input.protected_namespaces),
                min_risk=min_risk,
            ),
            PolicyDecision,
            VALIDATE,
            summary=lambda p: p.model_dump(mode="json"),
        )
        self._policy = policy
        target = plan.actions[0].target if plan.actions else None
        await self._record_incident(
            IncidentUpdate(
                incident_id=incident.id,
                status="validated",
                risk=policy.risk,
                root_cause=diagnosis.root_cause,
                plan_hash=self._plan_hash,
                summary=diagnosis.summary,
                namespace=target.namespace if target else None,
                target=target.without_container().key if target else None,
                diagnosis=diagnosis.model_dump(mode="json"),
                plan=plan.model_dump(mode="json"),
                policy_decision=policy.model_dump(mode="json"),
            )
        )

        if not policy.allowed or policy.risk == "deny":
            reasons = "; ".join(v.message for v in policy.violations) or "denied by policy"
            return "needs_review", f"policy denied the plan: {reasons}"
        if veto is not None:
            return "needs_review", f"the second-opinion review vetoed the plan: {veto}"
        if not plan.actions:
            if diagnosis.root_cause == "none":
                return "no_action", diagnosis.summary
            return "needs_review", f"no automatic fix for {diagnosis.root_cause}: {diagnosis.summary}"

        if any(a.mode == "gitops" for a in plan.actions) and workflow.patched(PATCH_GITOPS_MODE):
            return await self._remediate_gitops(observation, diagnosis, policy)
        if any(a.kind == "sync_application" for a in plan.actions) and workflow.patched(PATCH_ARGO_SYNC):
            return await self._remediate_sync(plan, policy)
        unsupported = sorted({a.mode for a in plan.actions} - EXECUTABLE_MODES)
        if unsupported:
            return "needs_review", (
                f"the plan needs {', '.join(unsupported)} execution, which this medic cannot do yet: "
                "Argo CD-managed objects change only through the GitOps repository"
            )

        decided = await self._await_approval(policy)
        if decided is not None:
            return decided

        plan_input = PlanInput(incident_id=incident.id, plan=plan, plan_hash=self._plan_hash)
        dry_run: DryRunResult = await self._run_step(
            "dry_run",
            "dry_run_plan",
            plan_input,
            DryRunResult,
            DRY_RUN,
            summary=lambda r: {"ok": r.ok, "problems": r.problems, "diffs": r.diffs},
        )
        if not dry_run.ok:
            return "needs_review", "dry-run refused the change: " + "; ".join(dry_run.problems)
        await self._snapshot(plan_input)
        targets = _targets(plan)
        # From here on the cluster may have changed: any failure restores the snapshot.
        try:
            await self._run_step(
                "executing",
                "execute_plan",
                plan_input,
                ExecutionResult,
                EXECUTE,
                summary=lambda r: {"changes": [c.model_dump(mode="json") for c in r.changes]},
            )
            verification = await self._verify(targets, "verifying")
        except StepFailed as failed:
            return await self._roll_back(targets, f"{failed.step} failed: {failed}")
        if verification.ok:
            return "resolved", verification.reason or "verification passed"
        return await self._roll_back(targets, f"verification failed: {verification.reason}")

    async def _remediate_sync(self, plan: Plan, policy: PolicyDecision) -> tuple[Outcome, str]:
        """Drift brought back to Git through Argo CD: after the approval, a read-only dry-run of
        Argo CD's own comparison and a snapshot of the live objects, one sync limited to exactly the
        drifted resources (never pruning); Argo CD must then report each of them Synced and the
        rollout must verify as a direct change does. Any failure restores the snapshot."""
        request = sync_request(self._incident, plan)
        unsnapshotted = sorted(
            {f"{t.namespace}/{t.kind}/{t.name}" for t in request.resources if t.kind not in WORKLOAD_KINDS}
        )
        if unsnapshotted:
            return "needs_review", (
                "a sync of " + ", ".join(unsnapshotted) + " could not be rolled back: medic snapshots "
                "workloads only, so a human syncs it"
            )
        decided = await self._await_approval(policy)
        if decided is not None:
            return decided
        dry_run: DryRunResult = await self._run_step(
            "dry_run",
            "dry_run_sync",
            request,
            DryRunResult,
            SYNC,
            summary=lambda r: {
                "ok": r.ok,
                "nothing_to_do": r.nothing_to_do,
                "problems": r.problems,
                "diffs": r.diffs,
            },
        )
        if dry_run.nothing_to_do:
            return "no_action", "the drifted resources match Git again: nothing to sync"
        if not dry_run.ok:
            return "needs_review", "dry-run refused the sync: " + "; ".join(dry_run.problems)
        plan_input = PlanInput(incident_id=self._incident.id, plan=plan, plan_hash=self._plan_hash)
        await self._snapshot(plan_input)
        targets = _targets(plan)
        try:
            await self._run_step(
                "executing",
                "sync_resources",
                request,
                ApplicationCheck,
                SYNC,
                summary=lambda c: {"applications": [a.model_dump(mode="json") for a in c.applications]},
            )
            synced = await self._await_sync(request)
            if synced.state != "ready":
                return await self._roll_back(targets, f"the sync did not complete: {synced.reason}")
            verification = await self._verify(targets, "verifying")
        except StepFailed as failed:
            return await self._roll_back(targets, f"{failed.step} failed: {failed}")
        if verification.ok:
            return "resolved", f"Argo CD synced the drifted resources back to Git; {verification.reason}"
        return await self._roll_back(targets, f"verification failed: {verification.reason}")

    async def _await_sync(self, request: SyncInput) -> SyncProgress:
        """Wait on a workflow timer until Argo CD reports every synced resource Synced (and its
        workloads Healthy), the sync fails, or the verification deadline passes."""
        self._step = "syncing"
        started = workflow.now()
        deadline = started + timedelta(seconds=self._input.verify_timeout_seconds)
        while True:
            progress: SyncProgress = await self._activity(
                "syncing", "check_sync", request, SyncProgress, CHECK
            )
            if progress.state != "waiting":
                break
            if workflow.now() >= deadline:
                within = self._input.verify_timeout_seconds
                progress = progress.model_copy(
                    update={"state": "failed", "reason": f"not synced within {within}s: {progress.reason}"}
                )
                break
            await workflow.sleep(timedelta(seconds=self._input.verify_interval_seconds))
        await self._audit(
            "syncing",
            "completed" if progress.state == "ready" else "failed",
            duration=workflow.now() - started,
            detail={"reason": progress.reason, "resources": progress.resources},
        )
        return progress

    async def _snapshot(self, plan_input: PlanInput) -> None:
        """The live objects the plan changes, kept (sealed) before any change: what a rollback restores."""
        await self._run_step(
            "snapshot",
            "snapshot_resources",
            plan_input,
            SnapshotResult,
            SNAPSHOT,
            summary=lambda r: {"resources": [x.key for x in r.resources]},
        )

    async def _analyze(self, input: AnalyzeInput) -> Diagnosis:
        diagnosis: Diagnosis = await self._run_step(
            "analyzing",
            "analyze_incident",
            input,
            Diagnosis,
            ANALYZE,
            summary=lambda d: {
                "root_cause": d.root_cause,
                "summary": d.summary,
                "actions": [a.kind for a in d.plan.actions],
                "analyzer": d.analyzer,
            },
        )
        return diagnosis

    async def _review(self, observation: Observation, diagnosis: Diagnosis) -> ReviewResult | None:
        """A second opinion on the plan: it may veto it or raise its risk, nothing else.

        A review can only make things safer, so its absence never blocks: a reviewer that is not
        configured, unavailable after its retries, refused or invalid is audited as failed and the
        policy decides alone. So is a review that returns a plan other than the one proposed or
        none (a review may drop the plan, never change it).
        """
        self._step = "reviewing"
        started = workflow.now()
        without = "continued without a review: the policy's own risk stands"
        try:
            review: ReviewResult = await workflow.execute_activity(
                "review_diagnosis",
                ReviewInput(incident=self._incident, observation=observation, diagnosis=diagnosis),
                result_type=ReviewResult,
                start_to_close_timeout=REVIEW.timeout,
                retry_policy=REVIEW.retry,
            )
        except ActivityError as err:
            message, error_type = _cause(err)
            await self._audit(
                "reviewing",
                "failed",
                duration=workflow.now() - started,
                detail={"error": message, "type": error_type, "then": without},
            )
            return None
        reviewed = review.diagnosis.plan
        if reviewed.actions and reviewed.plan_hash() != diagnosis.plan.plan_hash():
            await self._audit(
                "reviewing",
                "failed",
                duration=workflow.now() - started,
                detail={"error": "the review changed the plan, which a review may not do", "then": without},
            )
            return None
        if reviewed.actions:
            # Not vetoed: the proposed diagnosis stands as it was; only the risk floor is taken.
            review = review.model_copy(update={"diagnosis": diagnosis})
        await self._audit(
            "reviewing",
            "completed",
            duration=workflow.now() - started,
            detail={
                "reviewer": review.reviewer,
                "vetoed": not reviewed.actions,
                "min_risk": review.min_risk,
                "reason": review.reason,
            },
        )
        return review

    async def _recall(self, observation: Observation) -> RecallResult:
        """Past incidents like this one. Memory helps the analysis; its failure never stops it."""
        self._step = "recalling"
        started = workflow.now()
        try:
            recall: RecallResult = await workflow.execute_activity(
                "recall_similar_incidents",
                RecallInput(incident=self._incident, observation=observation),
                result_type=RecallResult,
                start_to_close_timeout=STORE.timeout,
                retry_policy=RECALL_RETRY,
            )
        except ActivityError as err:
            message, _ = _cause(err)
            await self._audit("recalling", "failed", detail={"error": message})
            return RecallResult()
        await self._audit(
            "recalling",
            "completed",
            duration=workflow.now() - started,
            detail={
                "similar": [
                    {
                        "incident_id": s.incident_id,
                        "outcome": s.outcome,
                        "score": round(s.score, 2),
                        "rolled_back_before": s.rolled_back_before,
                    }
                    for s in recall.similar
                ]
            },
        )
        return recall

    async def _roll_back(self, targets: list[ResourceRef], why: str) -> tuple[Outcome, str]:
        incident = self._incident
        await self._run_step(
            "rolling_back",
            "restore_snapshots",
            RestoreInput(incident_id=incident.id, targets=targets),
            ExecutionResult,
            EXECUTE,
            summary=lambda r: {"changes": [c.model_dump(mode="json") for c in r.changes]},
        )
        after = await self._verify(targets, "verifying_rollback", require_healthy=False)
        if not after.finished:
            return "failed", f"{why}; the restored snapshot did not finish rolling out: {after.reason}"
        return "rolled_back", f"{why}; snapshot restored"

    # ---- GitOps mode --------------------------------------------------------------------------

    async def _remediate_gitops(
        self, observation: Observation, diagnosis: Diagnosis, policy: PolicyDecision
    ) -> tuple[Outcome, str]:
        """A plan on objects Argo CD manages: a pull request against the GitOps repository, merged,
        synced by Argo CD and verified as a direct change is — and, when verification fails,
        reverted by another pull request. The file change is computed before the approval, so the
        approvers decide on the exact diff; a change that cannot be made with confidence goes to a
        human without one."""
        plan = diagnosis.plan
        applications, unowned = owning_applications(plan, observation)
        if unowned:
            return "needs_review", "the plan cannot be made through Git: " + "; ".join(unowned)
        change: GitOpsChange = await self._run_step(
            "preparing_change",
            "prepare_gitops_change",
            PrepareChangeInput(
                incident_id=self._incident.id,
                plan=plan,
                plan_hash=self._plan_hash,
                applications=applications,
            ),
            GitOpsChange,
            GIT,
            summary=_change_summary,
        )
        self._change = change
        if change.refused:
            return "needs_review", "no GitOps change can be made with confidence: " + "; ".join(
                change.refused
            )
        if not change.files:
            return "needs_review", (
                "the GitOps repository already holds what the plan asks for ("
                + "; ".join(change.unchanged)
                + "), yet the cluster differs: Argo CD's sync needs a human's look"
            )
        decided = await self._await_approval(policy)
        if decided is not None:
            return decided
        targets = _targets(plan)
        fix = await self._open_pull_request(change, plan, applications)
        merged = await self._await_merge(fix, policy)
        if not isinstance(merged, PullRequest):
            return merged
        commit = merged.merge_commit or merged.head_commit
        verification = await self._converge(change.applications, commit, targets, require_healthy=True)
        if verification.ok:
            return "resolved", f"pull request #{merged.number} merged and synced; {verification.reason}"
        return await self._revert(
            change, merged, policy, plan, applications, targets, f"verification failed: {verification.reason}"
        )

    async def _revert(
        self,
        change: GitOpsChange,
        fix: PullRequest,
        policy: PolicyDecision,
        plan: Plan,
        applications: list[ArgoApplication],
        targets: list[ResourceRef],
        why: str,
    ) -> tuple[Outcome, str]:
        """Undo a merged fix with a revert pull request (by default decided on as the fix was),
        then wait for its merge, Argo CD's sync and the rollout."""
        try:
            revert: GitOpsChange = await self._run_step(
                "reverting",
                "prepare_gitops_revert",
                PrepareRevertInput(incident_id=self._incident.id, change=change, fix=fix),
                GitOpsChange,
                GIT,
                summary=_change_summary,
            )
        except StepFailed as failed:
            return "failed", f"{why}; the revert could not be prepared: {failed}"
        if revert.refused:
            return "failed", f"{why}; no revert can be made with confidence: " + "; ".join(revert.refused)
        self._change = revert
        if revert.files:
            if self._input.revert_needs_approval:
                self._start_round("revert", revert.edit_hash)
                decided = await self._await_approval(policy)
                if decided is not None:
                    return (
                        "failed",
                        f"{why}; the revert pull request was not approved ({decided[0]}: {decided[1]})",
                    )
            try:
                pr = await self._open_pull_request(revert, plan, applications, reason=why, fix=fix)
            except StepFailed as failed:
                return "failed", f"{why}; the revert pull request could not be opened: {failed}"
            merged = await self._await_merge(pr, policy)
            if not isinstance(merged, PullRequest):
                return "failed", f"{why}; revert pull request #{pr.number}: {merged[1]}"
            commit, how = merged.merge_commit or merged.head_commit, f"pull request #{merged.number}"
        else:
            # The branch no longer holds the fix (a human reverted it already): sync what it holds.
            commit, how = revert.base_commit, f"commit {revert.base_commit[:12]} (the fix was already undone)"
        after = await self._converge(
            revert.applications or change.applications,
            commit,
            targets,
            require_healthy=False,
            step="verifying_rollback",
        )
        if not after.ok:
            return "failed", f"{why}; the revert ({how}) did not finish rolling out: {after.reason}"
        return "rolled_back", f"{why}; reverted by {how}"

    async def _open_pull_request(
        self,
        change: GitOpsChange,
        plan: Plan,
        applications: list[ArgoApplication],
        *,
        reason: str = "",
        fix: PullRequest | None = None,
    ) -> PullRequest:
        pr: PullRequest = await self._run_step(
            "opening_pull_request",
            "open_pull_request",
            OpenPullRequestInput(
                incident_id=self._incident.id,
                change=change,
                plan=plan,
                plan_hash=self._plan_hash,
                applications=applications,
                title=self._incident.title,
                diagnosis=self._diagnosis,
                policy=self._policy,
                approvals=self._round_approvals(),
                reason=reason,
                fix=fix,
            ),
            PullRequest,
            GIT,
            summary=_pr_summary,
        )
        self._pull_requests[pr.number] = pr
        await self._record_incident(IncidentUpdate(incident_id=self._incident.id, status="awaiting_merge"))
        return pr

    async def _await_merge(
        self, pr: PullRequest, policy: PolicyDecision
    ) -> PullRequest | tuple[Outcome, str]:
        """The merged pull request, or the outcome when it is closed unmerged (`rejected`) or not
        merged in time (`expired`; medic closes it, so that no later merge lands unwatched).

        Where the policy lets the plan run without approval, medic merges it itself; otherwise (and
        when the host refuses medic's merge) a human merges it. The wait ends on a
        `pull_request_event` signal or on a poll of the host every `pr_poll_seconds`; either way
        the host's own answer decides.
        """
        if policy.auto_execute and policy.approvals_required == 0:
            try:
                merged: PullRequest = await self._run_step(
                    "merging",
                    "merge_pull_request",
                    PullRequestInput(incident_id=self._incident.id, number=pr.number, actor="medic"),
                    PullRequest,
                    PR_WRITE,
                    summary=_pr_summary,
                )
            except StepFailed:
                pass  # audited; a human merges it instead
            else:
                self._pull_requests[merged.number] = merged
                if merged.status == "merged":
                    return merged
        self._step = "awaiting_merge"
        started = workflow.now()
        timeout = (
            self._input.pr_merge_timeout_seconds
            or policy.approval_timeout_seconds
            or self._input.approval_timeout_seconds
        )
        deadline = started + timedelta(seconds=timeout)
        poll = timedelta(seconds=max(1, self._input.pr_poll_seconds))
        await self._audit(
            "awaiting_merge",
            "started",
            detail={
                "number": pr.number,
                "url": pr.url,
                "branch": pr.branch,
                "deadline": deadline.isoformat(),
            },
        )
        number = pr.number
        last_error = ""
        while True:
            event = self._pr_events.pop(number, None)
            if event is None:
                now = workflow.now()
                if now >= deadline:
                    break
                try:
                    await workflow.wait_condition(
                        lambda: number in self._pr_events, timeout=min(poll, deadline - now)
                    )
                    continue
                except TimeoutError:
                    pass  # time to poll
            try:
                current: PullRequest = await workflow.execute_activity(
                    "get_pull_request",
                    PullRequestInput(incident_id=self._incident.id, number=number),
                    result_type=PullRequest,
                    start_to_close_timeout=PR_POLL.timeout,
                    retry_policy=PR_POLL.retry,
                )
            except ActivityError as err:
                # A missed look; the next poll (or a signal) tries again until the deadline.
                message, error_type = _cause(err)
                if message != last_error:
                    last_error = message
                    await self._audit("awaiting_merge", "info", detail={"error": message, "type": error_type})
                continue
            self._pull_requests[number] = current
            if current.status == "merged":
                await self._audit(
                    "awaiting_merge",
                    "completed",
                    actor=current.merged_by or (event.actor if event else "") or "medic",
                    duration=workflow.now() - started,
                    detail={"number": number, "merge_commit": current.merge_commit, "via": _via(event)},
                )
                return current
            if current.status == "closed":
                who = current.closed_by or (event.actor if event else "") or "someone"
                await self._audit(
                    "awaiting_merge",
                    "cancelled",
                    actor=who,
                    duration=workflow.now() - started,
                    detail={"number": number, "via": _via(event)},
                )
                return "rejected", f"pull request #{number} was closed without merging by {who}"
        await self._audit("awaiting_merge", "expired", duration=workflow.now() - started)
        try:
            closed: PullRequest = await self._activity(
                "awaiting_merge",
                "close_pull_request",
                PullRequestInput(
                    incident_id=self._incident.id,
                    number=number,
                    actor="medic",
                    comment=f"medic: not merged within {timeout}s; the incident expired, so this pull "
                    "request is closed (a later merge would change the cluster with nobody watching).",
                ),
                PullRequest,
                PR_WRITE,
            )
            self._pull_requests[number] = closed
        except StepFailed:
            pass  # audited; the outcome stands
        return "expired", f"pull request #{number} was not merged within {timeout}s"

    async def _converge(
        self,
        applications: list[GitOpsApplication],
        commit: str,
        targets: list[ResourceRef],
        *,
        require_healthy: bool,
        step: str = "verifying",
    ) -> Verification:
        """Ask Argo CD to sync `commit` (a refresh; a sync request where no automated sync runs),
        wait on a workflow timer until it reports every Application synced to it — and Healthy,
        unless `require_healthy` is off (a revert restores a state that was not) — then verify the
        rollout as direct mode does. A failed sync, a Degraded Application or the deadline fail."""
        self._step = "syncing"
        started = workflow.now()
        deadline = started + timedelta(seconds=self._input.verify_timeout_seconds)
        request = ApplicationsInput(incident_id=self._incident.id, applications=applications, revision=commit)
        try:
            check: ApplicationCheck = await self._activity(
                "syncing", "sync_applications", request, ApplicationCheck, ARGO
            )
            requests, streak = 1, 0
            while True:
                check = await self._activity("syncing", "check_applications", request, ApplicationCheck, ARGO)
                streak = streak + 1 if degraded(check) else 0
                state, reason = verdict(
                    check,
                    degraded_persists=streak >= self._input.verify_stable_checks,
                    require_healthy=require_healthy,
                )
                if state != "waiting":
                    break
                if workflow.now() >= deadline:
                    state = "failed"
                    within = self._input.verify_timeout_seconds
                    reason = f"Argo CD did not sync {commit[:12]} within {within}s: {reason}"
                    break
                if needs_sync(check) and requests < MAX_SYNC_REQUESTS:
                    requests += 1
                    await self._activity("syncing", "sync_applications", request, ApplicationCheck, ARGO)
                await workflow.sleep(timedelta(seconds=self._input.verify_interval_seconds))
        except StepFailed as failed:
            return Verification(ok=False, finished=False, reason=f"Argo CD could not be asked: {failed}")
        await self._audit(
            "syncing",
            "completed" if state == "ready" else "failed",
            duration=workflow.now() - started,
            detail={
                "revision": commit,
                "reason": reason,
                "applications": [a.model_dump(mode="json") for a in check.applications],
            },
        )
        if state != "ready":
            return Verification(ok=False, finished=False, reason=reason)
        return await self._verify(targets, step, require_healthy=require_healthy)

    # ---- approval -----------------------------------------------------------------------------

    async def _await_approval(self, policy: PolicyDecision) -> tuple[Outcome, str] | None:
        required = policy.approvals_required
        if policy.auto_execute and required == 0:
            await self._audit("awaiting_approval", "skipped", detail={"reason": "auto-execute by policy"})
            return None
        required = self._required = max(required, 1)
        timeout = policy.approval_timeout_seconds or self._input.approval_timeout_seconds
        self._step = "awaiting_approval"
        self._awaiting = True
        deadline = self._deadline = workflow.now() + timedelta(seconds=timeout)
        # A revert round binds decisions to the revert's hash: the console decides on what the row shows.
        await self._record_incident(
            IncidentUpdate(
                incident_id=self._incident.id, status="awaiting_approval", plan_hash=self._round_hash
            )
        )
        await self._audit(
            "awaiting_approval",
            "started",
            detail={
                "approvals_required": required,
                "risk": policy.risk,
                "deadline": deadline.isoformat(),
            },
        )
        self._notify("awaiting_approval")
        started = workflow.now()
        reminders = self._reminder_times(deadline)

        def woken() -> bool:
            return (
                bool(self._pending_audit)
                or self._rejection is not None
                or self._approved_count() >= required
                or self._cancelled_by_resolution()
            )

        try:
            while True:
                # Without reminders (always, when notifications are off) this waits for the
                # deadline, exactly as histories recorded before reminders existed.
                wake = reminders[0] if reminders else deadline
                try:
                    await workflow.wait_condition(
                        woken, timeout=max(wake - workflow.now(), timedelta(milliseconds=1))
                    )
                except TimeoutError:
                    if not reminders:
                        raise  # the deadline
                    # One reminder, however many fell due while the workflow was busy, and none
                    # when a decision came in with the timer.
                    while reminders and reminders[0] <= workflow.now():
                        reminders.pop(0)
                    if not woken():
                        self._notify("approval_reminder")
                    continue
                await self._flush_decisions()
                if self._rejection is not None:
                    r = self._rejection
                    return "rejected", f"rejected by {r.approver}: {r.reason}"
                if self._approved_count() >= required:
                    break
                if self._cancelled_by_resolution():
                    await self._audit("awaiting_approval", "cancelled", detail={"reason": "alert resolved"})
                    return "no_action", "the alert resolved while waiting for approval"
        except TimeoutError:
            self._awaiting = False
            await self._flush_decisions()
            # Decisions that arrived with the deadline still count.
            if self._rejection is not None:
                return "rejected", f"rejected by {self._rejection.approver}: {self._rejection.reason}"
            if self._approved_count() < required:
                await self._audit("awaiting_approval", "expired", duration=workflow.now() - started)
                return "expired", f"no decision within {timeout}s"
        finally:
            self._awaiting = False
        await self._audit(
            "awaiting_approval",
            "completed",
            duration=workflow.now() - started,
            detail={"approvers": [a.approver for a in self._round_approvals()]},
        )
        return None

    def _round_approvals(self) -> list[Approval]:
        return self._approvals[self._round_start :]

    def _approved_count(self) -> int:
        return sum(1 for a in self._round_approvals() if a.decision == "approve")

    def _cancelled_by_resolution(self) -> bool:
        """A resolved alert ends the wait when nobody has approved yet (in a round that allows it)."""
        return self._cancel_on_resolve and self._alert_resolved and not self._round_approvals()

    @property
    def _subject_hash(self) -> str:
        """The hash decisions are bound to now: the plan's, or in a revert round the revert's."""
        return self._round_hash or self._plan_hash

    def _start_round(self, kind: PullRequestKind, subject_hash: str) -> None:
        """A new approval round: earlier decisions do not count in it, and the same approvers
        may decide again (bound to the new hash)."""
        self._round = kind
        self._round_hash = subject_hash
        self._round_start = len(self._approvals)
        self._rejection = None
        self._cancel_on_resolve = False

    def _reminder_times(self, deadline: datetime) -> list[datetime]:
        """When to remind of a pending approval (notifications on): each configured offset before
        the deadline, earliest first; offsets already past when the wait starts are skipped."""
        if not self._notifying:
            return []
        now = workflow.now()
        times = {deadline - timedelta(seconds=s) for s in self._input.approval_reminders_seconds if s > 0}
        return sorted(t for t in times if t > now)

    async def _flush_decisions(self) -> None:
        while self._pending_audit:
            entry = self._pending_audit.pop(0)
            approval = Approval.model_validate(entry.detail["approval"])
            await workflow.execute_activity(
                "record_approval",
                ApprovalRecord(incident_id=self._incident.id, approval=approval),
                start_to_close_timeout=STORE.timeout,
                retry_policy=STORE.retry,
            )
            await self._audit(entry.step, entry.status, actor=entry.actor, detail=entry.detail)
            # Decisions are taken in order; this one is the last of them not yet pending.
            taken = self._approvals[self._round_start : len(self._approvals) - len(self._pending_audit)]
            self._notify(
                "decision",
                approver=approval.approver,
                decision=approval.decision,
                reason=approval.reason,
                approvals=sum(1 for a in taken if a.decision == "approve"),
            )

    def _refusal(self, decision: DecisionInput) -> str | None:
        """Why a decision cannot be taken now, or None when it can."""
        if not self._awaiting:
            return f"incident is not waiting for approval (step: {self._step})"
        if decision.plan_hash and decision.plan_hash != self._subject_hash:
            return f"plan hash {decision.plan_hash} is not the current plan ({self._subject_hash})"
        if any(a.approver == decision.approver for a in self._round_approvals()):
            return f"{decision.approver} has already decided on this plan"
        if self._policy is not None:
            return approval_refusal(self._policy.approvers, decision.approver, decision.groups)
        return None

    def _take(self, decision: DecisionInput, via: str) -> None:
        approval = Approval(
            approver=decision.approver,
            decision=decision.decision,
            reason=decision.reason,
            at=workflow.now(),
            plan_hash=self._subject_hash,
            via=via,
        )
        if decision.decision == "reject":
            self._rejection = approval
        self._approvals.append(approval)
        self._pending_audit.append(
            AuditInput(
                incident_id=self._incident.id,
                seq=0,
                step="decision",
                status=decision.decision,
                actor=decision.approver,
                detail={"approval": approval.model_dump(mode="json")},
            )
        )

    def _signal_decision(self, decision: DecisionInput, via: str) -> None:
        refusal = self._refusal(decision)
        if refusal is not None:
            workflow.logger.warning("refused %s from %s: %s", decision.decision, decision.approver, refusal)
            self._refused.append(f"{decision.decision} by {decision.approver}: {refusal}")
            return
        self._take(decision, via)

    @workflow.signal
    def approve(self, decision: DecisionInput) -> None:
        self._signal_decision(decision.model_copy(update={"decision": "approve"}), "signal")

    @workflow.signal
    def reject(self, decision: DecisionInput) -> None:
        self._signal_decision(decision.model_copy(update={"decision": "reject"}), "signal")

    @workflow.update
    def decide(self, decision: DecisionInput) -> WorkflowStatus:
        self._take(decision, "update")
        return self.status()

    @decide.validator
    def _validate_decide(self, decision: DecisionInput) -> None:
        refusal = self._refusal(decision)
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.signal
    def pull_request_event(self, event: PullRequestEvent) -> None:
        """A pull request of this incident was merged or closed (the GitHub webhook, `medic pr
        merge`). The workflow asks the host before acting on it: the host's answer decides."""
        self._pr_events[event.number] = event

    @workflow.signal
    def alert_notification(self, group: AlertGroup) -> None:
        """A repeated, updated or resolved notification of this incident's alert group."""
        if group.status == "resolved":
            self._alert_resolved = True
        else:
            self._alert_resolved = False

    @workflow.signal
    def drift_observed(self, drift: AppDrift) -> None:
        """A later drift scan found this incident's Application drifted (still, or again): it adds
        to this incident instead of opening another. Audited; the plan is not changed by it."""
        self._drift_updates.append(drift)

    @workflow.query
    def status(self) -> WorkflowStatus:
        return WorkflowStatus(
            incident_id=self._incident.id,
            step=self._step,
            title=self._incident.title,
            diagnosis=self._diagnosis,
            plan=self._diagnosis.plan if self._diagnosis else None,
            plan_hash=self._subject_hash,
            policy=self._policy,
            approvals=list(self._approvals),
            approvals_required=self._policy.approvals_required if self._policy else 0,
            approval_deadline=self._deadline,
            alert_resolved=self._alert_resolved,
            outcome=self._outcome,
            reason=self._reason,
            refused=list(self._refused),
            gitops_change=self._change,
            pull_requests=list(self._pull_requests.values()),
            approval_round=self._round,
        )

    # ---- verification -------------------------------------------------------------------------

    async def _verify(
        self, targets: list[ResourceRef], step: str, require_healthy: bool = True
    ) -> Verification:
        """Poll the rollout on a workflow timer until it is healthy and stable, or the deadline."""
        self._step = "verifying" if require_healthy else "rolling_back"
        started = workflow.now()
        deadline = started + timedelta(seconds=self._input.verify_timeout_seconds)
        baseline: dict[str, int] = {}
        stable = 0
        last = Verification(ok=False, finished=False, reason="not checked yet")
        while True:
            last = await self._activity(
                step,
                "check_rollout",
                CheckRolloutInput(incident_id=self._incident.id, targets=targets, baseline_restarts=baseline),
                Verification,
                CHECK,
            )
            done = all(c.done for c in last.checks)
            if done and not baseline:
                baseline = {c.resource.key: c.restarts for c in last.checks}
            if not require_healthy and done:
                last = Verification(ok=True, finished=True, checks=last.checks, reason="rollout finished")
                break
            increased = [
                c for c in last.checks if c.done and c.restarts > baseline.get(c.resource.key, c.restarts)
            ]
            if increased:
                last = Verification(
                    ok=False,
                    finished=True,
                    checks=last.checks,
                    reason="restarts increasing: " + ", ".join(c.resource.key for c in increased),
                )
                break
            stable = stable + 1 if (done and all(c.healthy for c in last.checks)) else 0
            if stable >= self._input.verify_stable_checks:
                last = Verification(
                    ok=True, finished=True, checks=last.checks, reason="rollout healthy and stable"
                )
                break
            if workflow.now() >= deadline:
                reasons = "; ".join(c.reason for c in last.checks if not c.healthy) or last.reason
                last = Verification(
                    ok=False,
                    finished=done,
                    checks=last.checks,
                    reason=f"not healthy within {self._input.verify_timeout_seconds}s: {reasons}",
                )
                break
            await workflow.sleep(timedelta(seconds=self._input.verify_interval_seconds))
        await self._audit(
            step,
            "passed" if last.ok else "failed",
            duration=workflow.now() - started,
            detail={"reason": last.reason, "checks": [c.model_dump(mode="json") for c in last.checks]},
        )
        return last

    # ---- plumbing -----------------------------------------------------------------------------

    async def _activity(self, step: str, name: str, arg: Any, result_type: type, options: StepOptions) -> Any:
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=options.timeout,
                retry_policy=options.retry,
                heartbeat_timeout=options.heartbeat,
            )
        except ActivityError as err:
            message, error_type = _cause(err)
            await self._audit(step, "failed", detail={"error": message, "type": error_type})
            raise StepFailed(step, message, error_type) from err

    async def _run_step(
        self, step: Step, name: str, arg: Any, result_type: type, options: StepOptions, summary: Any
    ) -> Any:
        self._step = step
        started = workflow.now()
        result = await self._activity(step, name, arg, result_type, options)
        await self._audit(step, "completed", duration=workflow.now() - started, detail=summary(result))
        return result

    async def _audit(
        self,
        step: str,
        status: str,
        *,
        actor: str = "medic",
        detail: dict[str, Any] | None = None,
        duration: timedelta | None = None,
    ) -> None:
        self._seq += 1
        await workflow.execute_activity(
            "record_audit",
            AuditInput(
                incident_id=self._incident.id,
                seq=self._seq,
                step=step,
                status=status,
                actor=actor,
                plan_hash=self._plan_hash or None,
                detail=detail or {},
                duration_ms=int(duration.total_seconds() * 1000) if duration is not None else None,
                occurred_at=workflow.now(),
            ),
            start_to_close_timeout=STORE.timeout,
            retry_policy=STORE.retry,
        )

    async def _record_incident(self, update: IncidentUpdate) -> None:
        await workflow.execute_activity(
            "record_incident", update, start_to_close_timeout=STORE.timeout, retry_policy=STORE.retry
        )
        self._publish(update)

    def _publish(self, update: IncidentUpdate) -> None:
        """Mirror the incident row into search attributes and a one-line memo for the Temporal UI."""
        if not self._input.search_attributes:
            return
        values = (
            (MEDIC_STATUS, update.status),
            (MEDIC_RISK, update.risk),
            (MEDIC_NAMESPACE, update.namespace),
            (MEDIC_TARGET, update.target),
            (MEDIC_ROOT_CAUSE, update.root_cause),
        )
        changes = [key.value_set(value) for key, value in values if value]
        if changes:
            workflow.upsert_search_attributes(changes)
        status = update.status or self._step
        summary = update.summary or (self._diagnosis.summary if self._diagnosis else self._incident.title)
        workflow.upsert_memo({"summary": f"[{status}] {summary}"[:300]})

    async def _close(self, outcome: Outcome, reason: str) -> RemediationResult:
        self._outcome = outcome
        self._reason = reason
        self._step = "closed"
        await self._flush_drift_updates()
        await self._audit("closed", outcome, detail={"reason": reason})
        closed_at = workflow.now()
        await self._record_incident(
            IncidentUpdate(
                incident_id=self._incident.id, status=outcome, outcome=outcome, closed_at=closed_at
            )
        )
        self._notify("outcome", outcome=outcome, reason=reason)
        if workflow.patched(PATCH_INCIDENT_MEMORY):
            memory = memory_of(
                self._incident,
                outcome=outcome,
                reason=reason,
                closed_at=closed_at,
                observation=self._observation,
                diagnosis=self._diagnosis,
            )
            try:
                await workflow.execute_activity(
                    "remember_incident",
                    RememberInput(memory=memory),
                    start_to_close_timeout=STORE.timeout,
                    retry_policy=RECALL_RETRY,
                )
            except ActivityError as err:
                # The outcome stands; a lost memory only makes later analyses less informed.
                workflow.logger.warning("could not remember %s: %s", self._incident.id, _cause(err)[0])
        return RemediationResult(
            incident_id=self._incident.id,
            outcome=outcome,
            reason=reason,
            plan_hash=self._plan_hash,
            approvals=list(self._approvals),
        )

    # ---- notifications ------------------------------------------------------------------------

    def _notify(self, event: NotificationEvent, **fields: Any) -> None:
        """Start sending a notification and go on without waiting for it (notifications on).

        It is retried on its own; `_drain_notifications` gives the outstanding ones a bounded time
        before the workflow returns. The activity builds the links from ids and redacts the text.
        """
        if not self._notifying:
            return
        self._notify_seq += 1
        diagnosis, policy = self._diagnosis, self._policy
        target = (
            diagnosis.plan.actions[0].target.without_container()
            if diagnosis and diagnosis.plan.actions
            else None
        )
        if target is None and self._incident.targets:
            target = self._incident.targets[0].without_container()
        values: dict[str, Any] = {
            "event": event,
            "incident_id": self._incident.id,
            "workflow_id": workflow.info().workflow_id,
            "seq": self._notify_seq,
            "title": self._incident.title,
            "status": self._outcome or self._step,
            "risk": policy.risk if policy else "",
            "namespace": target.namespace if target else "",
            "target": target.key if target else "",
            "root_cause": diagnosis.root_cause if diagnosis else "",
            "summary": diagnosis.summary if diagnosis else "",
            "approvals": self._approved_count(),
            "approvals_required": self._required,
            "deadline": self._deadline,
            "occurred_at": workflow.now(),
        }
        notification = Notification.model_validate({**values, **fields})
        handle = workflow.start_activity(
            "send_notification",
            notification,
            result_type=NotifyResult,
            start_to_close_timeout=NOTIFY.timeout,
            schedule_to_close_timeout=NOTIFY_SCHEDULE_TO_CLOSE,
            retry_policy=NOTIFY.retry,
        )
        self._notifications.append((notification, handle))

    async def _drain_notifications(self) -> None:
        """Wait a bounded time for notifications still being sent, then close regardless: a lost
        notification is logged, never a reason to fail or hold the incident."""
        if not self._notifications:
            return
        handles = [handle for _, handle in self._notifications]
        if not all(h.done() for h in handles):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: all(h.done() for h in handles), timeout=NOTIFY_DRAIN)
        for notification, handle in self._notifications:
            what = f"{notification.event} notification #{notification.seq} of {self._incident.id}"
            if not handle.done():
                workflow.logger.warning("gave up on the %s after %s", what, NOTIFY_DRAIN)
                handle.cancel()
            elif not handle.cancelled() and (err := handle.exception()) is not None:
                message = _cause(err)[0] if isinstance(err, ActivityError) else str(err)
                workflow.logger.warning("could not send the %s: %s", what, message)


def _targets(plan: Plan) -> list[ResourceRef]:
    seen: dict[str, ResourceRef] = {}
    for action in plan.actions:
        ref = action.target.without_container()
        seen.setdefault(ref.key, ref)
    return list(seen.values())


def sync_request(incident: Incident, plan: Plan) -> SyncInput:
    """The Applications and exactly the resources a `sync_application` plan syncs; API groups and
    the Applications' namespace come from the drift the scan found."""
    drift = incident.drift
    groups = {r.key: r.group for r in drift.resources} if drift else {}
    app_namespace = drift.app_namespace if drift else "argocd"
    project = drift.project if drift else ""
    applications: dict[str, GitOpsApplication] = {}
    resources: dict[str, SyncTarget] = {}
    for action in plan.actions:
        if action.kind != "sync_application":
            continue
        applications.setdefault(
            action.application,
            GitOpsApplication(name=action.application, namespace=app_namespace, project=project),
        )
        ref = action.target.without_container()
        resources.setdefault(
            ref.key,
            SyncTarget(
                group=groups.get(ref.key, "apps" if ref.kind in WORKLOAD_KINDS else ""),
                kind=ref.kind,
                namespace=ref.namespace,
                name=ref.name,
                application=action.application,
            ),
        )
    return SyncInput(
        incident_id=incident.id, applications=list(applications.values()), resources=list(resources.values())
    )


def _via(event: PullRequestEvent | None) -> str:
    return "signal" if event is not None else "poll"


def _change_summary(change: GitOpsChange) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "base": change.base,
        "base_commit": change.base_commit,
        "edit_hash": change.edit_hash,
        "files": [f.model_dump(mode="json") for f in change.files],
        "refused": change.refused,
        "unchanged": change.unchanged,
        "applications": [a.name for a in change.applications],
    }


def _pr_summary(pr: PullRequest) -> dict[str, Any]:
    return pr.model_dump(mode="json", exclude_none=True)
