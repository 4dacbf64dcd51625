"""Notification builders: every event kind renders within Block Kit's limits, untrusted text is
escaped, secrets never reach a message, and the webhook payload keeps its shape."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.incident.alerts import AlertGroup
from domain.incident.model import incident_from_group
from domain.notifications.model import (
    NEXT_STEP_CHARS,
    NEXT_STEPS_MAX,
    NOTIFICATION_EVENTS,
    DriftedResource,
    DriftItem,
    Notification,
    NotificationLinks,
    notification_key,
    notification_links,
)
from domain.notifications.render import (
    APPROVE_ACTION,
    REJECT_ACTION,
    decision_value,
    escape_mrkdwn,
    parse_decision_value,
    slack_message,
    webhook_payload,
)
from domain.review.changes import ObjectRef
from domain.review.findings import Finding
from domain.review.plan_impact import PlanImpact
from tests.domain import redaction_corpus as c

AT = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
DEADLINE = AT + timedelta(hours=4)
LINKS = NotificationLinks(
    console="http://medic.example/console/incidents/incident-alert-1.abcd1234",
    temporal="http://temporal.example/namespaces/default/workflows/incident-alert-1",
)
BASE: dict[str, Any] = {
    "incident_id": "incident-alert-1.abcd1234",
    "workflow_id": "incident-alert-1",
    "seq": 1,
    "title": "ledger OOMKilled (payments)",
    "risk": "medium",
    "namespace": "payments",
    "target": "payments/Deployment/ledger",
    "root_cause": "oom",
    "summary": "ledger is OOMKilled at its 128Mi limit; raise it to 256Mi",
    "approvals_required": 1,
    "deadline": DEADLINE,
    "occurred_at": AT,
}


def notification(event: str, **overrides: Any) -> Notification:
    extra: dict[str, Any] = {
        "awaiting_approval": {"status": "awaiting_approval"},
        "approval_reminder": {"status": "awaiting_approval", "occurred_at": DEADLINE - timedelta(minutes=15)},
        "decision": {"approver": "alice", "decision": "approve", "reason": "ok", "approvals": 1},
        "outcome": {"outcome": "resolved", "status": "resolved", "reason": "rollout healthy and stable"},
        "model_unusable": {
            "status": "analyzing",
            "reason": "model unusable: anthropic refused the API key (HTTP 401); "
            "diagnosed by the offline rules",
        },
        "drift_report": {
            "incident_id": "",
            "workflow_id": "drift-scan-2026-11-23",
            "drift_scanned": 12,
            "drift": [
                DriftItem(
                    application="shop-checkout",
                    destination_namespace="shop",
                    health_status="Healthy",
                    revision="0123456789abcdef0123",
                    resources=[DriftedResource(kind="Deployment", name="checkout", namespace="shop")],
                ),
                DriftItem(application="payments-ledger", destination_namespace="payments"),
            ],
        },
    }[event]
    return Notification.model_validate({**BASE, "event": event, **extra, **overrides})


# --- a Block Kit validator -------------------------------------------------------------------------


def text_objects(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every text object of the blocks."""
    found: list[dict[str, Any]] = []
    for block in message["blocks"]:
        if "text" in block:
            found.append(block["text"])
        found.extend(block.get("fields", []))
        for element in block.get("elements", []):
            found.append(element["text"] if element.get("type") == "button" else element)
    return found


