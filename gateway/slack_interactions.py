"""Slack's interactivity: `POST /slack/interactions` takes the Approve / Reject buttons of medic's
approval messages and makes the decision as the clicking person.

In order, and nothing is parsed before the first two hold:

1. Slack's signature: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<raw body>">`
   keyed with the app's signing secret (MEDIC_SLACK_SIGNING_SECRET), compared in constant time.
   No secret configured, a missing or wrong signature: 401 with the reason, nothing decided.
2. `X-Slack-Request-Timestamp` within `MAX_SKEW_SECONDS` (5 minutes) of the gateway's clock, so
   a captured request cannot be replayed later: 401 otherwise.
3. The form's `payload` (a `block_actions` interaction) and its first medic button; anything
   else a signed request may carry (another app's action, a message shortcut) is answered 200
   and ignored.
4. The Slack user is mapped to a medic user and groups by the Slack users file
   (MEDIC_SLACK_USERS_FILE, YAML or JSON: `{"U0123ABCD": {"user": "alice", "groups": ["sre"]}}`),
   read again whenever it changes. An unmapped user decides nothing.
5. The `decide` update, bound to the plan hash the button carries, with channel `slack`; the
   workflow's validator refuses a stale plan, a second decision by the same person, a person the
   policy does not allow, an incident not waiting.

Slack wants an answer within 3 seconds, and a decision waits for the workflow's worker; so once
1-3 hold the request is answered 200 at once, and 4-5 run beside it: the outcome is posted to the
interaction's `response_url` (which Slack accepts for 30 minutes). A decision that counted
replaces the original message, marking who decided, and drops the buttons once the incident no
longer waits; a refusal goes to the clicker only (`response_type: ephemeral`), in one line.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from temporalio.client import Client

from domain.incident.reason import one_line
from domain.notifications.render import DECISION_ACTIONS, parse_decision_value
from domain.policy.approval import DecisionInput
from domain.settings import Settings
from gateway.auth import ReloadingFile, secrets_equal
from gateway.console import run_decision

log = logging.getLogger("medic.gateway.slack")

ClientFactory = Callable[[], Awaitable[Client]]
INTERACTIONS_PATH = "/slack/interactions"
SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
# Slack's own advice: refuse a request whose timestamp is more than five minutes off.
MAX_SKEW_SECONDS = 300
# An interaction carries the whole message it came from; a few tens of kB at most.
MAX_BODY_BYTES = 1 << 20
RESPONSE_TIMEOUT_SECONDS = 10.0
NOT_CONFIGURED = (
    "Slack interactivity is not configured (MEDIC_SLACK_SIGNING_SECRET); every request is refused"
)


# ---- Slack's request signature ------------------------------------------------------------------


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` Slack sends for `body` at `timestamp`: `v0=<hex HMAC-SHA256>` of
    `v0:<timestamp>:<body>` keyed with the signing secret."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signature_refusal(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> str | None:
    """Why a request with these headers and this exact body is not Slack's (one line), or None
    when its signature verifies and its timestamp is within `MAX_SKEW_SECONDS` of `now`."""
    if not secret:
        return NOT_CONFIGURED
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    signature = headers.get(SIGNATURE_HEADER, "").strip()
    if not timestamp or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature: not a request from Slack"
    if not timestamp.isdigit() or len(timestamp) > 12:
        return "X-Slack-Request-Timestamp is not a Unix time"
    skew = abs((time.time() if now is None else now) - int(timestamp))
    if skew > MAX_SKEW_SECONDS:
        return (
            f"X-Slack-Request-Timestamp is {int(skew)} s away from now "
            f"(at most {MAX_SKEW_SECONDS}): refused as a replay"
        )
    if not secrets_equal(signature, slack_signature(secret, timestamp, body)):
        return "X-Slack-Signature does not match the body and the signing secret"
    return None


# ---- the Slack users file -----------------------------------------------------------------------


@dataclass(frozen=True)
class SlackUser:
    """The medic user a Slack user id stands for."""

    name: str
    groups: tuple[str, ...] = ()


def parse_slack_users(text: str) -> dict[str, SlackUser]:
    """The users of a Slack users file: a YAML (or JSON) mapping of Slack user ids to
    `{"user": NAME, "groups": [GROUP, ...]}`. Raises ValueError naming the first bad entry."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"not YAML or JSON: {one_line(str(err))}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("expected a mapping of Slack user ids to {user, groups}")
    users: dict[str, SlackUser] = {}
    for slack_id, entry in data.items():
        if not isinstance(slack_id, str) or not slack_id.strip():
            raise ValueError(f"{slack_id!r}: a Slack user id is a string such as U0123ABCD")
        if not isinstance(entry, dict) or not isinstance(entry.get("user"), str) or not entry["user"].strip():
            raise ValueError(f"{slack_id}: expected {{user: NAME, groups: [...]}}")
        groups = entry.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) and g.strip() for g in groups):
            raise ValueError(f"{slack_id}: groups must be a list of names")
        extra = set(entry) - {"user", "groups"}
        if extra:
            raise ValueError(f"{slack_id}: unknown keys {sorted(extra)} (only user and groups)")
        users[slack_id.strip()] = SlackUser(
            entry["user"].strip(), tuple(dict.fromkeys(g.strip() for g in groups))
        )
    return users


