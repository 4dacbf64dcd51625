"""The two shapes a notification is sent in: a signed JSON webhook payload and a Slack Block Kit message,
each within the receiver's limits. Pure."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from domain.notifications.model import (
    PAYLOAD_VERSION,
    DriftItem,
    Notification,
    NotificationLinks,
    bounded_next_steps,
    notification_key,
    redact_notification,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# A notification names at most this many findings of a kind; the console shows them all.
IMPACT_FINDINGS_MAX = 5


def _impact(n: Notification) -> dict[str, Any] | None:
    impact = n.impact
    if impact is None:
        return None
    return {
        "summary": impact.summary,
        "monthly_delta_usd": impact.monthly_delta_usd,
        "basis": impact.basis,
        "downtime": impact.messages("downtime")[:IMPACT_FINDINGS_MAX],
        "rollback": impact.messages("rollback")[:IMPACT_FINDINGS_MAX],
        "not_assessed": impact.not_assessed[:IMPACT_FINDINGS_MAX],
    }


def webhook_payload(
    n: Notification, links: NotificationLinks, *, sent_at: datetime | None = None
) -> dict[str, Any]:
    """The JSON document posted to the generic webhook. Every key is always present (null or
    empty when it does not apply), so receivers can rely on the shape; `id` is the idempotency
    key (`notification_key`), the same for every retry of one notification."""
    n = redact_notification(n)
    return {
        "id": notification_key(n),
        "version": PAYLOAD_VERSION,
        "event": n.event,
        # First after what happened: the one line that says why (an outcome's, an unusable model's).
        "reason": n.reason,
        "occurred_at": _iso(n.occurred_at),
        "sent_at": _iso(sent_at),
        "incident": {
            "id": n.incident_id or None,
            "workflow_id": n.workflow_id or None,
            "title": n.title,
            "status": n.status or None,
            "outcome": n.outcome,
            "risk": n.risk or None,
            "namespace": n.namespace or None,
            "target": n.target or None,
            "root_cause": n.root_cause or None,
            "summary": n.summary,
            # what a human should do next (at most NEXT_STEPS_MAX, each at most NEXT_STEP_CHARS)
            "next_steps": bounded_next_steps(n.next_steps),
            "approvals": {"count": n.approvals, "required": n.approvals_required},
            "deadline": _iso(n.deadline),
            # the plan's monthly cost delta and downtime/rollback findings; null when not assessed
            "impact": _impact(n),
            # the pull request already open for what is decided on; null when none
            "pull_request": (
                {"number": n.pull_request, "url": n.pull_request_url or None} if n.pull_request else None
            ),
        },
        "decision": (
            {"approver": n.approver, "decision": n.decision, "reason": n.reason}
            if n.event == "decision" and n.decision is not None
            else None
        ),
        "drift": (
            {"scanned": n.drift_scanned, "items": [item.model_dump(mode="json") for item in n.drift]}
            if n.event == "drift_report"
            else None
        ),
        "links": {"console": links.console or None, "temporal": links.temporal or None},
    }


# Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
HEADER_MAX = 150


SECTION_TEXT_MAX = 3000


FIELDS_MAX = 10


FIELD_TEXT_MAX = 2000


CONTEXT_ELEMENTS_MAX = 10


BUTTON_TEXT_MAX = 75


URL_MAX = 3000


BLOCKS_MAX = 50


# The fallback `text` may be far longer; it is what a phone notification shows, so keep it short.
FALLBACK_MAX = 3000


# Drift reports: one section per application, the rest counted (header, summary, context and
# actions take the other blocks).
DRIFT_SECTIONS_MAX = 40


_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


_OUTCOME_HEADERS = {
    "resolved": (":white_check_mark:", "Resolved"),
    "rolled_back": (":leftwards_arrow_with_hook:", "Rolled back"),
    "rejected": (":no_entry:", "Rejected"),
    "expired": (":hourglass:", "Expired without a decision"),
    "needs_review": (":eyes:", "Needs review"),
    "no_action": (":zzz:", "No action"),
    "observed": (":mag:", "Observed (observe mode: nothing was changed)"),
    "failed": (":x:", "Failed"),
}


def escape_mrkdwn(text: str) -> str:
    """Text safe inside Slack mrkdwn: `&`, `<` and `>` become entities, so untrusted text can
    neither mention (`<!channel>`, `<@U123>`) nor make links of its own (`<https://x|y>`)."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut with an ellipsis and never inside an entity or a `<...>`."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]
    return cut + "…"


