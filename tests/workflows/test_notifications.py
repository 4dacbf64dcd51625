"""Notifications in the remediation loop, on the time-skipping server: the approval wait, its
reminders, each decision and the outcome are sent in order; a notification that fails changes
nothing and holds the incident at most for the bounded final wait; with notifications off nothing
is sent and the history carries no patch marker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.notify import NotifyActivities
from domain.analysis.plan import Plan
from domain.notifications.model import NEXT_STEPS_MAX
from domain.policy.approval import DecisionInput
from domain.review.plan_impact import PlanImpact
from domain.settings import Settings
from domain.steps.remediation import RemediationResult
from integrations.temporal.converter import DATA_CONVERTER
from tests.conftest import wait_for_step
from tests.workflows.fakes import Sent
from tests.workflows.test_remediation_workflow import Fakes, Harness, policy
from workers.main import workflow_runner
from workflows.remediation import RemediationWorkflow
from workflows.remediation.options import NOTIFY_DRAIN
from workflows.remediation.patches import PATCH_NOTIFICATIONS


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


async def run(
    env: WorkflowEnvironment, fakes: Fakes, send: Callable[..., Any], scenario: Callable[[Harness], Any]
) -> Any:
    harness = Harness(env, fakes)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            env.client,
            task_queue=harness.queue,
            workflows=[RemediationWorkflow],
            workflow_runner=workflow_runner(),
            activities=[*fakes.activities(), send],
            activity_executor=executor,
        ):
            return await scenario(harness)


async def until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def patch_markers(history: WorkflowHistory) -> list[bytes]:
    return [
        e.marker_recorded_event_attributes.SerializeToString()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]


async def test_wait_reminders_decisions_and_outcome_are_sent_in_order(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("high", approvals=2)
    sent = Sent()

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        handle = await h.start(notify=True, approval_reminders_seconds=[3600, 900])
        await wait_for_step(handle, "awaiting_approval")
        await until(lambda: len(sent.notifications) == 1, "the awaiting-approval notification")
        assert sent.notifications[0].event == "awaiting_approval"
        # Four hours to decide: skip past both reminders (at 3 h and at 3 h 45 min).
        await h.env.sleep(timedelta(hours=3, minutes=50))
        await until(lambda: len(sent.notifications) == 3, "two reminders")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice", reason="ok"))
        await until(lambda: len(sent.notifications) == 4, "the first decision")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="bob", reason="ok too"))
        return await handle.result(), await handle.fetch_history()

    result, history = await run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "resolved"
    assert sent.events() == [
        "awaiting_approval",
        "approval_reminder",
        "approval_reminder",
        "decision",
        "decision",
        "outcome",
    ]
    wait, early, late, alice, bob, outcome = sorted(sent.notifications, key=lambda n: n.seq)
    assert [n.seq for n in (wait, early, late, alice, bob, outcome)] == [1, 2, 3, 4, 5, 6]
    assert wait.risk == "high" and wait.approvals_required == 2 and wait.approvals == 0
    assert wait.summary == "test diagnosis" and wait.target == "payments/Deployment/ledger"
    assert wait.incident_id == result.incident_id and wait.workflow_id == result.incident_id.split(".")[0]
    assert wait.deadline is not None and early.occurred_at is not None and late.occurred_at is not None
    # Each reminder at its offset before the deadline, in skipped time.
    assert abs((wait.deadline - early.occurred_at) - timedelta(hours=1)) < timedelta(seconds=1)
    assert abs((wait.deadline - late.occurred_at) - timedelta(minutes=15)) < timedelta(seconds=1)
    assert (alice.approver, alice.decision, alice.reason, alice.approvals) == ("alice", "approve", "ok", 1)
    assert (bob.approver, bob.approvals, bob.approvals_required) == ("bob", 2, 2)
    assert outcome.outcome == "resolved" and outcome.status == "resolved"
    assert any(PATCH_NOTIFICATIONS.encode() in marker for marker in patch_markers(history))
    # The new commands replay deterministically.
    replayer = Replayer(
        workflows=[RemediationWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
    )
    replay = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replay.replay_failure is None


async def test_the_plan_impact_is_shown_where_the_plan_is_approved(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.impact = PlanImpact(monthly_delta_usd=121.51, summary="+$121.51/month (list); downtime: none found")
    sent = Sent()

    async def scenario(h: Harness) -> tuple[RemediationResult, Any]:
        handle = await h.start(notify=True)
        status = await wait_for_step(handle, "awaiting_approval")
        await until(lambda: len(sent.notifications) == 1, "the awaiting-approval notification")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice", reason="ok"))
        return await handle.result(), status

    result, status = await run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "resolved"
    # the status query (console, `medic status`), the approval notification and the incident row
    assert status.impact == fakes.impact
    wait, *others = sorted(sent.notifications, key=lambda n: n.seq)
    assert wait.event == "awaiting_approval" and wait.impact == fakes.impact
    assert [n.impact for n in others] == [None] * len(others)
    assert fakes.incident["policy_decision"]["impact"]["monthly_delta_usd"] == 121.51


async def test_a_reminder_already_past_when_the_wait_starts_is_skipped(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    sent = Sent()

    async def scenario(h: Harness) -> RemediationResult:
        handle = await h.start(
            notify=True, approval_timeout_seconds=1800, approval_reminders_seconds=[3600, 900]
        )
        return await handle.result()  # waiting on the result lets the server skip to the deadline

    result = await run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "expired"
    assert sent.events() == ["awaiting_approval", "approval_reminder", "outcome"]
    wait, reminder, outcome = sorted(sent.notifications, key=lambda n: n.seq)
    assert wait.deadline is not None and reminder.occurred_at is not None
    assert abs((wait.deadline - reminder.occurred_at) - timedelta(minutes=15)) < timedelta(seconds=1)
    assert outcome.outcome == "expired" and "1800" in outcome.reason


async def closed_after(handle: WorkflowHandle[Any, Any], fakes: Fakes) -> timedelta:
    """How long the workflow stayed open after it recorded its outcome."""
    description = await handle.describe()
    closed = next(e for e in fakes.audit if e.step == "closed")
    assert description.close_time is not None and closed.occurred_at is not None
    return description.close_time - closed.occurred_at


async def test_notifications_that_always_fail_change_nothing_and_hold_at_most_the_final_wait(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    sent = Sent(ApplicationError("Slack is down", type="NotifyUnavailable"))

    async def scenario(h: Harness) -> tuple[RemediationResult, timedelta]:
        handle = await h.start(notify=True)
        await wait_for_step(handle, "awaiting_approval")
        await until(lambda: len(sent.attempts) >= 1, "a first attempt")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
        result = await handle.result()
        return result, await closed_after(handle, fakes)

    result, held = await run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "resolved" and [a.approver for a in result.approvals] == ["alice"]
    assert fakes.calls.count("execute") == 1
    assert {n.event for n in sent.attempts} == {"awaiting_approval", "decision", "outcome"}
    assert sent.notifications == []
    # The outcome's notification was still being retried: the incident waited the bounded time, no more.
    assert NOTIFY_DRAIN <= held < NOTIFY_DRAIN + timedelta(seconds=30)


async def test_a_final_notification_failure_does_not_hold_the_incident(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = policy("low", approvals=0, auto=True)
    sent = Sent(ApplicationError("invalid_blocks", type="NotifyRejected", non_retryable=True))

    async def scenario(h: Harness) -> tuple[RemediationResult, timedelta]:
        handle = await h.start(notify=True)
        result = await handle.result()
        return result, await closed_after(handle, fakes)

    result, held = await run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "resolved"
    assert [n.event for n in sent.attempts] == ["outcome"]
    assert held < timedelta(seconds=30)


async def test_a_needs_review_outcome_carries_the_diagnosis_next_steps_bounded(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.root_cause = "config_error"
    fakes.plan = Plan()
    fakes.next_steps = [f"step {i}: `kubectl -n payments describe pod ledger-{i}`" for i in range(9)]
    sent = Sent()

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start(notify=True)).result()

    result = await run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "needs_review"
    (outcome,) = sent.notifications
    assert outcome.event == "outcome" and outcome.next_steps == fakes.next_steps[:NEXT_STEPS_MAX]


async def test_notifications_off_send_nothing_and_add_no_marker(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    sent = Sent()

    async def scenario(h: Harness) -> tuple[RemediationResult, WorkflowHistory]:
        handle = await h.start(approval_reminders_seconds=[3600, 900])  # notify defaults to off
        await wait_for_step(handle, "awaiting_approval")
        await h.env.sleep(timedelta(hours=3, minutes=50))
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
        return await handle.result(), await handle.fetch_history()

    result, history = await run(time_skipping_env, fakes, sent.activity(), scenario)
    assert result.outcome == "resolved"
    assert sent.attempts == []
    assert not any(PATCH_NOTIFICATIONS.encode() in marker for marker in patch_markers(history))
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert "send_notification" not in scheduled


async def test_the_real_activity_sends_each_channel_once_across_retries(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes, httpserver: HTTPServer
) -> None:
    """Slack takes the outcome at once; the webhook answers 503 once. The retry posts to the webhook
    again (same idempotency key) and not to Slack, which already has it."""
    fakes.decision = policy("low", approvals=0, auto=True)
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("busy", status=503)
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=204)
    notify = NotifyActivities.from_settings(
        Settings(
            slack_webhook_url=httpserver.url_for("/slack"), notify_webhook_url=httpserver.url_for("/hook")
        )
    )

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start(notify=True)).result()

    result = await run(time_skipping_env, fakes, notify.send_notification, scenario)
    assert result.outcome == "resolved"
    paths = [request.path for request, _ in httpserver.log]
    assert paths.count("/slack") == 1 and paths.count("/hook") == 2
    ids = {request.headers["X-Medic-Delivery"] for request, _ in httpserver.log if request.path == "/hook"}
    assert ids == {f"{result.incident_id}:outcome:1"}
