"""The direct path: a change to objects no GitOps tool manages, made through the Kubernetes API.

[approval] → dry-run → snapshot → execute → verify → (restore the snapshot)
"""

from __future__ import annotations

from temporalio import workflow

from workflows.remediation.approval import ApprovalGate
from workflows.remediation.snapshots import Snapshots
from workflows.remediation.state import Ending, RunState, targets_of
from workflows.remediation.steps import StepFailed, Steps
from workflows.remediation.stubs import DRY_RUN_PLAN, EXECUTE_PLAN
from workflows.remediation.verify import Verifier

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Plan
    from domain.policy.decision import PolicyDecision
    from domain.steps.change import PlanInput


class DirectPath:
    def __init__(
        self, state: RunState, steps: Steps, gate: ApprovalGate, snapshots: Snapshots, verifier: Verifier
    ) -> None:
        self._state = state
        self._steps = steps
        self._gate = gate
        self._snapshots = snapshots
        self._verifier = verifier

    async def remediate(self, plan: Plan, policy: PolicyDecision) -> Ending:
        decided = await self._gate.wait(policy)
        if decided is not None:
            return decided
        plan_input = PlanInput(
            incident_id=self._state.incident.id, plan=plan, plan_hash=self._state.plan_hash
        )
        dry_run = await self._steps.run(
            "dry_run",
            DRY_RUN_PLAN,
            plan_input,
            summary=lambda r: {"ok": r.ok, "problems": r.problems, "diffs": r.diffs},
        )
        if not dry_run.ok:
            return "needs_review", "dry-run refused the change: " + "; ".join(dry_run.problems)
        await self._snapshots.take(plan_input)
        targets = targets_of(plan)
        # From here on the cluster may have changed: any failure restores the snapshot.
        try:
            await self._steps.run(
                "executing",
                EXECUTE_PLAN,
                plan_input,
                summary=lambda r: {"changes": [c.model_dump(mode="json") for c in r.changes]},
            )
            verification = await self._verifier.verify(targets, "verifying")
        except StepFailed as failed:
            return await self._snapshots.roll_back(targets, f"{failed.step} failed: {failed}")
        if verification.ok:
            return "resolved", verification.reason or "verification passed"
        return await self._snapshots.roll_back(targets, f"verification failed: {verification.reason}")
