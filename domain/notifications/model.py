"""Notifications: what medic tells people, and the two shapes it is sent in.

`Notification` is the `send_notification` activity's input: the workflow fills in what happened
(ids, never URLs; times from `workflow.now()`), the activity adds the links from its settings and
sends it. Two pure builders turn it into what goes out:

- `slack_message`: a Slack Block Kit message (a `text` fallback and `blocks`) for an incoming
  webhook, within Block Kit's limits, with untrusted text escaped for mrkdwn.
- `webhook_payload`: a stable JSON document for any receiver, carrying an idempotency key (`id`).

Both redact the notification first (rule 6: secrets never reach a notification), whatever the
caller did before. Nothing here reads a clock: times are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from urllib.parse import quote

from pydantic import Field

from domain.base import Frozen
from domain.incident.model import Outcome
from domain.redaction.text import redact_json
from domain.review.plan_impact import PlanImpact

NotificationEvent = Literal[
    "awaiting_approval", "approval_reminder", "decision", "outcome", "drift_report", "model_unusable"
]


NOTIFICATION_EVENTS: tuple[str, ...] = (
    "awaiting_approval",
    "approval_reminder",
    "decision",
    "outcome",
    "drift_report",
    "model_unusable",
)


# The webhook payload's shape; a change that is not purely additive bumps it.
PAYLOAD_VERSION = 1

# A notification carries at most this many of the diagnosis' next steps, each at most this long:
# enough to act on from a phone, the rest is on the console's incident page.
NEXT_STEPS_MAX = 5
NEXT_STEP_CHARS = 300


def bounded_next_steps(steps: Sequence[str]) -> list[str]:
    """The next steps a notification carries: the first `NEXT_STEPS_MAX`, each on one line and cut
    to `NEXT_STEP_CHARS` with an ellipsis."""
    out = []
    for step in steps:
        line = " ".join(str(step).split())
        if line:
            out.append(line if len(line) <= NEXT_STEP_CHARS else line[: NEXT_STEP_CHARS - 1] + "…")
        if len(out) == NEXT_STEPS_MAX:
            break
    return out


class DriftedResource(Frozen):
    """One object of an Argo CD Application that is not as Git says (status.resources)."""

    kind: str
    name: str
    namespace: str = ""
    status: str = "OutOfSync"
    health: str = ""


class DriftItem(Frozen):
    """One drifted Argo CD Application and the resources that drifted."""

    application: str
    project: str = ""
    destination_namespace: str = ""
    sync_status: str = "OutOfSync"
    health_status: str = ""
    revision: str = ""
    resources: list[DriftedResource] = Field(default_factory=list)


class Notification(Frozen):
    """What happened, for the people who should know: the `send_notification` activity's input.

    Every field has a default (payloads decode from older histories). `seq` numbers the
    notifications of one workflow run; with the incident (or workflow) id and the event it makes
    the idempotency key receivers can dedupe on (`notification_key`).
    """

    event: NotificationEvent
    incident_id: str = ""
    workflow_id: str = ""
    seq: int = 0
    title: str = ""
    status: str = ""
    risk: str = ""
    namespace: str = ""
    target: str = ""
    root_cause: str = ""
    summary: str = ""
    # Why: the approver's reason for a decision, the outcome's reason for an outcome, why the
    # model could not be used for `model_unusable`. One line.
    reason: str = ""
    approver: str = ""
    decision: Literal["approve", "reject"] | None = None
    approvals: int = 0
    approvals_required: int = 0
    deadline: datetime | None = None
    outcome: Outcome | None = None
    drift: list[DriftItem] = Field(default_factory=list)
    # How many applications the drift scan looked at (0: not said).
    drift_scanned: int = 0
    # When it happened (the workflow's clock).
    occurred_at: datetime | None = None
    # What a human should do next, from the diagnosis (bounded: `bounded_next_steps`).
    next_steps: list[str] = Field(default_factory=list)
    # Asking for approval: what the plan costs a month and its downtime and rollback findings.
    impact: PlanImpact | None = None
    # A pull request already open for what is decided on (a degraded deploy's revert, opened
    # before its approval): its number and address (0 and "": none).
    pull_request: int = 0
    pull_request_url: str = ""
    # Asking for approval: the hash of what is decided on (the plan, or in a revert round the
    # revert), which Slack's Approve / Reject buttons bind their decision to ("": not said).
    plan_hash: str = ""


class NotificationLinks(Frozen):
    """Where a reader can look further; empty when not configured."""

    console: str = ""
    temporal: str = ""


class NotifyResult(Frozen):
    """The channels a notification was delivered to (`slack`, `webhook`); empty: none configured."""

    delivered: list[str] = Field(default_factory=list)


def notification_key(n: Notification) -> str:
    """The idempotency key of a notification: `<incident id>:<event>:<seq>`.

    Stable across the activity's retries (the workflow fixes `seq`), different for every
    notification of a run. Without an incident (a drift report) the workflow id stands in.
    """
    return f"{n.incident_id or n.workflow_id}:{n.event}:{n.seq}"


def notification_links(
    n: Notification, *, console_url: str, temporal_ui_url: str, temporal_namespace: str
) -> NotificationLinks:
    """The console's incident page and the workflow in the Temporal Web UI, from configured bases."""
    console = ""
    if console_url:
        base = console_url.rstrip("/") + "/console/incidents"
        console = f"{base}/{quote(n.incident_id, safe='')}" if n.incident_id else base
    temporal = ""
    if temporal_ui_url and n.workflow_id:
        temporal = (
            f"{temporal_ui_url.rstrip('/')}/namespaces/{quote(temporal_namespace, safe='')}"
            f"/workflows/{quote(n.workflow_id, safe='')}"
        )
    return NotificationLinks(console=console, temporal=temporal)


def redact_notification(n: Notification) -> Notification:
    """The notification with every secret-looking value replaced (alert text is untrusted)."""
    return Notification.model_validate(redact_json(n.model_dump(mode="json")))