class SlackUsersFile:
    """The Slack users file, read again whenever it changes. Unset, unreadable or malformed: it
    maps nobody, and says why in the log once per change."""

    def __init__(self, path: str) -> None:
        self._file = ReloadingFile(Path(path), parse_slack_users, "Slack users file") if path else None

    def get(self, slack_id: str) -> SlackUser | None:
        return self._file.get(slack_id) if self._file is not None else None


# ---- the interaction ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    """One press of a medic Approve / Reject button, as Slack reported it."""

    slack_user: str
    slack_name: str
    decision: Literal["approve", "reject"]
    incident_id: str
    plan_hash: str
    response_url: str
    blocks: list[dict[str, Any]]


class NotOurs(Exception):
    """A signed interaction that is not a press of medic's buttons: acknowledged, ignored."""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_click(body: bytes) -> Click:
    """The button press in a form-encoded interaction (`payload=<json>`). ValueError for a body
    that is not an interaction; `NotOurs` for an interaction that is not medic's buttons."""
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=20)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        raise ValueError("expected a form with payload=<the interaction's JSON>") from None
    if not isinstance(payload, dict):
        raise ValueError("the interaction's payload is not a JSON object")
    if payload.get("type") != "block_actions":
        raise NotOurs(f"interaction type {payload.get('type')!r}")
    actions = payload.get("actions")
    action = next(
        (
            a
            for a in (actions if isinstance(actions, list) else [])
            if isinstance(a, dict) and a.get("action_id") in DECISION_ACTIONS
        ),
        None,
    )
    if action is None:
        raise NotOurs("no medic decision button")
    user = _mapping(payload.get("user"))
    slack_user = str(user.get("id") or "")
    response_url = str(payload.get("response_url") or "")
    if not slack_user or not response_url.startswith(("https://", "http://")):
        raise ValueError("the interaction names no user or no response_url")
    incident_id, plan_hash = parse_decision_value(str(action.get("value") or ""))
    blocks = _mapping(payload.get("message")).get("blocks")
    if not isinstance(blocks, list):
        blocks = []
    return Click(
        slack_user=slack_user,
        slack_name=str(user.get("username") or user.get("name") or slack_user),
        decision=DECISION_ACTIONS[str(action["action_id"])],
        incident_id=incident_id,
        plan_hash=plan_hash,
        response_url=response_url,
        blocks=[b for b in blocks if isinstance(b, dict)],
    )


