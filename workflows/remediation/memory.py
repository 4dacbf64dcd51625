"""Incident memory: similar past incidents recalled before the analysis, and each outcome
remembered. Memory helps; its failure never stops or changes an incident."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.remediation.state import RunState
from workflows.remediation.steps import Steps
from workflows.remediation.stubs import RECALL_SIMILAR_INCIDENTS, REMEMBER_INCIDENT
from workflows.runner import execute, failure_of

with workflow.unsafe.imports_passed_through():
    from domain.incident.memory import RecallInput, RecallResult, RememberInput, memory_of
    from domain.incident.model import Outcome
    from domain.kube.observation import Observation


class Memory:
    def __init__(self, state: RunState, steps: Steps) -> None:
        self._state = state
        self._steps = steps

    async def recall(self, observation: Observation) -> RecallResult:
        """Past incidents like this one; none when the store cannot answer (audited as failed)."""
        self._state.step = "recalling"
        started = workflow.now()
        try:
            recall = await execute(
                RECALL_SIMILAR_INCIDENTS, RecallInput(incident=self._state.incident, observation=observation)
            )
        except ActivityError as err:
            await self._steps.audit("recalling", "failed", detail={"error": failure_of(err)[0]})
            return RecallResult()
        await self._steps.audit(
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

    async def remember(self, outcome: Outcome, reason: str, closed_at: datetime) -> None:
        """Keep the closed incident for later recalls."""
        state = self._state
        memory = memory_of(
            state.incident,
            outcome=outcome,
            reason=reason,
            closed_at=closed_at,
            observation=state.observation,
            diagnosis=state.diagnosis,
        )
        try:
            await execute(REMEMBER_INCIDENT, RememberInput(memory=memory))
        except ActivityError as err:
            # The outcome stands; a lost memory only makes later analyses less informed.
            workflow.logger.warning("could not remember %s: %s", state.incident.id, failure_of(err)[0])
