"""Turning Alertmanager notifications into incidents: one workflow per alert group.

A body becomes a `Notification` in `read_notification` (CPU-bound: the gateway runs it on a thread
unless the body is small): strict JSON, validated, cut to this cluster's alerts (README
"Clusters": a notification whose alerts are all for other clusters is refused), redacted, and
fitted to what a workflow's history can carry.
`send` then starts or signals the group's workflow.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import WorkflowIdReusePolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    SignalWithStartWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.converter import WorkflowSerializationContext
from temporalio.service import RPCError, RPCStatusCode

from domain.incident.alerts import (
    MAX_VALUE_CHARS,
    AlertGroup,
    alerts_of_cluster,
    clip_group,
    clipped_values,
    fit_group,
    group_workflow_id,
)
from domain.incident.model import incident_from_group
from domain.kube.clusters import alert_cluster_names
from domain.redaction.objects import redact_incident
from domain.redaction.text import redact_json
from domain.settings import Settings
from domain.steps.remediation import RemediationInput, remediation_input_for
from gateway.bodies import BodyRefused, one_line, parse_json
from workflows.remediation import RemediationWorkflow

log = logging.getLogger("medic.gateway")

# The names `send`'s requests carry: the workflow's type and its notification signal (neither
# definition names itself, so both are their Python names).
REMEDIATION_WORKFLOW = RemediationWorkflow.__name__
ALERT_NOTIFICATION = RemediationWorkflow.alert_notification.__name__

# Redaction sees each value cut to this many characters first: far enough past MAX_VALUE_CHARS that
# a secret across the final cut is seen whole (a private key longer than this is redacted to its
# end), and short enough that no single pass of the redactor holds the interpreter for long.
REDACTION_WINDOW_CHARS = MAX_VALUE_CHARS + 8192
# Bodies up to this size are read on the event loop rather than a thread: a usual notification (one
# to a few alerts, 1-5 KB) takes a fraction of a millisecond, less than the hop to a thread and
# back, and the slowest body of this size (secret-like text in every value) under 10 ms.
INLINE_BODY_BYTES = 8 * 1024
_DETAILS = 20


class PayloadInvalid(BodyRefused):
    """JSON that is not an Alertmanager webhook payload v4; `details` lists what is wrong where."""

    def __init__(self, err: ValidationError) -> None:
        errors = err.errors(include_input=False, include_url=False)
        self.details = [
            {"loc": [one_line(str(p), 64) for p in e["loc"]], "msg": one_line(e["msg"]), "type": e["type"]}
            for e in errors[:_DETAILS]
        ]
        first = self.details[0]
        where = ".".join(first["loc"]) or "body"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(422, f"not an Alertmanager webhook payload v4: {where}: {first['msg']}{more}")


@dataclass(frozen=True)
class Notification:
    """One notification as it may enter Temporal: `group` redacted and fitted (see
    `domain.incident.alerts.fit_group`), with what was taken out of it."""

    workflow_id: str
    group: AlertGroup
    start: RemediationInput | None  # the workflow's input, for a firing group
    alerts_sent: int
    alerts_dropped: int = 0
    entries_dropped: int = 0
    values_clipped: int = 0
    # the notification's alerts for other clusters, left out, by cluster
    other_clusters: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What the gateway clipped, for the response and the log; empty when nothing."""
        clipped = {
            "alerts_dropped": self.alerts_dropped,
            "entries_dropped": self.entries_dropped,
            "values_clipped": self.values_clipped,
        }
        return {k: v for k, v in clipped.items() if v}


@dataclass(frozen=True)
class Delivery:
    workflow_id: str
    delivered: bool
    run_id: str = ""
    note: str = ""


def redact_group(group: AlertGroup) -> AlertGroup:
    """The notification as it may enter Temporal's history: alert text can carry secrets. A group
    that redaction leaves as it is (the usual one) is returned itself, not validated again."""
    dumped = group.model_dump(mode="json")
    redacted = redact_json(dumped)
    return group if redacted == dumped else AlertGroup.model_validate(redacted)


def remediation_input(settings: Settings, group: AlertGroup, workflow_id: str) -> RemediationInput:
    return remediation_input_for(settings, redact_incident(incident_from_group(workflow_id, group)))