def _plain(text: str, limit: int) -> dict[str, Any]:
    # plain_text is not parsed for mentions or links: it needs no escaping, only a length.
    return {"type": "plain_text", "text": _clip(text, limit) or "-", "emoji": True}


def _md(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _clip(text, limit) or " "}


def _code(text: str) -> str:
    quoted = escape_mrkdwn(text.replace("`", "'"))
    return f"`{quoted}`"


def _when(value: datetime) -> str:
    """A time every reader sees in their own time zone, with a UTC fallback."""
    fallback = value.strftime("%Y-%m-%d %H:%M UTC") if value.utcoffset() is not None else value.isoformat()
    return f"<!date^{int(value.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def _title(n: Notification) -> str:
    return n.title or n.target or n.incident_id or "incident"


def _header(n: Notification) -> str:
    title = _title(n)
    if n.event == "awaiting_approval":
        return f":raised_hand: Approval needed: {title}"
    if n.event == "approval_reminder":
        due = (
            f" (due in {_duration((n.deadline - n.occurred_at).total_seconds())})"
            if n.deadline is not None and n.occurred_at is not None
            else ""
        )
        return f":alarm_clock: Reminder, approval needed{due}: {title}"
    if n.event == "decision":
        if n.decision == "reject":
            return f":no_entry_sign: Rejected by {n.approver or 'someone'}: {title}"
        return f":heavy_check_mark: Approved by {n.approver or 'someone'}: {title}"
    if n.event == "outcome":
        emoji, label = _OUTCOME_HEADERS.get(n.outcome or "", (":information_source:", "Closed"))
        return f"{emoji} {label}: {title}"
    if n.event == "model_unusable":
        return f":warning: Model unusable, the offline rules diagnosed: {title}"
    count = len(n.drift)
    return f":mag: Drift: {count} application{'s' if count != 1 else ''} out of sync with Git"


def _field(label: str, value: str) -> dict[str, Any]:
    return _md(f"*{label}*\n{value}", FIELD_TEXT_MAX)


def _fields(n: Notification) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = []
    if n.event == "outcome" and n.outcome:
        fields.append(_field("Outcome", _code(n.outcome)))
    if n.event == "decision" and n.decision:
        fields.append(_field("Decision", f"{n.decision} by {escape_mrkdwn(n.approver or 'someone')}"))
    if n.risk:
        fields.append(_field("Risk", escape_mrkdwn(n.risk)))
    if n.approvals_required:
        fields.append(_field("Approvals", f"{n.approvals}/{n.approvals_required}"))
    if n.target:
        fields.append(_field("Target", _code(n.target)))
    elif n.namespace:
        fields.append(_field("Namespace", _code(n.namespace)))
    if n.root_cause:
        fields.append(_field("Root cause", escape_mrkdwn(n.root_cause)))
    if n.deadline is not None and n.event in ("awaiting_approval", "approval_reminder", "decision"):
        fields.append(_field("Deadline", _when(n.deadline)))
    if n.event == "drift_report":
        fields.append(_field("Applications", str(len(n.drift))))
        if n.drift_scanned:
            fields.append(_field("Scanned", str(n.drift_scanned)))
        resources = sum(len(item.resources) for item in n.drift)
        fields.append(_field("Resources", str(resources)))
    return fields[:FIELDS_MAX]


def pull_request_line(n: Notification) -> str:
    """For an approval asked on a pull request already open (a degraded deploy's revert): "deploy
    abc1234 of shop-cart made p99 2.4× worse; revert PR #12 waits for approval"; "" otherwise."""
    if not n.pull_request or n.event not in ("awaiting_approval", "approval_reminder"):
        return ""
    return f"{_title(n)}; revert PR #{n.pull_request} waits for approval"


def _body(n: Notification) -> str:
    lines: list[str] = []
    if pull_request_line(n):
        line = escape_mrkdwn(pull_request_line(n))
        lines.append(f"<{n.pull_request_url}|{line}>" if n.pull_request_url.startswith("http") else line)
    if n.event == "decision":
        lines.append(f"*Reason:* {escape_mrkdwn(n.reason) if n.reason else '_none given_'}")
    elif n.event in ("outcome", "model_unusable") and n.reason:
        # The one-line reason comes first: it is what the reader needs before anything else.
        lines.append(f"*Why:* {escape_mrkdwn(n.reason)}")
    if n.summary and n.event != "drift_report":
        lines.append(f"*Diagnosis:* {escape_mrkdwn(n.summary)}")
    if n.impact is not None and n.event in ("awaiting_approval", "approval_reminder"):
        lines.append(f"*Impact:* {escape_mrkdwn(n.impact.summary)}")
    if n.event == "drift_report" and not n.drift:
        lines.append("Every application matches Git.")
    return "\n".join(lines)


