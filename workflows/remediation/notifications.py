"""Notifications of an incident: started and left to run, never holding up the loop."""

from __future__ import annotations

import contextlib
from typing import Any

from temporalio import workflow

from workflows.remediation.options import NOTIFY_DRAIN
from workflows.remediation.state import RunState
from workflows.remediation.stubs import SEND_NOTIFICATION
from workflows.runner import failure_of, start

with workflow.unsafe.imports_passed_through():
    from domain.notifications.model import (
        Notification,
        NotificationEvent,
        NotifyResult,
        bounded_next_steps,
    )


class Notifier:
    def __init__(self, state: RunState) -> None:
        self._state = state
        self._seq = 0
        self._sent: list[tuple[Notification, workflow.ActivityHandle[NotifyResult]]] = []

    def notify(self, event: NotificationEvent, **fields: Any) -> None:
        """Start sending a notification and go on without waiting for it (notifications on).

        It is retried on its own; `drain` gives the outstanding ones a bounded time before the
        workflow returns. The activity builds the links from ids and redacts the text.
        """
        state = self._state
        if not state.notifying:
            return
        self._seq += 1
        diagnosis, policy = state.diagnosis, state.policy
        target = (
            diagnosis.plan.actions[0].target.without_container()
            if diagnosis and diagnosis.plan.actions
            else None
        )
        if target is None and state.incident.targets:
            target = state.incident.targets[0].without_container()
        values: dict[str, Any] = {
            "event": event,
            "incident_id": state.incident.id,
            "workflow_id": workflow.info().workflow_id,
            "seq": self._seq,
            "title": state.incident.title,
            "status": state.outcome or state.step,
            "risk": policy.risk if policy else "",
            "namespace": target.namespace if target else "",
            "target": target.key if target else "",
            "root_cause": diagnosis.root_cause if diagnosis else "",
            "summary": diagnosis.summary if diagnosis else "",
            "next_steps": bounded_next_steps(diagnosis.next_steps) if diagnosis else [],
            "approvals": state.approval.approved_count(),
            "approvals_required": state.approval.required,
            "deadline": state.approval.deadline,
            "occurred_at": workflow.now(),
            # what the plan costs and risks, beside the plan being approved (not beside its revert)
            "impact": state.impact
            if event in ("awaiting_approval", "approval_reminder") and state.approval.round == "fix"
            else None,
            # what an approval asked for here is bound to (Slack's buttons carry it)
            "plan_hash": state.subject_hash if event in ("awaiting_approval", "approval_reminder") else "",
        }
        if state.incident.source == "deploy" and state.pull_requests:
            # a deploy's revert is open before its approval: the reader sees which pull request
            pr = list(state.pull_requests.values())[-1]
            values.update(pull_request=pr.number, pull_request_url=pr.url)
        notification = Notification.model_validate({**values, **fields})
        self._sent.append((notification, start(SEND_NOTIFICATION, notification)))

    async def drain(self) -> None:
        """Wait a bounded time for notifications still being sent, then close regardless: a lost
        notification is logged, never a reason to fail or hold the incident."""
        if not self._sent:
            return
        handles = [handle for _, handle in self._sent]
        if not all(h.done() for h in handles):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: all(h.done() for h in handles), timeout=NOTIFY_DRAIN)
        for notification, handle in self._sent:
            what = f"{notification.event} notification #{notification.seq} of {self._state.incident.id}"
            if not handle.done():
                workflow.logger.warning("gave up on the %s after %s", what, NOTIFY_DRAIN)
                handle.cancel()
            elif not handle.cancelled() and (err := handle.exception()) is not None:
                workflow.logger.warning("could not send the %s: %s", what, failure_of(err)[0])
