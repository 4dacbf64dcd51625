"""Steps of the incident: each activity call typed, and audited around.

`Steps.run` is a step as the audit trail shows it: the workflow's current step is set, the
activity runs, and the step is audited `completed` with a summary of its result. `Steps.call`
runs an activity inside a step that audits itself. Either audits a final failure as `failed` and
raises `StepFailed`, which the loop turns into an outcome instead of failing the workflow — except
a store that could not be reached: the activity runs again, for as long as the outage lasts (the
audit itself could not be written meanwhile either).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, RetryState

from workflows.remediation.options import STORE_UNAVAILABLE
from workflows.remediation.patches import PATCH_STORE_OUTAGE
from workflows.remediation.state import RunState
from workflows.remediation.stubs import RECORD_AUDIT
from workflows.runner import Stub, execute, failure_of

with workflow.unsafe.imports_passed_through():
    from domain.incident.reason import step_failure_reason
    from domain.steps.record import AuditInput
    from domain.steps.remediation import Step

InputT = TypeVar("InputT")
ResultT = TypeVar("ResultT")


class StepFailed(Exception):
    """An activity failed for good; the workflow ends with an outcome instead of failing.
    `attempts`: how many attempts were made when it gave up after its retries (None: it did not
    retry, or the number is not known)."""

    def __init__(self, step: str, message: str, error_type: str | None, attempts: int | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.error_type = error_type
        self.attempts = attempts

    @property
    def reason(self) -> str:
        """One line for an operator: `observe failed: <what the dependency did> (gave up after N
        attempts)`."""
        return step_failure_reason(self.step, str(self), attempts=self.attempts)


class Steps:
    def __init__(self, state: RunState) -> None:
        self._state = state

    async def call(self, step: str, stub: Stub[InputT, ResultT], arg: InputT) -> ResultT:
        """The activity's result; a final failure is audited under `step` and raised as `StepFailed`.
        An activity that gave up because the store was down is run again until the store is back."""
        while True:
            try:
                return await execute(stub, arg)
            except ActivityError as err:
                message, error_type = failure_of(err)
                if error_type == STORE_UNAVAILABLE and workflow.patched(PATCH_STORE_OUTAGE):
                    workflow.logger.warning("%s waits for the store: %s", step, message)
                    continue
                await self._failed(step, stub, err, message, error_type)

    async def _failed(
        self, step: str, stub: Stub[Any, Any], err: ActivityError, message: str, error_type: str | None
    ) -> NoReturn:
        """Audit the step's final failure and raise it as `StepFailed`."""
        await self.audit(step, "failed", detail={"error": message, "type": error_type})
        attempts = None
        if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
            attempts = stub.options.retry.maximum_attempts or None
        raise StepFailed(step, message, error_type, attempts) from err

    async def run(
        self,
        step: Step,
        stub: Stub[InputT, ResultT],
        arg: InputT,
        summary: Callable[[ResultT], dict[str, Any]],
    ) -> ResultT:
        """One whole step: current from now on, audited `completed` with `summary(result)`."""
        self._state.step = step
        started = workflow.now()
        result = await self.call(step, stub, arg)
        await self.audit(step, "completed", duration=workflow.now() - started, detail=summary(result))
        return result

    async def audit(
        self,
        step: str,
        status: str,
        *,
        actor: str = "medic",
        detail: dict[str, Any] | None = None,
        duration: timedelta | None = None,
    ) -> None:
        """One audit event of the incident, numbered in order."""
        state = self._state
        state.seq += 1
        await execute(
            RECORD_AUDIT,
            AuditInput(
                incident_id=state.incident.id,
                seq=state.seq,
                step=step,
                status=status,
                actor=actor,
                plan_hash=state.plan_hash or None,
                detail=detail or {},
                duration_ms=int(duration.total_seconds() * 1000) if duration is not None else None,
                occurred_at=workflow.now(),
            ),
        )
