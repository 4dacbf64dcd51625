"""The incident's row in the store, mirrored into the Temporal UI (search attributes, memo and,
once it has an outcome, the run's current details)."""

from __future__ import annotations

from datetime import datetime, timedelta

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

    async def keep(self, update: IncidentUpdate) -> None:
        """Write the fields `update` sets, with nothing to show in the UI (the observation)."""
        await execute(RECORD_INCIDENT, update)

    def _publish(self, update: IncidentUpdate) -> None:
        """Mirror the incident row into search attributes and a one-line memo for the Temporal UI."""
        state = self._state
        if update.outcome and update.closed_at:
            # The UI shows the run as Running through its cooldown: its current details say the
            # incident is over. (Answered by a query, not a command: histories replay unchanged.)
            workflow.set_current_details(closed_details(state, update.outcome, update.closed_at))
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


def _clock(at: datetime, since: datetime) -> str:
    return at.strftime("%H:%M UTC" if at.date() == since.date() else "%Y-%m-%d %H:%M UTC")


def closed_details(state: RunState, outcome: str, closed_at: datetime) -> str:
    """What the run is doing after its outcome: its cooldown, as Cooldown.wait will keep it."""
    line = f"Incident {outcome} at {_clock(closed_at, closed_at)}"
    cooldown = state.input.cooldown_seconds
    if state.incident.source == "drift":
        if cooldown <= 0 or outcome == "resolved":
            return line + "."
        until = _clock(closed_at + timedelta(seconds=cooldown), closed_at)
        return line + f"; open until {until} only to absorb later scans that find the same drift."
    if state.skips_cooldown:
        return line + "; closed at once: the alert group's next notification starts a new run."
    if cooldown <= 0 or state.alert_resolved:
        return line + "."
    until = _clock(closed_at + timedelta(seconds=cooldown), closed_at)
    return (
        line + f"; open until {until} (or until the alert resolves) only to absorb repeats of the"
        " alert: nothing more will run."
    )
