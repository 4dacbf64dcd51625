"""The direct path: a change to objects no GitOps tool manages, made through the Kubernetes API.

[approval] → dry-run → snapshot → execute → verify → (restore the snapshot)
"""

from __future__ import annotations

from temporalio import workflow

from workflows.remediation.state import Ending, targets_of
from workflows.remediation.steps import StepFailed
from workflows.remediation.stubs import DRY_RUN_PLAN, EXECUTE_PLAN
from workflows.remediation.toolkit import Toolkit

with workflow.unsafe.imports_passed_through():
    from domain.analysis.plan import Plan
    from domain.policy.decision import PolicyDecision
    from domain.steps.change import PlanInput


class DirectPath:
    def __init__(self, kit: Toolkit) -> None:
        self._kit = kit

    async def remediate(self, plan: Plan, policy: PolicyDecision) -> Ending:
        decided = await self._kit.gate.wait(policy)
        if decided is not None:
            return decided
        plan_input = PlanInput(
            incident_id=self._kit.state.incident.id, plan=plan, plan_hash=self._kit.state.plan_hash
        )
        dry_run = await self._kit.steps.run(
            "dry_run",
            DRY_RUN_PLAN,
            plan_input,
            summary=lambda r: {"ok": r.ok, "problems": r.problems, "diffs": r.diffs},
        )
        if not dry_run.ok:
            return "needs_review", "dry-run refused the change: " + "; ".join(dry_run.problems)
        await self._kit.snapshots.take(plan_input)
        targets = targets_of(plan)
        # From here on the cluster may have changed: any failure restores the snapshot.
        try:
            await self._kit.steps.run(
                "executing",
                EXECUTE_PLAN,
                plan_input,
                summary=lambda r: {"changes": [c.model_dump(mode="json") for c in r.changes]},
            )
            verification = await self._kit.verifier.verify(targets, "verifying")
        except StepFailed as failed:
            return await self._kit.snapshots.roll_back(targets, failed.reason)
        if verification.ok:
            return "resolved", verification.reason or "verification passed"
        return await self._kit.snapshots.roll_back(targets, f"verification failed: {verification.reason}")