# The events whose reader may have to act: they carry the diagnosis' next steps.
_NEXT_STEP_EVENTS = ("awaiting_approval", "approval_reminder", "outcome", "model_unusable")


def _next_steps_section(n: Notification) -> dict[str, Any] | None:
    steps = bounded_next_steps(n.next_steps)
    if n.event not in _NEXT_STEP_EVENTS or not steps:
        return None
    # backticks stay (a read-only command shows as code); mentions and links cannot be made
    lines = [f"{number}. {escape_mrkdwn(step)}" for number, step in enumerate(steps, 1)]
    return {"type": "section", "text": _md("*What to do next:*\n" + "\n".join(lines), SECTION_TEXT_MAX)}


def _drift_section(item: DriftItem) -> dict[str, Any]:
    state = ", ".join(escape_mrkdwn(s) for s in (item.sync_status, item.health_status) if s)
    head = f"*{escape_mrkdwn(item.application)}*"
    if item.destination_namespace:
        head += f" → {_code(item.destination_namespace)}"
    if state:
        head += f" ({state})"
    if item.revision:
        head += f" at {_code(item.revision[:12])}"
    lines = [head]
    budget = SECTION_TEXT_MAX - len(head) - 40
    for shown, resource in enumerate(item.resources):
        where = f"{resource.namespace}/" if resource.namespace else ""
        status = ", ".join(s for s in (resource.status, resource.health) if s)
        line = f"• {_code(f'{where}{resource.kind}/{resource.name}')}" + (
            f" {escape_mrkdwn(status)}" if status else ""
        )
        if len(line) + 1 > budget:
            lines.append(f"…and {len(item.resources) - shown} more")
            break
        budget -= len(line) + 1
        lines.append(line)
    return {"type": "section", "text": _md("\n".join(lines), SECTION_TEXT_MAX)}


def _context(n: Notification) -> dict[str, Any] | None:
    elements: list[dict[str, Any]] = []
    if n.incident_id:
        elements.append(_md(f"Incident {_code(n.incident_id)}", FIELD_TEXT_MAX))
    elif n.workflow_id:
        elements.append(_md(f"Workflow {_code(n.workflow_id)}", FIELD_TEXT_MAX))
    if n.event in ("awaiting_approval", "approval_reminder") and n.incident_id:
        approve = _code(f"medic approve {n.incident_id} --as NAME")
        reject = _code(f"medic reject {n.incident_id} --as NAME")
        elements.append(_md(f"Decide: {approve} or {reject}", FIELD_TEXT_MAX))
    if n.occurred_at is not None:
        elements.append(_md(_when(n.occurred_at), FIELD_TEXT_MAX))
    if not elements:
        return None
    return {"type": "context", "elements": elements[:CONTEXT_ELEMENTS_MAX]}


# Slack's interactive buttons (README "Approve from Slack"): the gateway's /slack/interactions
# acts on these action ids; a button's value holds at most BUTTON_VALUE_MAX characters.
APPROVE_ACTION = "medic_approve"
REJECT_ACTION = "medic_reject"
DECISION_ACTIONS: dict[str, Literal["approve", "reject"]] = {
    APPROVE_ACTION: "approve",
    REJECT_ACTION: "reject",
}
BUTTON_VALUE_MAX = 2000
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30


def decision_value(incident_id: str, plan_hash: str) -> str:
    """The value of an Approve / Reject button: the incident (`<workflow id>.<run>`, so a later
    run of the workflow is never decided on by an old message) and the hash of the plan the
    message shows, as compact JSON. Ids and a hash only: nothing secret."""
    return json.dumps({"incident": incident_id, "plan_hash": plan_hash}, separators=(",", ":"))


def parse_decision_value(value: str) -> tuple[str, str]:
    """The incident id and plan hash of a button's value; ValueError saying why it is not one."""
    try:
        data = json.loads(value)
    except ValueError:
        raise ValueError("the button's value is not medic's") from None
    if not isinstance(data, dict):
        raise ValueError("the button's value is not medic's")
    incident, plan_hash = data.get("incident"), data.get("plan_hash")
    if not isinstance(incident, str) or not incident or not isinstance(plan_hash, str) or not plan_hash:
        raise ValueError("the button names no incident or no plan")
    return incident, plan_hash


def _confirm(title: str, text: str, confirm: str, style: str) -> dict[str, Any]:
    return {
        "title": _plain(title, CONFIRM_TITLE_MAX),
        "text": _plain(text, CONFIRM_TEXT_MAX),
        "confirm": _plain(confirm, CONFIRM_BUTTON_MAX),
        "deny": _plain("Cancel", CONFIRM_BUTTON_MAX),
        "style": style,
    }


