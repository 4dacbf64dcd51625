"""Slack's interactions: the request signature and timestamp, the Slack users file, and the
endpoint's answers (the decision itself on real Temporal: tests/e2e/test_slack_approval.py)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pytest_httpserver import HTTPServer

from domain.notifications.render import APPROVE_ACTION, REJECT_ACTION, decision_value
from domain.settings import Settings
from gateway.app import create_app
from gateway.slack_interactions import (
    MAX_SKEW_SECONDS,
    SlackUser,
    SlackUsersFile,
    parse_slack_users,
    signature_refusal,
    slack_signature,
)
from tests.console_fixtures import PENDING, PLAN_HASH, FakeTemporal

# Slack's documented example ("Verifying requests from Slack"): a vector computed by Slack, not
# by the code under test.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
DOC_NOW = int(DOC_TIMESTAMP) + 30


def doc_headers(**changes: str) -> dict[str, str]:
    headers = {"x-slack-request-timestamp": DOC_TIMESTAMP, "x-slack-signature": DOC_SIGNATURE}
    headers.update(changes)
    return {k: v for k, v in headers.items() if v}


def test_slacks_documented_request_verifies() -> None:
    assert slack_signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    assert signature_refusal(DOC_SECRET, doc_headers(), DOC_BODY, now=DOC_NOW) is None


@pytest.mark.parametrize(
    ("secret", "headers", "body", "now", "reason"),
    [
        ("", doc_headers(), DOC_BODY, DOC_NOW, "not configured"),
        ("another-secret", doc_headers(), DOC_BODY, DOC_NOW, "does not match"),
        (DOC_SECRET, doc_headers(), DOC_BODY.replace(b"U2CERLKJA", b"U2CERLKJB"), DOC_NOW, "does not match"),
        (
            DOC_SECRET,
            doc_headers(**{"x-slack-signature": "v0=" + "0" * 64}),
            DOC_BODY,
            DOC_NOW,
            "does not match",
        ),
        (DOC_SECRET, doc_headers(**{"x-slack-signature": ""}), DOC_BODY, DOC_NOW, "missing"),
        (DOC_SECRET, doc_headers(**{"x-slack-request-timestamp": ""}), DOC_BODY, DOC_NOW, "missing"),
        (
            DOC_SECRET,
            doc_headers(**{"x-slack-request-timestamp": "soon"}),
            DOC_BODY,
            DOC_NOW,
            "not a Unix time",
        ),
        (DOC_SECRET, doc_headers(), DOC_BODY, int(DOC_TIMESTAMP) + MAX_SKEW_SECONDS + 1, "replay"),
        (DOC_SECRET, doc_headers(), DOC_BODY, int(DOC_TIMESTAMP) - MAX_SKEW_SECONDS - 1, "replay"),
    ],
    ids=[
        "no-secret",
        "wrong-secret",
        "tampered-body",
        "bad-signature",
        "no-signature",
        "no-timestamp",
        "timestamp-not-a-number",
        "stale",
        "from-the-future",
    ],
)
def test_a_request_slack_did_not_sign_now_is_refused_with_the_reason(
    secret: str, headers: dict[str, str], body: bytes, now: int, reason: str
) -> None:
    refusal = signature_refusal(secret, headers, body, now=now)
    assert refusal is not None and reason in refusal


def test_a_stale_timestamp_is_refused_even_with_a_good_signature_for_it() -> None:
    old = str(int(time.time()) - MAX_SKEW_SECONDS - 60)
    headers = {"x-slack-request-timestamp": old, "x-slack-signature": slack_signature("s", old, b"x")}
    assert "replay" in (signature_refusal("s", headers, b"x") or "")


# --- the Slack users file -----------------------------------------------------------------------


def test_the_users_file_maps_slack_ids_to_users_and_groups_in_yaml_or_json() -> None:
    yaml_text = "U1:\n  user: alice\n  groups: [sre, sre, oncall]\nU2: {user: bob}\n"
    json_text = json.dumps({"U1": {"user": "alice", "groups": ["sre", "oncall"]}, "U2": {"user": "bob"}})
    expected = {"U1": SlackUser("alice", ("sre", "oncall")), "U2": SlackUser("bob")}
    assert parse_slack_users(yaml_text) == parse_slack_users(json_text) == expected
    assert parse_slack_users("") == {}


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[U1]", "expected a mapping"),
        ("U1: alice", "U1: expected {user: NAME"),
        ("U1: {user: ''}", "U1: expected {user: NAME"),
        ("U1: {user: alice, groups: sre}", "U1: groups must be a list"),
        ("U1: {user: alice, admin: true}", "unknown keys ['admin']"),
        ("U1: [unclosed", "not YAML or JSON"),
    ],
)
def test_a_malformed_users_file_is_refused_naming_the_entry(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint.replace("[", r"\[").replace("{", r"\{")):
        parse_slack_users(text)


def test_the_users_file_is_read_again_when_it_changes_and_a_broken_one_maps_nobody(tmp_path: Path) -> None:
    path = tmp_path / "slack-users.yaml"
    path.write_text("U1: {user: alice}\n")
    users = SlackUsersFile(str(path))
    assert users.get("U1") == SlackUser("alice")
    path.write_text("U1: {user: alice}\nU2: {user: bob, groups: [sre]}\n")
    assert users.get("U2") == SlackUser("bob", ("sre",))
    path.write_text("U1: [broken\n")
    assert users.get("U1") is None
    assert SlackUsersFile("").get("U1") is None
    assert SlackUsersFile(str(tmp_path / "missing")).get("U1") is None


# --- the endpoint ---------------------------------------------------------------------------------

SECRET = "slack-test-secret"
RESPOND = "/respond"


def interaction(action: str, user: str, response_url: str, **payload: Any) -> bytes:
    button = {"type": "button", "action_id": action, "value": decision_value(PENDING, PLAN_HASH)}
    body = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [button],
        "response_url": response_url,
        "message": {
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Approval needed"}},
                {
                    "type": "actions",
                    "elements": [
                        button,
                        {"type": "button", "action_id": "medic_open_console", "url": "http://x"},
                    ],
                },
            ]
        },
    }
    body.update(payload)
    return urlencode({"payload": json.dumps(body)}).encode()


def signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(SECRET, timestamp, body),
    }


@pytest.fixture
def gateway(tmp_path: Path) -> Any:
    users = tmp_path / "slack-users.json"
    users.write_text(json.dumps({"U0SAM": {"user": "sam", "groups": ["sre"]}}))

    def make(temporal: FakeTemporal, secret: str = SECRET) -> httpx.AsyncClient:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'medic.db'}",
            slack_signing_secret=secret,
            slack_users_file=str(users),
        )
        app = create_app(settings, temporal.factory)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")

    return make


async def posted(httpserver: HTTPServer, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(httpserver.log) < count:
        assert loop.time() < deadline, f"{len(httpserver.log)} messages on the response_url, expected {count}"
        await asyncio.sleep(0.05)
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


async def test_without_a_signing_secret_every_interaction_is_refused(
    gateway: Any, httpserver: HTTPServer
) -> None:
    temporal = FakeTemporal()
    body = interaction(APPROVE_ACTION, "U0SAM", httpserver.url_for(RESPOND))
    async with gateway(temporal, secret="") as http:
        response = await http.post("/slack/interactions", content=body, headers=signed(body))
    assert response.status_code == 401 and "MEDIC_SLACK_SIGNING_SECRET" in response.json()["error"]
    assert temporal.decisions == []


async def test_a_rejection_from_slack_is_the_mapped_users_with_their_groups_and_drops_the_buttons(
    gateway: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(RESPOND, method="POST").respond_with_data("ok")
    temporal = FakeTemporal()
    body = interaction(REJECT_ACTION, "U0SAM", httpserver.url_for(RESPOND))
    async with gateway(temporal) as http:
        response = await http.post("/slack/interactions", content=body, headers=signed(body))
        assert response.status_code == 200
        (message,) = await posted(httpserver, 1)
    (decision,) = temporal.decisions
    assert (decision.approver, decision.groups, decision.decision) == ("sam", ["sre"], "reject")
    assert (decision.channel, decision.plan_hash) == ("slack", PLAN_HASH)
    assert message["replace_original"] is True and "rejected by sam in Slack" in message["text"]
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["medic_open_console"], "links stay, buttons go"


async def test_a_refusal_by_the_workflow_goes_to_the_clicker_only(
    gateway: Any, httpserver: HTTPServer
) -> None:
    httpserver.expect_request(RESPOND, method="POST").respond_with_data("ok")
    temporal = FakeTemporal(refuse="sam is not allowed to decide on this plan; the policy allows: group:dba")
    body = interaction(APPROVE_ACTION, "U0SAM", httpserver.url_for(RESPOND))
    async with gateway(temporal) as http:
        assert (await http.post("/slack/interactions", content=body, headers=signed(body))).status_code == 200
        (message,) = await posted(httpserver, 1)
    assert message == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": "medic refused: sam is not allowed to decide on this plan; the policy allows: group:dba",
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not a form", 400),
        (urlencode({"payload": "{not json"}).encode(), 400),
        (urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(), 200),
        (interaction("someone_elses_button", "U0SAM", "http://127.0.0.1:9/x"), 200),
        (interaction(APPROVE_ACTION, "U0SAM", "http://127.0.0.1:9/x", actions=[]), 200),
    ],
    ids=["not-a-form", "not-json", "not-block-actions", "another-button", "no-action"],
)
async def test_a_signed_request_that_is_not_a_medic_button_decides_nothing(
    gateway: Any, body: bytes, status: int
) -> None:
    temporal = FakeTemporal()
    async with gateway(temporal) as http:
        response = await http.post("/slack/interactions", content=body, headers=signed(body))
    assert response.status_code == status
    assert temporal.decisions == []