def ephemeral(text: str) -> dict[str, Any]:
    """A message only the clicker sees, leaving the original as it is."""
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def decided_message(click: Click, who: str, still_waiting: bool, summary: str) -> dict[str, Any]:
    """The original message with the decision marked under it; its Approve / Reject buttons
    stay only while the incident still waits for more approvals."""
    verb = "approved" if click.decision == "approve" else "rejected"
    emoji = ":heavy_check_mark:" if click.decision == "approve" else ":no_entry_sign:"
    line = f"{emoji} {verb} by {who} in Slack; {summary}"
    blocks: list[dict[str, Any]] = []
    for block in click.blocks:
        if block.get("type") == "actions" and not still_waiting:
            elements = [
                e
                for e in block.get("elements", [])
                if isinstance(e, dict) and e.get("action_id") not in DECISION_ACTIONS
            ]
            if not elements:
                continue
            block = {**block, "elements": elements}
        blocks.append(block)
    blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": line[:2000]}]})
    return {"replace_original": True, "text": line, "blocks": blocks[-50:]}


async def post_response(response_url: str, message: dict[str, Any]) -> None:
    """Post to the interaction's response_url; failures are logged (Slack cannot be asked again)."""
    try:
        async with httpx.AsyncClient(timeout=RESPONSE_TIMEOUT_SECONDS, follow_redirects=False) as http:
            answer = await http.post(response_url, json=message)
        if answer.status_code >= 300:
            log.warning("Slack's response_url answered HTTP %s: %s", answer.status_code, answer.text[:200])
    except httpx.HTTPError as err:
        log.warning("Slack's response_url could not be reached: %s", one_line(str(err)))


def install_slack_interactions(app: FastAPI, settings: Settings, get_client: ClientFactory) -> None:
    """Add `POST /slack/interactions` to `app` (it refuses everything without a signing secret)."""
    secret = settings.slack_signing_secret
    users = SlackUsersFile(settings.slack_users_file)
    reach_seconds = settings.webhook_temporal_timeout_seconds
    # The decisions under way, held so that they are not collected before they end.
    running: set[asyncio.Task[None]] = set()

    async def decide(click: Click) -> None:
        try:
            await _decide(click)
        except Exception:
            # Nobody awaits this task: a bug here would otherwise vanish.
            log.exception("the Slack decision on %s failed", click.incident_id)

    async def _decide(click: Click) -> None:
        user = await asyncio.to_thread(users.get, click.slack_user)
        if user is None:
            log.info("Slack decision refused: Slack user %s is not mapped", click.slack_user)
            await post_response(
                click.response_url,
                ephemeral(
                    f"medic refused: your Slack user ({click.slack_user}) is not mapped to a medic user "
                    "(MEDIC_SLACK_USERS_FILE); nothing was decided"
                ),
            )
            return
        decision = DecisionInput(
            approver=user.name,
            groups=list(user.groups),
            plan_hash=click.plan_hash,
            decision=click.decision,
            channel="slack",
        )
        outcome = await run_decision(get_client, click.incident_id, decision, reach_seconds)
        if not outcome.ok or outcome.status is None:
            log.info("Slack decision by %s on %s refused: %s", user.name, click.incident_id, outcome.message)
            await post_response(click.response_url, ephemeral(f"medic {one_line(outcome.message)}"))
            return
        status = outcome.status
        approved = sum(1 for a in status.approvals if a.decision == "approve")
        # The update answers before the workflow moves on: whether it still waits is the count's.
        still_waiting = (
            status.step == "awaiting_approval"
            and click.decision == "approve"
            and approved < status.approvals_required
        )
        summary = f"{approved}/{status.approvals_required} approvals"
        await post_response(click.response_url, decided_message(click, user.name, still_waiting, summary))

    @app.post(INTERACTIONS_PATH)
    async def slack_interaction(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": "the request is too large"}, status_code=413)
        refusal = signature_refusal(secret, request.headers, body)
        if refusal is not None:
            log.warning("Slack interaction refused: %s", refusal)
            return JSONResponse({"error": refusal}, status_code=401)
        try:
            click = read_click(body)
        except NotOurs as why:
            return JSONResponse({"ignored": str(why)})
        except ValueError as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        # Answered now; the decision and its message follow through response_url.
        task = asyncio.create_task(decide(click), name=f"slack decision on {click.incident_id}")
        running.add(task)
        task.add_done_callback(running.discard)
        return Response(status_code=200)
