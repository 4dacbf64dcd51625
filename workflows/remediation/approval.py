"""Approval: the wait for the decisions a plan needs, its deadline and reminders, and which
decisions are taken or refused.

Decisions arrive as signals (`approve`, `reject`: refused ones are only logged and listed) or as the
`decide` update (refused by its validator, so the caller hears why). Either way they are taken in
the handler and recorded by the workflow's own task (`flush`), in the order they came. Each carries
the channel it came through; which channels count, and whose groups are believed, is the policy's
(`domain.policy.approval.decision_refusal`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.remediation.notifications import Notifier
from workflows.remediation.patches import PATCH_FOUR_EYES
from workflows.remediation.record import IncidentRecord
from workflows.remediation.state import Ending, RunState
from workflows.remediation.steps import Steps
from workflows.remediation.stubs import RECORD_APPROVAL
from workflows.runner import execute

with workflow.unsafe.imports_passed_through():
    from domain.gitops.pull_requests import PullRequestKind
    from domain.policy.approval import Approval, DecisionInput, decision_refusal
    from domain.policy.decision import PolicyDecision
    from domain.steps.record import ApprovalRecord, AuditInput, IncidentUpdate


# A decision made outside medic: whether one may have come (checked on every wake-up), and the
# activity-backed check that confirms it (True: it did, the wait ends).
DecidedElsewhere = tuple[Callable[[], bool], Callable[[], Awaitable[bool]]]


class ApprovalGate:
    def __init__(self, state: RunState, steps: Steps, record: IncidentRecord, notifier: Notifier) -> None:
        self._state = state
        self._steps = steps
        self._record = record
        self._notifier = notifier

    async def wait(
        self, policy: PolicyDecision, *, decided_elsewhere: DecidedElsewhere | None = None
    ) -> Ending | None:
        """None once the round has the approvals the policy requires (or needs none); otherwise
        how the wait ended: rejected, expired, or no action (the alert resolved first).

        `decided_elsewhere` (a pull request already open, merged or closed on its host: a
        deploy's revert) is a wake-up condition and the check that confirms it; once confirmed,
        the wait ends with None too, and the caller reads what the host decided."""
        state, approval = self._state, self._state.approval
        required = policy.approvals_required
        if policy.auto_execute and required == 0:
            await self._steps.audit(
                "awaiting_approval", "skipped", detail={"reason": "auto-execute by policy"}
            )
            return None
        required = approval.required = max(required, 1)
        timeout = policy.approval_timeout_seconds or state.input.approval_timeout_seconds
        state.step = "awaiting_approval"
        approval.awaiting = True
        deadline = approval.deadline = workflow.now() + timedelta(seconds=timeout)
        # A revert round binds decisions to the revert's hash: the console decides on what the row shows.
        await self._record.update(
            IncidentUpdate(
                incident_id=state.incident.id, status="awaiting_approval", plan_hash=approval.round_hash
            )
        )
        await self._steps.audit(
            "awaiting_approval",
            "started",
            detail={"approvals_required": required, "risk": policy.risk, "deadline": deadline.isoformat()},
        )
        self._notifier.notify("awaiting_approval")
        started = workflow.now()
        reminders = self._reminder_times(deadline)

        def woken() -> bool:
            return (
                bool(approval.pending)
                or approval.rejection is not None
                or approval.approved_count() >= required
                or self._cancelled_by_resolution()
                or (decided_elsewhere is not None and decided_elsewhere[0]())
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
                        self._notifier.notify("approval_reminder")
                    continue
                await self.flush()
                if approval.rejection is not None:
                    r = approval.rejection
                    return "rejected", f"rejected by {r.approver}: {r.reason}"
                if approval.approved_count() >= required:
                    break
                if self._cancelled_by_resolution():
                    await self._steps.audit(
                        "awaiting_approval", "cancelled", detail={"reason": "alert resolved"}
                    )
                    return "no_action", "the alert resolved while waiting for approval"
                if decided_elsewhere is not None and decided_elsewhere[0]() and await decided_elsewhere[1]():
                    await self._steps.audit(
                        "awaiting_approval",
                        "cancelled",
                        duration=workflow.now() - started,
                        detail={"reason": "the pull request was merged or closed on its host"},
                    )
                    return None
        except TimeoutError:
            approval.awaiting = False
            await self.flush()
            # Decisions that arrived with the deadline still count.
            if approval.rejection is not None:
                return "rejected", f"rejected by {approval.rejection.approver}: {approval.rejection.reason}"
            if approval.approved_count() < required:
                await self._steps.audit("awaiting_approval", "expired", duration=workflow.now() - started)
                return "expired", f"no decision within {timeout}s"
        finally:
            approval.awaiting = False
        await self._steps.audit(
            "awaiting_approval",
            "completed",
            duration=workflow.now() - started,
            detail={"approvers": [a.approver for a in approval.round_approvals()]},
        )
        return None

    def start_round(self, kind: PullRequestKind, subject_hash: str) -> None:
        """A new approval round: earlier decisions do not count in it, and the same approvers
        may decide again (bound to the new hash)."""
        approval = self._state.approval
        approval.round = kind
        approval.round_hash = subject_hash
        approval.round_start = len(approval.approvals)
        approval.rejection = None
        approval.cancel_on_resolve = False

    def refusal(self, decision: DecisionInput) -> str | None:
        """Why a decision cannot be taken now, or None when it can (the rules of today: names
        compared in their normal form, approvals counted only through the channels the policy
        counts, groups believed only from a verified channel).

        The `decide` validator asks only this: a validator's verdict is not in the history (a
        refused update leaves no event, and replay does not run validators), so it needs no patch
        marker, and cannot ask one (it is read-only)."""
        state, approval = self._state, self._state.approval
        if not approval.awaiting:
            return f"incident is not waiting for approval (step: {state.step})"
        if decision.plan_hash and decision.plan_hash != state.subject_hash:
            return f"plan hash {decision.plan_hash} is not the current plan ({state.subject_hash})"
        intent = state.incident.intent
        requester = intent.requester if intent is not None else None
        return decision_refusal(state.policy, approval.round_approvals(), decision, requester)

    def _refusal_before_four_eyes(self, decision: DecisionInput) -> str | None:
        """`refusal` as it was before PATCH_FOUR_EYES: names compared as written, every channel
        counted, a signal's groups believed."""
        state, approval = self._state, self._state.approval
        if not approval.awaiting:
            return f"incident is not waiting for approval (step: {state.step})"
        if decision.plan_hash and decision.plan_hash != state.subject_hash:
            return f"plan hash {decision.plan_hash} is not the current plan ({state.subject_hash})"
        if any(a.approver == decision.approver for a in approval.round_approvals()):
            return f"{decision.approver} has already decided on this plan"
        policy = state.policy
        if policy is None or policy.approvers is None or "*" in policy.approvers:
            return None
        if {f"user:{decision.approver}", *(f"group:{g}" for g in decision.groups)} & set(policy.approvers):
            return None
        allowed = ", ".join(policy.approvers) or "nobody (no approver rule covers this plan)"
        return f"{decision.approver} is not allowed to decide on this plan; the policy allows: {allowed}"

    def take(self, decision: DecisionInput, via: str) -> None:
        """Count a decision (already checked by `refusal`); it is recorded by `flush`."""
        state, approval = self._state, self._state.approval
        taken = Approval(
            approver=decision.approver,
            decision=decision.decision,
            reason=decision.reason,
            at=workflow.now(),
            plan_hash=state.subject_hash,
            via=via,
            channel=decision.channel,
        )
        if decision.decision == "reject":
            approval.rejection = taken
        approval.approvals.append(taken)
        approval.pending.append(
            AuditInput(
                incident_id=state.incident.id,
                seq=0,
                step="decision",
                status=decision.decision,
                actor=decision.approver,
                detail={"approval": taken.model_dump(mode="json")},
            )
        )

    def take_signalled(self, decision: DecisionInput) -> None:
        """A signal's decision: taken, or refused with the reason logged and listed in `status`.

        A signal's verdict decides the commands that follow, so where today's rules and those
        before PATCH_FOUR_EYES disagree, the marker decides which hold (asked only then, so that a
        history where they agree carries no marker and replays as before)."""
        refusal = self.refusal(decision)
        before = self._refusal_before_four_eyes(decision)
        if (refusal is None) != (before is None) and not workflow.patched(PATCH_FOUR_EYES):
            refusal = before
        if refusal is not None:
            workflow.logger.warning("refused %s from %s: %s", decision.decision, decision.approver, refusal)
            self._state.approval.refused.append(f"{decision.decision} by {decision.approver}: {refusal}")
            return
        self.take(decision, "signal")

    async def flush(self) -> None:
        """Record the decisions taken since the last flush, each with its audit event and notification."""
        state, approval = self._state, self._state.approval
        while approval.pending:
            entry = approval.pending.pop(0)
            taken = Approval.model_validate(entry.detail["approval"])
            await execute(RECORD_APPROVAL, ApprovalRecord(incident_id=state.incident.id, approval=taken))
            await self._steps.audit(entry.step, entry.status, actor=entry.actor, detail=entry.detail)
            # Decisions are taken in order; this one is the last of them not yet pending.
            so_far = approval.approvals[
                approval.round_start : len(approval.approvals) - len(approval.pending)
            ]
            self._notifier.notify(
                "decision",
                approver=taken.approver,
                decision=taken.decision,
                reason=taken.reason,
                approvals=sum(1 for a in so_far if a.decision == "approve"),
            )

    def _cancelled_by_resolution(self) -> bool:
        """A resolved alert ends the wait when nobody has approved yet (in a round that allows it)."""
        approval = self._state.approval
        return approval.cancel_on_resolve and self._state.alert_resolved and not approval.round_approvals()

    def _reminder_times(self, deadline: datetime) -> list[datetime]:
        """When to remind of a pending approval (notifications on): each configured offset before
        the deadline, earliest first; offsets already past when the wait starts are skipped."""
        if not self._state.notifying:
            return []
        now = workflow.now()
        times = {
            deadline - timedelta(seconds=s) for s in self._state.input.approval_reminders_seconds if s > 0
        }
        return sorted(t for t in times if t > now)