def assert_block_kit(message: dict[str, Any]) -> None:
    """The limits Slack enforces on a message (it answers 400 invalid_blocks otherwise)."""
    assert set(message) == {"text", "blocks"}
    assert isinstance(message["text"], str) and message["text"].strip()
    blocks = message["blocks"]
    assert 1 <= len(blocks) <= 50
    action_ids: list[str] = []
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 1 <= len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 1 <= len(block["text"]["text"]) <= 3000
            fields = block.get("fields", [])
            assert len(fields) <= 10
            assert all(1 <= len(f["text"]) <= 2000 for f in fields)
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(1 <= len(e["text"]) <= 3000 for e in block["elements"])
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button"
                assert button["text"]["type"] == "plain_text"
                assert 1 <= len(button["text"]["text"]) <= 75
                if "url" in button:
                    assert button["url"].startswith(("http://", "https://")) and len(button["url"]) <= 3000
                else:
                    assert 1 <= len(button["value"]) <= 2000
                    confirm = button["confirm"]
                    assert (
                        1 <= len(confirm["title"]["text"]) <= 100 and 1 <= len(confirm["text"]["text"]) <= 300
                    )
                    assert all(1 <= len(confirm[k]["text"]) <= 30 for k in ("confirm", "deny"))
                assert button.get("style", "primary") in ("primary", "danger")
                assert 1 <= len(button["action_id"]) <= 255
                action_ids.append(button["action_id"])
        else:
            pytest.fail(f"unexpected block type {kind}")
    assert len(action_ids) == len(set(action_ids))
    for text in text_objects(message):
        assert text["type"] in ("plain_text", "mrkdwn") and text["text"].strip()


# Our own mrkdwn controls: dates (`<!date^...|...>`). Anything else in `<...>` came from outside.
OWN_CONTROLS = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>]*>")
ENTITY = re.compile(r"&(amp|lt|gt);")


def assert_escaped(mrkdwn: str) -> None:
    rest = OWN_CONTROLS.sub("", mrkdwn)
    assert "<" not in rest and ">" not in rest, rest
    assert "&" not in ENTITY.sub("", rest), rest


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    return [message["text"]] + [t["text"] for t in text_objects(message) if t["type"] == "mrkdwn"]


# --- Slack -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", NOTIFICATION_EVENTS)
def test_every_event_renders_within_block_kit_limits(event: str) -> None:
    message = slack_message(notification(event), LINKS)
    assert_block_kit(message)
    for text in mrkdwn_texts(message):
        assert_escaped(text)
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [b["text"]["text"] for b in actions[0]["elements"]] == ["Open in console", "Open in Temporal"]
    assert actions[0]["elements"][0]["url"] == LINKS.console


