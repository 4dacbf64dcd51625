"""Snapshots: the live objects a plan changes, kept (sealed) before any change, and restored when
the change fails. Shared by the direct path and the Argo CD sync path."""

from __future__ import annotations

from temporalio import workflow

from workflows.remediation.state import Ending, RunState
from workflows.remediation.steps import Steps
from workflows.remediation.stubs import RESTORE_SNAPSHOTS, SNAPSHOT_RESOURCES
from workflows.remediation.verify import Verifier

with workflow.unsafe.imports_passed_through():
    from domain.incident.model import ResourceRef
    from domain.steps.change import PlanInput, RestoreInput


class Snapshots:
    def __init__(self, state: RunState, steps: Steps, verifier: Verifier) -> None:
        self._state = state
        self._steps = steps
        self._verifier = verifier

    async def take(self, plan_input: PlanInput) -> None:
        """The live objects the plan changes, kept before any change: what a rollback restores."""
        await self._steps.run(
            "snapshot",
            SNAPSHOT_RESOURCES,
            plan_input,
            summary=lambda r: {"resources": [x.key for x in r.resources]},
        )

    async def roll_back(self, targets: list[ResourceRef], why: str) -> Ending:
        """Restore the snapshots and wait for the restored objects to finish rolling out."""
        await self._steps.run(
            "rolling_back",
            RESTORE_SNAPSHOTS,
            RestoreInput(incident_id=self._state.incident.id, targets=targets),
            summary=lambda r: {"changes": [c.model_dump(mode="json") for c in r.changes]},
        )
        after = await self._verifier.verify(targets, "verifying_rollback", require_healthy=False)
        if not after.finished:
            return "failed", f"{why}; the restored snapshot did not finish rolling out: {after.reason}"
        return "rolled_back", f"{why}; snapshot restored"
