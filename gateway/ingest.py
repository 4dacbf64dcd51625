"""Turning Alertmanager notifications into incidents: one workflow per alert group."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.incident.alerts import AlertGroup, group_workflow_id
from domain.incident.model import incident_from_group
from domain.redaction.objects import redact_incident
from domain.redaction.text import redact_json
from domain.settings import Settings
from domain.steps.remediation import RemediationInput, remediation_input_for
from workflows.remediation import RemediationWorkflow

log = logging.getLogger("medic.gateway")


@dataclass(frozen=True)
class Delivery:
    workflow_id: str
    delivered: bool
    run_id: str = ""
    note: str = ""


def redact_group(group: AlertGroup) -> AlertGroup:
    """The notification as it may enter Temporal's history: alert text can carry secrets."""
    return AlertGroup.model_validate(redact_json(group.model_dump(mode="json")))


def remediation_input(settings: Settings, group: AlertGroup, workflow_id: str) -> RemediationInput:
    return remediation_input_for(settings, redact_incident(incident_from_group(workflow_id, group)))


async def deliver(client: Client, settings: Settings, group: AlertGroup) -> Delivery:
    """Deliver one notification to its group's workflow, starting it when none is open.

    Firing notifications use signal-with-start, so that repeats and updates of an open group reach
    the running workflow and never start a second one. A resolved notification only signals: it
    must not open an incident for a group that has none.
    """
    workflow_id = group_workflow_id(group.receiver, group.groupKey)
    group = redact_group(group)  # the id is derived from the group as sent; nothing else keeps it
    if group.truncatedAlerts > 0:
        log.warning("notification for %s truncated %d alerts", workflow_id, group.truncatedAlerts)
    if group.status == "resolved":
        handle = client.get_workflow_handle(workflow_id)
        try:
            await handle.signal(RemediationWorkflow.alert_notification, group)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return Delivery(workflow_id, delivered=False, note="no open incident for this group")
            raise
        return Delivery(workflow_id, delivered=True)
    handle = await client.start_workflow(
        RemediationWorkflow.run,
        remediation_input(settings, group, workflow_id),
        id=workflow_id,
        task_queue=settings.task_queue,
        start_signal="alert_notification",
        start_signal_args=[group],
    )
    return Delivery(workflow_id, delivered=True, run_id=handle.result_run_id or "")