def _decision_buttons(n: Notification) -> list[dict[str, Any]]:
    if n.event not in ("awaiting_approval", "approval_reminder") or not n.incident_id or not n.plan_hash:
        return []
    value = decision_value(n.incident_id, n.plan_hash)
    if len(value) > BUTTON_VALUE_MAX:
        return []
    what = f"the plan of {_title(n)}"
    return [
        {
            "type": "button",
            "action_id": APPROVE_ACTION,
            "text": _plain("Approve", BUTTON_TEXT_MAX),
            "style": "primary",
            "value": value,
            "confirm": _confirm("Approve?", f"Approve {what} as yourself.", "Approve", "primary"),
        },
        {
            "type": "button",
            "action_id": REJECT_ACTION,
            "text": _plain("Reject", BUTTON_TEXT_MAX),
            "style": "danger",
            "value": value,
            "confirm": _confirm("Reject?", f"Reject {what} as yourself.", "Reject", "danger"),
        },
    ]


def _buttons(n: Notification, links: NotificationLinks, interactive: bool = False) -> dict[str, Any] | None:
    buttons: list[dict[str, Any]] = _decision_buttons(n) if interactive else []
    deciding = bool(buttons)
    for action_id, label, url in (
        ("medic_open_console", "Open in console", links.console),
        ("medic_open_temporal", "Open in Temporal", links.temporal),
    ):
        if not url or len(url) > URL_MAX:
            continue
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "text": _plain(label, BUTTON_TEXT_MAX),
            "url": url,
        }
        if (
            action_id == "medic_open_console"
            and n.event in ("awaiting_approval", "approval_reminder")
            and not deciding
        ):
            button["style"] = "primary"
        buttons.append(button)
    return {"type": "actions", "elements": buttons} if buttons else None


def _fallback(n: Notification, header: str) -> str:
    parts = [pull_request_line(n) or header]
    if n.event in ("awaiting_approval", "approval_reminder") and n.approvals_required:
        parts.append(f"risk {n.risk or '?'}, {n.approvals}/{n.approvals_required} approvals")
    if n.event in ("outcome", "model_unusable") and n.reason:
        parts.append(n.reason)
    elif n.summary and n.event != "drift_report":
        parts.append(n.summary)
    return _clip(escape_mrkdwn(" — ".join(parts)), FALLBACK_MAX)


def slack_message(n: Notification, links: NotificationLinks, *, interactive: bool = False) -> dict[str, Any]:
    """A Block Kit message for a Slack incoming webhook: `text` (the notification fallback) and
    `blocks` — a header, a section with the story and up to 10 fields, a context line with the
    incident id, and URL buttons to the console and the Temporal Web UI.

    `interactive` (Slack interactivity configured: MEDIC_SLACK_SIGNING_SECRET): a message asking
    for approval also gets Approve / Reject buttons (`APPROVE_ACTION`, `REJECT_ACTION`) whose
    value (`decision_value`) names the incident and the plan hash it carries; without a plan hash
    (or with an incident id too long for a button) the message is as without interactivity.

    What the caller can rely on: the notification is redacted first; every piece of text that
    came from an incident is escaped for mrkdwn; every Block Kit limit holds (header ≤150,
    section text ≤3000, ≤10 fields of ≤2000, button text ≤75, URLs ≤3000, ≤50 blocks), long
    text being cut with an ellipsis.
    """
    n = redact_notification(n)
    header = _header(n)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(header, HEADER_MAX)}]
    section: dict[str, Any] = {"type": "section"}
    body = _body(n)
    if body:
        section["text"] = _md(body, SECTION_TEXT_MAX)
    fields = _fields(n)
    if fields:
        section["fields"] = fields
    if len(section) > 1:
        blocks.append(section)
    steps = _next_steps_section(n)
    if steps is not None:
        blocks.append(steps)
    if n.event == "drift_report":
        blocks.extend(_drift_section(item) for item in n.drift[:DRIFT_SECTIONS_MAX])
        hidden = len(n.drift) - DRIFT_SECTIONS_MAX
        if hidden > 0:
            blocks.append(
                {"type": "context", "elements": [_md(f"…and {hidden} more applications", FIELD_TEXT_MAX)]}
            )
    blocks.extend(b for b in (_context(n), _buttons(n, links, interactive)) if b is not None)
    return {"text": _fallback(n, header), "blocks": blocks[:BLOCKS_MAX]}
