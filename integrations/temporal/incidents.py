"""Client-side operations on incidents' workflows, shared by the CLI and the console.

These are calls a Temporal client makes (queries and updates of `RemediationWorkflow`), so they
do I/O and live outside `workflows/`. They name the query and the update as the workflow registers
them (`STATUS_QUERY`, `DECIDE_UPDATE`; a test holds them against the workflow's definition).
Refusals by the workflow itself (the `decide` update's validator) reach the caller as
`temporalio.client.WorkflowUpdateFailedError`.
"""

from __future__ import annotations

import re

from temporalio.client import Client

from domain.incident.reason import one_line
from domain.policy.approval import DecisionInput
from domain.steps.remediation import WorkflowStatus

# `<workflow id>.<first 8 characters of the run id>` (see RemediationWorkflow.__init__); run ids
# are UUIDs, so the suffix is 8 lowercase hex digits.
STATUS_QUERY = "status"
DECIDE_UPDATE = "decide"

_INCIDENT_ID = re.compile(r"^(?P<workflow>.+)\.(?P<run>[0-9a-f]{8})$")
# Temporal's default limit on a workflow id (the frontend's limit.maxIDLength).
MAX_WORKFLOW_ID_LENGTH = 1000


class IncidentNotCurrent(Exception):
    """The incident named is a closed run of its workflow; the alert group has a newer incident.

    A decision is always meant for the incident the operator looked at, never silently for a
    later one.
    """

    def __init__(self, incident_id: str, current_incident_id: str) -> None:
        super().__init__(f"{incident_id} is closed; its alert group's incident now is {current_incident_id}")
        self.incident_id = incident_id
        self.current_incident_id = current_incident_id


def incident_id_problem(incident_id: str) -> str | None:
    """Why `incident_id` cannot name an incident (empty, padded, control characters, longer than
    a workflow id may be), or None when it could."""
    if not incident_id.strip():
        return "the incident id is empty"
    if incident_id != incident_id.strip():
        return f"{incident_id!r} has leading or trailing whitespace"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in incident_id):
        return f"{incident_id!r} contains control characters"
    if len(workflow_id_of(incident_id)) > MAX_WORKFLOW_ID_LENGTH:
        limit = MAX_WORKFLOW_ID_LENGTH
        return f"the incident id is {len(incident_id)} characters; a workflow id has at most {limit}"
    return None


def workflow_id_of(incident_id: str) -> str:
    """The workflow id of an incident id (`<workflow id>.<run>`); a bare workflow id is returned
    as it is (it means the workflow's current incident)."""
    match = _INCIDENT_ID.match(incident_id)
    return match.group("workflow") if match else incident_id


def names_a_run(incident_id: str) -> bool:
    """Whether `incident_id` names one run (`<workflow id>.<run>`) rather than a whole workflow."""
    return _INCIDENT_ID.match(incident_id) is not None


async def incident_status(client: Client, incident_id: str) -> WorkflowStatus:
    """The `status` query of the incident's workflow.

    Raises `IncidentNotCurrent` when `incident_id` names a run that is no longer the workflow's
    current one; RPC errors (no such workflow, Temporal unavailable) propagate.
    """
    handle = client.get_workflow_handle(workflow_id_of(incident_id))
    status: WorkflowStatus = await handle.query(STATUS_QUERY, result_type=WorkflowStatus)
    if names_a_run(incident_id) and status.incident_id != incident_id:
        raise IncidentNotCurrent(incident_id, status.incident_id)
    return status


async def decide_incident(client: Client, incident_id: str, decision: DecisionInput) -> WorkflowStatus:
    """Approve or reject the plan an incident is waiting on, through the `decide` update.

    The decision is bound to a plan: `decision.plan_hash` when given (the plan the operator saw),
    else the plan the workflow shows right now. Returns the workflow's status after the decision.
    Raises `IncidentNotCurrent` (see `incident_status`) and, when the workflow refuses the
    decision (not waiting, stale plan, duplicate or unauthorised approver), the client's
    `WorkflowUpdateFailedError`, whose cause carries the reason.
    """
    status = await incident_status(client, incident_id)
    if decision.plan_hash is None:
        decision = decision.model_copy(update={"plan_hash": status.plan_hash})
    handle = client.get_workflow_handle(workflow_id_of(incident_id))
    result: WorkflowStatus = await handle.execute_update(DECIDE_UPDATE, decision, result_type=WorkflowStatus)
    return result


# Activities started and left to run beside the loop: their retries never hold the incident.
_BESIDE_THE_LOOP = frozenset({"send_notification"})


async def retrying_step(client: Client, incident_id: str) -> str | None:
    """One line saying which activity the incident's workflow is retrying and why its last attempt
    failed (`retrying observe_incident (attempt 4); the last attempt failed: observe: the Kubernetes
    API at ... refused the connection`), or None when nothing is being retried (or the incident
    is not the workflow's open run). One DescribeWorkflowExecution call: the pending activities'
    last failures are Temporal's, recorded for every attempt; the audit trail has only final ones.

    RPC errors (no such workflow, Temporal unavailable) propagate."""
    handle = client.get_workflow_handle(workflow_id_of(incident_id))
    description = await handle.describe()
    if names_a_run(incident_id) and not description.run_id.startswith(incident_id.rsplit(".", 1)[1]):
        return None
    failing = [
        pending
        for pending in description.raw_description.pending_activities
        if pending.HasField("last_failure") and pending.last_failure.message
    ]
    if not failing:
        return None
    failing.sort(key=lambda p: p.activity_type.name in _BESIDE_THE_LOOP)
    pending = failing[0]
    return one_line(
        f"retrying {pending.activity_type.name} (attempt {pending.attempt}); "
        f"the last attempt failed: {pending.last_failure.message}"
    )