def test_awaiting_approval_carries_risk_diagnosis_target_approvals_and_deadline() -> None:
    message = slack_message(notification("awaiting_approval"), LINKS)
    header = message["blocks"][0]["text"]["text"]
    assert "Approval needed" in header and "ledger OOMKilled (payments)" in header
    section = message["blocks"][1]
    assert "raise it to 256Mi" in section["text"]["text"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in section["fields"]}
    assert fields["*Risk*"] == "medium"
    assert fields["*Approvals*"] == "0/1"
    assert fields["*Target*"] == "`payments/Deployment/ledger`"
    assert f"<!date^{int(DEADLINE.timestamp())}^" in fields["*Deadline*"]
    assert "2026-11-23 23:00 UTC" in fields["*Deadline*"]
    assert "risk medium, 0/1 approvals" in message["text"]
    context = " ".join(e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"])
    assert "`medic approve incident-alert-1.abcd1234 --as NAME`" in context


PLAN = "a" * 64


@pytest.mark.parametrize("event", ["awaiting_approval", "approval_reminder"])
def test_with_interactivity_an_approval_request_has_approve_and_reject_buttons_bound_to_the_plan(
    event: str,
) -> None:
    message = slack_message(notification(event, plan_hash=PLAN), LINKS, interactive=True)
    assert_block_kit(message)
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert list(buttons) == [APPROVE_ACTION, REJECT_ACTION, "medic_open_console", "medic_open_temporal"]
    approve, reject = buttons[APPROVE_ACTION], buttons[REJECT_ACTION]
    assert (approve["text"]["text"], approve["style"]) == ("Approve", "primary")
    assert (reject["text"]["text"], reject["style"]) == ("Reject", "danger")
    assert parse_decision_value(approve["value"]) == ("incident-alert-1.abcd1234", PLAN)
    assert approve["value"] == reject["value"] == decision_value("incident-alert-1.abcd1234", PLAN)
    assert "style" not in buttons["medic_open_console"], "one primary button: Approve"


@pytest.mark.parametrize(
    ("event", "interactive", "plan_hash"),
    [
        ("awaiting_approval", False, PLAN),  # no signing secret: as before
        ("awaiting_approval", True, ""),  # nothing to bind a decision to
        ("decision", True, PLAN),
        ("outcome", True, PLAN),
    ],
)
def test_no_decision_buttons_without_interactivity_a_plan_or_an_approval_to_ask(
    event: str, interactive: bool, plan_hash: str
) -> None:
    message = slack_message(notification(event, plan_hash=plan_hash), LINKS, interactive=interactive)
    ids = [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["medic_open_console", "medic_open_temporal"]


def test_an_incident_id_too_long_for_a_button_gets_no_decision_buttons() -> None:
    message = slack_message(
        notification("awaiting_approval", incident_id="i" * 2000 + ".abcd1234", plan_hash=PLAN),
        LINKS,
        interactive=True,
    )
    assert_block_kit(message)
    ids = [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert APPROVE_ACTION not in ids


@pytest.mark.parametrize(
    "value", ["", "nonsense", "[1]", '{"incident":"x"}', '{"incident":"","plan_hash":"p"}']
)
def test_a_button_value_that_is_not_medics_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_decision_value(value)


def test_reminder_says_how_long_is_left() -> None:
    message = slack_message(notification("approval_reminder"), LINKS)
    assert "due in 15 min" in message["blocks"][0]["text"]["text"]
    hour = notification("approval_reminder", occurred_at=DEADLINE - timedelta(hours=1))
    assert "due in 1 h" in slack_message(hour, LINKS)["blocks"][0]["text"]["text"]


def test_decision_names_the_approver_the_reason_and_the_count() -> None:
    message = slack_message(notification("decision", approvals_required=2), LINKS)
    assert message["blocks"][0]["text"]["text"].startswith(":heavy_check_mark: Approved by alice")
    section = message["blocks"][1]
    assert "*Reason:* ok" in section["text"]["text"]
    assert "*Approvals*\n1/2" in [f["text"] for f in section["fields"]]
    rejected = slack_message(notification("decision", decision="reject", approver="bob", reason=""), LINKS)
    assert "Rejected by bob" in rejected["blocks"][0]["text"]["text"]
    assert "_none given_" in rejected["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    "outcome", ["resolved", "rolled_back", "rejected", "expired", "needs_review", "no_action", "failed"]
)
def test_every_outcome_has_its_header_and_reason(outcome: str) -> None:
    message = slack_message(notification("outcome", outcome=outcome, reason=f"because {outcome}"), LINKS)
    assert_block_kit(message)
    assert f"because {outcome}" in message["blocks"][1]["text"]["text"]
    assert f"*Outcome*\n`{outcome}`" in [f["text"] for f in message["blocks"][1]["fields"]]
    assert f"because {outcome}" in message["text"]


def test_the_outcomes_reason_is_the_first_line_of_the_message() -> None:
    why = "observe failed: the Kubernetes API at https://10.0.0.1:6443 refused the connection"
    message = slack_message(notification("outcome", outcome="failed", reason=why), LINKS)
    assert message["blocks"][1]["text"]["text"].split("\n")[0] == f"*Why:* {why}"
    assert message["text"] == f":x: Failed: ledger OOMKilled (payments) — {why}"
    payload = webhook_payload(notification("outcome", outcome="failed", reason=why), LINKS)
    assert list(payload)[:4] == ["id", "version", "event", "reason"] and payload["reason"] == why


def test_an_unusable_model_is_told_with_why_first_and_what_diagnosed_instead() -> None:
    n = notification("model_unusable")
    message = slack_message(n, LINKS)
    assert_block_kit(message)
    header = message["blocks"][0]["text"]["text"]
    assert header == ":warning: Model unusable, the offline rules diagnosed: ledger OOMKilled (payments)"
    body = message["blocks"][1]["text"]["text"].split("\n")
    assert body[0] == f"*Why:* {n.reason}"
    assert body[1].startswith("*Diagnosis:* ledger is OOMKilled")
    assert n.reason in message["text"]
    payload = webhook_payload(n, LINKS)
    assert payload["event"] == "model_unusable" and payload["reason"] == n.reason
    assert payload["id"] == "incident-alert-1.abcd1234:model_unusable:1"


def test_drift_report_lists_applications_and_resources() -> None:
    message = slack_message(notification("drift_report"), LINKS)
    assert message["blocks"][0]["text"]["text"] == ":mag: Drift: 2 applications out of sync with Git"
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]
    assert any("*shop-checkout*" in t and "`shop/Deployment/checkout`" in t for t in texts)
    assert any("*payments-ledger*" in t for t in texts)
    fields = [f["text"] for f in message["blocks"][1]["fields"]]
    assert "*Scanned*\n12" in fields and "*Applications*\n2" in fields


def test_huge_inputs_are_cut_to_the_limits() -> None:
    hostile = "<!channel> & <https://evil.example|click> " * 400
    big = notification(
        "awaiting_approval",
        title="T" * 500 + hostile,
        summary=hostile,
        target="payments/Deployment/" + "x" * 3000,
        root_cause=hostile,
    )
    message = slack_message(big, NotificationLinks(console="http://c.example/" + "a" * 4000, temporal=""))
    assert_block_kit(message)
    for text in mrkdwn_texts(message):
        assert_escaped(text)
    # A console URL beyond Slack's limit is left out rather than refused by Slack.
    assert not [b for b in message["blocks"] if b["type"] == "actions"]

    many = [
        DriftItem(
            application=f"app-{i:03d}<b>",
            resources=[DriftedResource(kind="ConfigMap", name=f"cm-{j}-{'y' * 60}") for j in range(200)],
        )
        for i in range(120)
    ]
    drift = slack_message(notification("drift_report", drift=many), LINKS)
    assert_block_kit(drift)
    for text in mrkdwn_texts(drift):
        assert_escaped(text)
    assert "…and 80 more applications" in json.dumps(drift, ensure_ascii=False)


def test_untrusted_text_cannot_mention_or_link() -> None:
    n = notification(
        "decision",
        approver="<!here>",
        reason="<!channel> <@U024BE7LH> <https://evil.example|approve here> & more",
        summary="a > b && c < d",
    )
    message = slack_message(n, LINKS)
    for text in mrkdwn_texts(message):
        assert_escaped(text)
    body = message["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|approve here&gt; &amp; more" in body
    assert "a &gt; b &amp;&amp; c &lt; d" in body


def test_escape_mrkdwn_is_exactly_the_three_controls() -> None:
    assert escape_mrkdwn("a & b < c > d *e* _f_ `g`") == "a &amp; b &lt; c &gt; d *e* _f_ `g`"


def test_a_token_in_an_alert_annotation_never_reaches_a_message() -> None:
    token = c.GITHUB_PAT_CLASSIC.secret
    hook = c.SLACK_WEBHOOK.secret
    group = AlertGroup.model_validate(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "status": "firing",
            "receiver": "remediator",
            "commonAnnotations": {"summary": f"deploy failed, retry with token {token}"},
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "DeployFailed"},
                    "annotations": {"summary": f"deploy failed, retry with token {token}"},
                    "startsAt": "2026-11-23T18:55:28Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": "b58c4386f2be6d41",
                }
            ],
        }
    )
    incident = incident_from_group("incident-alert-1", group)  # not redacted: the builders must do it
    assert token in incident.title
    n = notification(
        "outcome",
        title=incident.title,
        reason=f"posting to https://hooks.slack.com/services/{hook} failed; password=hunter2hunter2",
        outcome="failed",
    )
    for rendered in (slack_message(n, LINKS), webhook_payload(n, LINKS, sent_at=AT)):
        text = json.dumps(rendered)
        assert token not in text and hook not in text and "hunter2hunter2" not in text
        assert "[REDACTED:github_token]" in text and "[REDACTED:slack_webhook]" in text
        assert "incident-alert-1.abcd1234" in text  # ids survive


