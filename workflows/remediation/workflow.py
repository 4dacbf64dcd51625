"""RemediationWorkflow: one incident, from alert to a verified (or rolled back) fix.

observe → recall → analyze → [review] → validate → then one path:
  observe mode: the would-be change shown (a GitOps file diff computed by reading the repository)
  direct:  [approval] → dry-run → snapshot → execute → verify → (restore the snapshot)
  gitops:  file change → [approval] → pull request → merge → Argo CD sync → verify → (revert PR)
  sync:    [approval] → dry-run → snapshot → Argo CD sync of the drifted resources → verify → (restore)
→ close (audit, store, notify, remember) → cooldown

This class holds the loop and the workflow's handlers; each concern lives in its own module of this
package, sharing one `RunState`. Orchestration only: every side effect is an activity, every step
writes an audit event, and the workflow ends with exactly one outcome.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.remediation.analysis import Analysis, Diagnosed
from workflows.remediation.approval import ApprovalGate
from workflows.remediation.converge import Convergence
from workflows.remediation.cooldown import Cooldown
from workflows.remediation.direct import DirectPath
from workflows.remediation.gitops import GitOpsPath
from workflows.remediation.memory import Memory
from workflows.remediation.merge import MergeWait
from workflows.remediation.notifications import Notifier
from workflows.remediation.observe_mode import ObserveMode
from workflows.remediation.options import EXECUTABLE_MODES
from workflows.remediation.patches import (
    PATCH_ARGO_SYNC,
    PATCH_GITOPS_MODE,
    PATCH_INCIDENT_MEMORY,
    PATCH_NOTIFICATIONS,
    PATCH_OBSERVATION_RECORDED,
    PATCH_OBSERVE_MODE,
)
from workflows.remediation.record import IncidentRecord
from workflows.remediation.snapshots import Snapshots
from workflows.remediation.state import Ending, RunState
from workflows.remediation.steps import StepFailed, Steps
from workflows.remediation.stubs import OBSERVE_INCIDENT, VALIDATE_PLAN
from workflows.remediation.sync import SyncPath
from workflows.remediation.toolkit import Toolkit
from workflows.remediation.verify import Verifier

with workflow.unsafe.imports_passed_through():
    from domain.drift.model import AppDrift
    from domain.gitops.pull_requests import PullRequestEvent
    from domain.incident.alerts import AlertGroup
    from domain.incident.model import Outcome
    from domain.incident.reason import reason_line
    from domain.kube.observation import Observation
    from domain.policy.approval import DecisionInput
    from domain.policy.decision import PolicyDecision
    from domain.steps.observe import ObserveInput
    from domain.steps.record import IncidentUpdate
    from domain.steps.remediation import RemediationInput, RemediationResult, WorkflowStatus
    from domain.steps.validate import ValidateInput


@workflow.defn
class RemediationWorkflow:
    @workflow.init
    def __init__(self, input: RemediationInput) -> None:
        # One alert group keeps one workflow id; each run of it is its own incident (an episode),
        # so that a later episode never mixes its audit trail, snapshots or approvals with an
        # earlier one's. The run id is fixed for the run, so this is deterministic.
        episode = workflow.info().run_id[:8]
        incident = input.incident.model_copy(update={"id": f"{input.incident.id}.{episode}"})
        self._state = state = RunState(input=input, incident=incident)
        steps = self._steps = Steps(state)
        record = self._record = IncidentRecord(state)
        notifier = self._notifier = Notifier(state)
        verifier = Verifier(state, steps)
        gate = self._gate = ApprovalGate(state, steps, record, notifier)
        kit = Toolkit(
            state=state,
            steps=steps,
            record=record,
            gate=gate,
            verifier=verifier,
            snapshots=Snapshots(state, steps, verifier),
            merges=MergeWait(state, steps),
            convergence=Convergence(state, steps, verifier),
        )
        self._memory = Memory(state, steps)
        self._analysis = Analysis(state, steps, self._memory, notifier)
        self._direct = DirectPath(kit)
        self._sync = SyncPath(kit)
        self._gitops = GitOpsPath(kit)
        self._observe = ObserveMode(state, steps)
        self._cooldown = Cooldown(state, steps)

    # ---- the loop -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: RemediationInput) -> RemediationResult:
        state = self._state
        # Asked only when notifications are on, so that histories without them replay unchanged.
        state.notifying = input.notify and workflow.patched(PATCH_NOTIFICATIONS)
        incident = state.incident
        first = incident.targets[0] if incident.targets else None
        await self._record.update(
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
        await self._steps.audit(
            "received",
            "completed",
            detail={
                "alerts": len(incident.alerts),
                "truncated_alerts": incident.group.truncatedAlerts if incident.group else 0,
                # A change request: who asked, through what, in which words (kept redacted).
                **(
                    {
                        "requester": incident.intent.requester,
                        "channel": incident.intent.channel,
                        "words": incident.intent.words,
                        "request_id": incident.intent.request_id,
                    }
                    if incident.intent is not None
                    else {}
                ),
            },
        )
        try:
            outcome, reason = await self._remediate()
        except StepFailed as failed:
            outcome, reason = "failed", failed.reason
        result = await self._close(outcome, reason)
        await self._cooldown.wait()
        await self._notifier.drain()
        return result

    async def _remediate(self) -> Ending:
        state = self._state
        # The workflow keeps the observation itself, with the store's unbounded retries, so that a
        # store outage cannot use up observe's retries; histories recorded before let observe do it.
        recorded_here = workflow.patched(PATCH_OBSERVATION_RECORDED)
        observation = await self._steps.run(
            "observing",
            OBSERVE_INCIDENT,
            ObserveInput(incident=state.incident, keep=not recorded_here),
            summary=lambda o: {
                "workloads": [w.id for w in o.workloads],
                "pods": len(o.pods),
                "events": len(o.events),
                "notes": o.notes,
            },
        )
        state.observation = observation
        if recorded_here:
            await self._record.keep(
                IncidentUpdate(incident_id=state.incident.id, observation=observation.model_dump(mode="json"))
            )
        diagnosed = await self._analysis.diagnose(observation)
        if not isinstance(diagnosed, Diagnosed):
            return diagnosed
        policy = await self._validate(observation, diagnosed)
        diagnosis, plan = diagnosed.diagnosis, diagnosed.diagnosis.plan

        if not policy.allowed or policy.risk == "deny":
            reasons = "; ".join(v.message for v in policy.violations) or "denied by policy"
            return "needs_review", f"policy denied the plan: {reasons}"
        if diagnosed.veto is not None:
            return "needs_review", f"the second-opinion review vetoed the plan: {diagnosed.veto}"
        if not plan.actions:
            if state.incident.source == "intent":
                # A change request that cannot be planned says why (an unknown or ambiguous
                # target, with its candidates): it is the request's answer.
                return "needs_review", diagnosis.summary
            if diagnosis.root_cause == "none":
                return "no_action", diagnosis.summary
            return "needs_review", f"no automatic fix for {diagnosis.root_cause}: {diagnosis.summary}"
        if policy.mode == "observe" and workflow.patched(PATCH_OBSERVE_MODE):
            return await self._observe.report(observation, diagnosis)

        if any(a.mode == "gitops" for a in plan.actions) and workflow.patched(PATCH_GITOPS_MODE):
            return await self._gitops.remediate(observation, diagnosis, policy)
        if any(a.kind == "sync_application" for a in plan.actions) and workflow.patched(PATCH_ARGO_SYNC):
            return await self._sync.remediate(plan, policy)
        unsupported = sorted({a.mode for a in plan.actions} - EXECUTABLE_MODES)
        if unsupported:
            return "needs_review", (
                f"the plan needs {', '.join(unsupported)} execution, which this medic cannot do yet: "
                "Argo CD-managed objects change only through the GitOps repository"
            )
        return await self._direct.remediate(plan, policy)

    async def _validate(self, observation: Observation, diagnosed: Diagnosed) -> PolicyDecision:
        """The policy's decision on the plan, recorded on the incident with the diagnosis."""
        state = self._state
        diagnosis, plan = diagnosed.diagnosis, diagnosed.diagnosis.plan
        policy = await self._steps.run(
            "validating",
            VALIDATE_PLAN,
            ValidateInput(
                incident=state.incident,
                observation=observation,
                diagnosis=diagnosis,
                protected_namespaces=list(state.input.protected_namespaces),
                min_risk=diagnosed.min_risk,
            ),
            summary=lambda p: p.model_dump(mode="json"),
        )
        state.policy = policy
        state.impact = policy.impact
        target = plan.actions[0].target if plan.actions else None
        await self._record.update(
            IncidentUpdate(
                incident_id=state.incident.id,
                status="validated",
                risk=policy.risk,
                root_cause=diagnosis.root_cause,
                plan_hash=state.plan_hash,
                summary=diagnosis.summary,
                namespace=target.namespace if target else None,
                target=target.without_container().key if target else None,
                diagnosis=diagnosis.model_dump(mode="json"),
                plan=plan.model_dump(mode="json"),
                policy_decision=policy.model_dump(mode="json"),
                model_unusable=state.model_unusable,
            )
        )
        return policy

    async def _close(self, outcome: Outcome, full_reason: str) -> RemediationResult:
        state = self._state
        # The one line an operator reads first (the row, the CLI, the console, notifications);
        # the audit keeps the reason whole.
        reason = reason_line(full_reason)
        state.outcome = outcome
        state.reason = reason
        state.step = "closed"
        await self._cooldown.flush_drift_updates()
        await self._steps.audit("closed", outcome, detail={"reason": full_reason})
        self._cooldown.skip_for_failure()
        closed_at = workflow.now()
        await self._record.update(
            IncidentUpdate(
                incident_id=state.incident.id,
                status=outcome,
                outcome=outcome,
                closed_at=closed_at,
                reason=reason,
                model_unusable=state.model_unusable,
            )
        )
        self._notifier.notify("outcome", outcome=outcome, reason=reason)
        if workflow.patched(PATCH_INCIDENT_MEMORY):
            await self._memory.remember(outcome, reason, closed_at)
        return RemediationResult(
            incident_id=state.incident.id,
            outcome=outcome,
            reason=reason,
            plan_hash=state.plan_hash,
            approvals=list(state.approval.approvals),
        )

    # ---- handlers -----------------------------------------------------------------------------

    # A signal proves nothing of its sender: its channel is `signal`, whatever its payload claims.

    @workflow.signal
    def approve(self, decision: DecisionInput) -> None:
        self._gate.take_signalled(decision.model_copy(update={"decision": "approve", "channel": "signal"}))

    @workflow.signal
    def reject(self, decision: DecisionInput) -> None:
        self._gate.take_signalled(decision.model_copy(update={"decision": "reject", "channel": "signal"}))

    @workflow.update
    def decide(self, decision: DecisionInput) -> WorkflowStatus:
        self._gate.take(decision, "update")
        return self.status()

    @decide.validator
    def _validate_decide(self, decision: DecisionInput) -> None:
        refusal = self._gate.refusal(decision)
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.signal
    def pull_request_event(self, event: PullRequestEvent) -> None:
        """A pull request of this incident was merged or closed (the GitHub webhook, `medic pr
        merge`). The workflow asks the host before acting on it: the host's answer decides."""
        self._state.pr_events[event.number] = event

    @workflow.signal
    def alert_notification(self, group: AlertGroup) -> None:
        """A repeated, updated or resolved notification of this incident's alert group."""
        self._state.alert_resolved = group.status == "resolved"

    @workflow.signal
    def drift_observed(self, drift: AppDrift) -> None:
        """A later drift scan found this incident's Application drifted (still, or again): it adds
        to this incident instead of opening another. Audited; the plan is not changed by it."""
        self._state.drift_updates.append(drift)

    @workflow.query
    def status(self) -> WorkflowStatus:
        state, approval = self._state, self._state.approval
        return WorkflowStatus(
            incident_id=state.incident.id,
            step=state.step,
            title=state.incident.title,
            diagnosis=state.diagnosis,
            plan=state.diagnosis.plan if state.diagnosis else None,
            plan_hash=state.subject_hash,
            policy=state.policy,
            impact=state.impact,
            approvals=list(approval.approvals),
            approvals_required=state.policy.approvals_required if state.policy else 0,
            approval_deadline=approval.deadline,
            alert_resolved=state.alert_resolved,
            outcome=state.outcome,
            reason=state.reason,
            refused=list(approval.refused),
            gitops_change=state.change,
            pull_requests=list(state.pull_requests.values()),
            approval_round=approval.round,
        )
