"""Verification: the rollout watched on a workflow timer until it is healthy and stable, or not."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from workflows.remediation.state import RunState
from workflows.remediation.steps import Steps
from workflows.remediation.stubs import CHECK_ROLLOUT

with workflow.unsafe.imports_passed_through():
    from domain.incident.model import ResourceRef
    from domain.steps.change import CheckRolloutInput, Verification


class Verifier:
    def __init__(self, state: RunState, steps: Steps) -> None:
        self._state = state
        self._steps = steps

    async def verify(
        self, targets: list[ResourceRef], step: str, require_healthy: bool = True
    ) -> Verification:
        """Poll the rollout on a workflow timer until it is healthy and stable, or the deadline.

        With `require_healthy` off (a rollback, which restores a state that was not healthy) a
        finished rollout is enough. Restarts growing after the rollout finished fail at once.
        """
        state = self._state
        settings = state.input
        state.step = "verifying" if require_healthy else "rolling_back"
        started = workflow.now()
        deadline = started + timedelta(seconds=settings.verify_timeout_seconds)
        baseline: dict[str, int] = {}
        stable = 0
        last = Verification(ok=False, finished=False, reason="not checked yet")
        while True:
            last = await self._steps.call(
                step,
                CHECK_ROLLOUT,
                CheckRolloutInput(incident_id=state.incident.id, targets=targets, baseline_restarts=baseline),
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
            if stable >= settings.verify_stable_checks:
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
                    reason=f"not healthy within {settings.verify_timeout_seconds}s: {reasons}",
                )
                break
            await workflow.sleep(timedelta(seconds=settings.verify_interval_seconds))
        await self._steps.audit(
            step,
            "passed" if last.ok else "failed",
            duration=workflow.now() - started,
            detail={"reason": last.reason, "checks": [c.model_dump(mode="json") for c in last.checks]},
        )
        return last