# --- the generic webhook ---------------------------------------------------------------------------


@pytest.mark.parametrize("event", NOTIFICATION_EVENTS)
def test_webhook_payload_keeps_one_shape(event: str) -> None:
    payload = webhook_payload(notification(event), LINKS, sent_at=AT + timedelta(seconds=2))
    assert set(payload) == {
        "id",
        "version",
        "event",
        "occurred_at",
        "sent_at",
        "incident",
        "reason",
        "decision",
        "drift",
        "links",
    }
    assert set(payload["incident"]) == {
        "id",
        "workflow_id",
        "title",
        "status",
        "outcome",
        "risk",
        "namespace",
        "target",
        "root_cause",
        "summary",
        "next_steps",
        "approvals",
        "deadline",
        "impact",
        "pull_request",
    }
    assert payload["incident"]["impact"] is None
    assert payload["incident"]["pull_request"] is None
    assert payload["event"] == event and payload["version"] == 1
    assert payload["sent_at"] == "2026-11-23T19:00:02+00:00"
    assert payload["links"] == {"console": LINKS.console, "temporal": LINKS.temporal}
    assert (payload["decision"] is not None) == (event == "decision")
    assert (payload["drift"] is not None) == (event == "drift_report")
    json.dumps(payload)  # plain JSON