def prepare(
    settings: Settings, group: AlertGroup, other_clusters: dict[str, int] | None = None
) -> Notification:
    """`group` redacted and fitted; its workflow id is derived from the group as sent (and this
    medic's cluster name, when one is configured). `other_clusters` counts the alerts left out
    for other clusters."""
    workflow_id = group_workflow_id(group.receiver, group.groupKey, settings.cluster_name)
    window = clip_group(group, REDACTION_WINDOW_CHARS)
    bounded = clip_group(redact_group(window.group))
    fitted = fit_group(bounded.group)
    # The group is redacted whole already (every string, keys included): its incident needs no second pass.
    start = (
        remediation_input_for(settings, incident_from_group(workflow_id, fitted.group))
        if group.status == "firing"
        else None
    )
    return Notification(
        workflow_id,
        fitted.group,
        start,
        alerts_sent=len(group.alerts),
        alerts_dropped=window.alerts_dropped + fitted.alerts_dropped,
        entries_dropped=window.entries_dropped,
        values_clipped=clipped_values(fitted.group),
        other_clusters=dict(other_clusters or {}),
    )


def read_notification(settings: Settings, raw: bytes) -> Notification:
    """The notification in `raw`, or `BodyRefused` (400: not strict JSON, not an object; 422:
    every alert is for another cluster) or `PayloadInvalid` (422: not a payload v4) saying why in
    one line. CPU-bound: a body over `INLINE_BODY_BYTES` belongs on a thread."""
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise BodyRefused(400, "body must be a JSON object (Alertmanager webhook payload v4)")
    try:
        group = AlertGroup.model_validate(payload)
    except ValidationError as err:
        raise PayloadInvalid(err) from err
    names = alert_cluster_names(settings.cluster_name, settings.cluster_aliases)
    split = alerts_of_cluster(group, settings.cluster_label, names)
    if split.group is None:
        raise BodyRefused(422, other_cluster_reason(settings, split.elsewhere))
    return prepare(settings, split.group, split.elsewhere)


def other_cluster_reason(settings: Settings, elsewhere: dict[str, int]) -> str:
    """Why a notification whose alerts are all for other clusters is refused, in one line."""
    clusters = ", ".join(sorted(elsewhere))
    here = ", ".join(sorted(alert_cluster_names(settings.cluster_name, settings.cluster_aliases)))
    return (
        f"every alert is for cluster {clusters} (label {settings.cluster_label}); this medic is for "
        f"{here} (MEDIC_CLUSTER_NAME, MEDIC_CLUSTER_ALIASES): send them to that cluster's medic"
    )


async def send(
    client: Client,
    settings: Settings,
    notification: Notification,
    rpc_timeout: timedelta | None = None,
    *,
    request_id: str | None = None,
) -> Delivery:
    """Deliver one notification to its group's workflow, starting it when none is open.

    Firing notifications use signal-with-start, so that repeats and updates of an open group reach
    the running workflow and never start a second one. A resolved notification only signals: it
    must not open an incident for a group that has none.

    `request_id` is the notification's own id (a fresh one when not given): Temporal keeps the
    request ids of the signals a run has received and drops a second request with the same id, so
    a notification sent again after a cut-short call or a crash (the durable buffer's redelivery,
    `gateway/buffer.py`) reaches its workflow once.
    """
    workflow_id, group = notification.workflow_id, notification.group
    if notification.summary():
        log.warning("notification for %s clipped to fit a workflow: %s", workflow_id, notification.summary())
    if group.truncatedAlerts > 0:
        log.warning("notification for %s truncated %d alerts", workflow_id, group.truncatedAlerts)
    request_id = request_id or uuid.uuid4().hex
    # The SDK's start_workflow and signal draw a random request id per call; the service calls
    # below are the same requests with the notification's id in its place.
    converter = client.data_converter.with_context(
        WorkflowSerializationContext(namespace=client.namespace, workflow_id=workflow_id)
    )
    signal_input = await converter.encode([group])
    if notification.start is None:
        signal = SignalWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            signal_name=ALERT_NOTIFICATION,
            identity=client.identity,
            request_id=request_id,
        )
        signal.input.payloads.extend(signal_input)
        try:
            await client.workflow_service.signal_workflow_execution(signal, retry=True, timeout=rpc_timeout)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return Delivery(workflow_id, delivered=False, note="no open incident for this group")
            raise
        return Delivery(workflow_id, delivered=True)
    start = SignalWithStartWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name=REMEDIATION_WORKFLOW),
        task_queue=TaskQueue(name=settings.task_queue),
        signal_name=ALERT_NOTIFICATION,
        identity=client.identity,
        request_id=request_id,
        workflow_id_reuse_policy=WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
    )
    start.input.payloads.extend(await converter.encode([notification.start]))
    start.signal_input.payloads.extend(signal_input)
    response = await client.workflow_service.signal_with_start_workflow_execution(
        start, retry=True, timeout=rpc_timeout
    )
    return Delivery(workflow_id, delivered=True, run_id=response.run_id)


async def deliver(client: Client, settings: Settings, group: AlertGroup) -> Delivery:
    """`send` of a validated group (redacted and fitted first)."""
    return await send(client, settings, prepare(settings, group))
