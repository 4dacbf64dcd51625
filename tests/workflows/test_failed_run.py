"""A failed incident frees its alert group: the next firing notification starts a new run.

A decision (a rejection, an expiry, needs_review) holds through the cooldown, so the alert's
repeats land in the closed incident and change nothing. A failure is not a decision: the run
closes at once, and the gateway's signal-with-start begins a new run (a new run id, a new
incident id) that remediates again.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident
from domain.kube.observation import Observation
from domain.settings import Settings
from domain.steps.observe import ObserveInput
from domain.steps.remediation import RemediationInput, RemediationResult
from gateway.ingest import prepare, send
from tests.workflows.fakes import Activity, policy, replaced
from tests.workflows.test_remediation_workflow import Fakes, alert_group
from workers.main import workflow_runner
from workflows.remediation import RemediationWorkflow
from workflows.remediation.record import closed_details
from workflows.remediation.state import RunState

COOLDOWN = 4 * 3600


@dataclass
class FlakyObserve:
    """observe failing for good (a refusal no retry changes) the first `failures` times."""

    failures: int = 1
    calls: list[str] = field(default_factory=list)

    def activity(self) -> Activity:
        @activity.defn(name="observe_incident")
        async def observe_incident(input: ObserveInput) -> Observation:
            self.calls.append(input.incident.id)
            if len(self.calls) <= self.failures:
                raise ApplicationError(
                    "observe: the Kubernetes API refused to list pods in payments",
                    type="KubeForbidden",
                    non_retryable=True,
                )
            return Observation(incident_id=input.incident.id)

        return observe_incident


def group() -> AlertGroup:
    """The test's own alert group (its own workflow id)."""
    return alert_group().model_copy(update={"groupKey": f'{{}}:{{alertname="Oom", test="{uuid.uuid4()}"}}'})


async def closed(handle: WorkflowHandle[Any, Any], timeout: float = 10.0) -> str:
    """The run's outcome once it has one (queries do not skip time, so a cooldown still holds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (status := await handle.query(RemediationWorkflow.status)).outcome is None:
        assert loop.time() < deadline, f"still at {status.step}"
        await asyncio.sleep(0.05)
    return str(status.outcome)


async def test_a_failed_run_is_followed_by_a_new_run_for_the_next_notification(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    client = time_skipping_env.client
    # The second run's plan is denied by policy: it ends needs_review, a decision.
    fakes, observe = Fakes(decision=policy("medium", allowed=False)), FlakyObserve()
    settings = Settings(
        task_queue=f"test-{uuid.uuid4()}", search_attributes=False, incident_cooldown_seconds=COOLDOWN
    )
    alerts = group()
    async with Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[RemediationWorkflow],
        activities=replaced(fakes.activities(), observe.activity()),
        workflow_runner=workflow_runner(),
    ):
        first = await send(client, settings, prepare(settings, alerts))
        first_handle = client.get_workflow_handle_for(
            RemediationWorkflow.run, first.workflow_id, run_id=first.run_id
        )
        failed: RemediationResult = await first_handle.result()
        described = await first_handle.describe()

        # The repeat of the same group: a new run of the same workflow id, which remediates again.
        second = await send(client, settings, prepare(settings, alerts))
        second_handle = client.get_workflow_handle_for(
            RemediationWorkflow.run, second.workflow_id, run_id=second.run_id
        )
        assert await closed(second_handle) == "needs_review"
        # A decision holds: the next repeat lands in this run's cooldown, no third run.
        third = await send(client, settings, prepare(settings, alerts))
        # (A handle the client looked up does not skip time while it waits: skip the cooldown.)
        await time_skipping_env.sleep(timedelta(seconds=COOLDOWN + 60))
        redone: RemediationResult = await second_handle.result()

    assert failed.outcome == "failed"
    assert failed.reason == "observe failed: the Kubernetes API refused to list pods in payments"
    # Closed with its outcome, not after the four-hour cooldown.
    assert described.close_time is not None and described.start_time is not None
    assert described.close_time - described.start_time < timedelta(minutes=5)
    assert second.workflow_id == first.workflow_id and second.run_id != first.run_id
    assert redone.incident_id != failed.incident_id
    assert redone.incident_id == f"{second.workflow_id}.{second.run_id[:8]}"
    assert observe.calls == [failed.incident_id, redone.incident_id]
    assert third.run_id == second.run_id


def test_a_failed_incident_says_it_frees_its_group_not_that_it_stays_open() -> None:
    incident = Incident(id="incident-x", title="test")
    state = RunState(input=RemediationInput(incident=incident, cooldown_seconds=COOLDOWN), incident=incident)
    at = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    assert "open until 2026-12-04 00:00 UTC" in closed_details(state, "rejected", at)
    state.skips_cooldown = True
    assert closed_details(state, "failed", at) == (
        "Incident failed at 20:00 UTC; closed at once: the alert group's next notification starts a new run."
    )