IMPACT = PlanImpact(
    monthly_delta_usd=121.51,
    downtime=[
        Finding(
            category="downtime",
            severity="high",
            object=ObjectRef(api_version="apps/v1", kind="Deployment", namespace="payments", name="ledger"),
            field="spec.strategy.type",
            message="Deployment payments/ledger: strategy Recreate → Recreate with 1 replica(s): "
            "this rollout stops every pod before any new one starts",
        )
    ],
    summary="+$121.51/month (OpenCost default list prices (GCP us-central1)); downtime: "
    "Deployment payments/ledger: strategy Recreate with 1 replica(s) <!channel>",
)


@pytest.mark.parametrize("event", ["awaiting_approval", "approval_reminder"])
def test_approval_request_shows_the_plan_impact_in_one_line(event: str) -> None:
    message = slack_message(notification(event, impact=IMPACT), LINKS)
    body = message["blocks"][1]["text"]["text"]
    [line] = [line for line in body.splitlines() if line.startswith("*Impact:*")]
    assert line.startswith("*Impact:* +$121.51/month (OpenCost default list prices")
    assert "&lt;!channel&gt;" in line and "<!channel>" not in line
    incident = webhook_payload(notification(event, impact=IMPACT), LINKS)["incident"]
    assert incident["impact"] == {
        "summary": IMPACT.summary,
        "monthly_delta_usd": 121.51,
        "basis": "OpenCost default list prices (GCP us-central1)",
        "downtime": [IMPACT.downtime[0].message],
        "rollback": [],
        "not_assessed": [],
    }


def test_only_an_approval_request_shows_the_impact_in_slack() -> None:
    message = slack_message(notification("outcome", impact=IMPACT), LINKS)
    assert "Impact" not in json.dumps(message)
    assert "*Impact:*" not in json.dumps(slack_message(notification("awaiting_approval"), LINKS))


def test_webhook_payload_content() -> None:
    payload = webhook_payload(notification("decision"), LINKS)
    assert payload["id"] == "incident-alert-1.abcd1234:decision:1"
    assert payload["decision"] == {"approver": "alice", "decision": "approve", "reason": "ok"}
    assert payload["incident"]["approvals"] == {"count": 1, "required": 1}
    assert payload["incident"]["deadline"] == "2026-11-23T23:00:00+00:00"
    assert payload["sent_at"] is None
    drift = webhook_payload(notification("drift_report"), NotificationLinks())
    assert drift["id"] == "drift-scan-2026-11-23:drift_report:1"
    assert drift["drift"]["scanned"] == 12
    assert drift["drift"]["items"][0]["resources"][0] == {
        "kind": "Deployment",
        "name": "checkout",
        "namespace": "shop",
        "status": "OutOfSync",
        "health": "",
    }
    assert drift["links"] == {"console": None, "temporal": None}


