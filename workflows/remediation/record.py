"""The incident's row in the store, mirrored into the Temporal UI (search attributes and memo)."""

from __future__ import annotations

from temporalio import workflow

from workflows.remediation.state import RunState
from workflows.remediation.stubs import RECORD_INCIDENT
from workflows.runner import execute
from workflows.search import MEDIC_NAMESPACE, MEDIC_RISK, MEDIC_ROOT_CAUSE, MEDIC_STATUS, MEDIC_TARGET

with workflow.unsafe.imports_passed_through():
    from domain.steps.record import IncidentUpdate


class IncidentRecord:
    def __init__(self, state: RunState) -> None:
        self._state = state

    async def update(self, update: IncidentUpdate) -> None:
        """Write the fields `update` sets, then show them in the Temporal UI."""
        await execute(RECORD_INCIDENT, update)
        self._publish(update)

    def _publish(self, update: IncidentUpdate) -> None:
        """Mirror the incident row into search attributes and a one-line memo for the Temporal UI."""
        state = self._state
        if not state.input.search_attributes:
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
        status = update.status or state.step
        summary = update.summary or (state.diagnosis.summary if state.diagnosis else state.incident.title)
        workflow.upsert_memo({"summary": f"[{status}] {summary}"[:300]})