def test_idempotency_key_is_stable_and_distinct() -> None:
    a = notification("decision", seq=3)
    assert notification_key(a) == notification_key(a.model_copy()) == "incident-alert-1.abcd1234:decision:3"
    assert notification_key(a) != notification_key(a.model_copy(update={"seq": 4}))


def test_links_are_built_from_bases_and_ids() -> None:
    links = notification_links(
        notification("awaiting_approval"),
        console_url="https://medic.example.com/",
        temporal_ui_url="https://temporal.example.com",
        temporal_namespace="prod",
    )
    assert links.console == "https://medic.example.com/console/incidents/incident-alert-1.abcd1234"
    assert links.temporal == "https://temporal.example.com/namespaces/prod/workflows/incident-alert-1"
    none = notification_links(
        notification("drift_report", workflow_id=""),
        console_url="",
        temporal_ui_url="x",
        temporal_namespace="d",
    )
    assert none == NotificationLinks()
    odd = notification_links(
        notification("outcome", incident_id="a/b c"),
        console_url="http://c",
        temporal_ui_url="",
        temporal_namespace="d",
    )
    assert odd.console == "http://c/console/incidents/a%2Fb%20c"


# --- next steps ------------------------------------------------------------------------------------

STEPS = [
    "Read the kubelet's message: `kubectl -n payments describe pod ledger-5c6b7d8f9-b7xkq` (Events).",
    "Create the missing key in ConfigMap ledger-env <!channel> <https://evil.example|here>.",
]


def _steps_block(message: dict[str, Any]) -> dict[str, Any] | None:
    found = [
        b for b in message["blocks"] if b["type"] == "section" and "What to do next" in b["text"]["text"]
    ]
    assert len(found) <= 1
    return found[0] if found else None


def test_a_needs_review_outcome_says_what_to_do_next_in_slack_and_the_webhook() -> None:
    n = notification(
        "outcome", outcome="needs_review", status="needs_review", reason="no automatic fix", next_steps=STEPS
    )
    message = slack_message(n, LINKS)
    assert_block_kit(message)
    block = _steps_block(message)
    assert block is not None
    text = block["text"]["text"]
    assert text.startswith("*What to do next:*\n1. Read the kubelet's message: `kubectl -n payments describe")
    assert "\n2. Create the missing key" in text
    assert_escaped(text)  # a step can neither mention nor link
    # after the story (why, diagnosis), before the context line and the buttons
    kinds = [b["type"] for b in message["blocks"]]
    assert message["blocks"].index(block) == 2 and kinds[-2:] == ["context", "actions"]
    payload = webhook_payload(n, LINKS)
    assert payload["incident"]["next_steps"] == STEPS


def test_next_steps_are_bounded_in_count_and_length() -> None:
    many = [f"step {i}: " + "x" * 1000 for i in range(20)]
    n = notification("awaiting_approval", next_steps=many)
    payload = webhook_payload(n, LINKS)
    assert len(payload["incident"]["next_steps"]) == NEXT_STEPS_MAX
    assert all(len(s) == NEXT_STEP_CHARS and s.endswith("…") for s in payload["incident"]["next_steps"])
    message = slack_message(n, LINKS)
    assert_block_kit(message)
    block = _steps_block(message)
    assert block is not None and block["text"]["text"].count("\n") == NEXT_STEPS_MAX


def test_no_next_steps_no_block_and_an_empty_list() -> None:
    for event in ("outcome", "awaiting_approval"):
        n = notification(event)
        assert _steps_block(slack_message(n, LINKS)) is None
        assert webhook_payload(n, LINKS)["incident"]["next_steps"] == []
    # a decision is about the approver, not about what to do next
    assert _steps_block(slack_message(notification("decision", next_steps=STEPS), LINKS)) is None


def test_a_notification_from_an_older_history_has_no_next_steps() -> None:
    old = {k: v for k, v in notification("outcome").model_dump(mode="json").items() if k != "next_steps"}
    assert Notification.model_validate(old).next_steps == []
