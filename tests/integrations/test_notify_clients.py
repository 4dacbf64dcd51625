"""The notification clients against a loopback receiver (pytest-httpserver): what arrives on the
wire, the signature, and how every kind of answer is classified."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from cli.devserver import free_port
from domain.notifications.model import Notification, NotificationLinks
from domain.notifications.render import slack_message, webhook_payload
from integrations.notify import (
    JsonWebhook,
    NotifyRateLimited,
    NotifyRejected,
    NotifyUnavailable,
    SlackWebhook,
    signature,
)
from integrations.retry_after import retry_after_seconds as retry_after

HOOK_PATH = "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"
SECRET = "s3cr3t-shared-with-the-receiver"
NOTE = Notification(
    event="awaiting_approval",
    incident_id="incident-alert-1.abcd1234",
    workflow_id="incident-alert-1",
    seq=1,
    title="ledger OOMKilled",
    risk="medium",
    approvals_required=1,
    occurred_at=datetime(2026, 11, 23, 19, 0, tzinfo=UTC),
)
LINKS = NotificationLinks(console="http://127.0.0.1:8000/console/incidents/incident-alert-1.abcd1234")


@pytest.fixture
def slack(httpserver: HTTPServer) -> Iterator[SlackWebhook]:
    client = SlackWebhook(httpserver.url_for(HOOK_PATH), timeout=2.0)
    yield client
    client.close()


@pytest.fixture
def webhook(httpserver: HTTPServer) -> Iterator[JsonWebhook]:
    client = JsonWebhook(httpserver.url_for("/medic/events?tenant=a"), SECRET, timeout=2.0)
    yield client
    client.close()


def test_slack_receives_the_block_kit_message(httpserver: HTTPServer, slack: SlackWebhook) -> None:
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("ok")
    message = slack_message(NOTE, LINKS)
    slack.post(message)
    (request, _), *_ = httpserver.log
    assert request.path == HOOK_PATH  # exactly the configured URL, no trailing slash added
    assert request.headers["Content-Type"].startswith("application/json")
    assert json.loads(request.get_data()) == message


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (400, "invalid_blocks"),
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ],
)
def test_slack_refusals_are_final_with_slacks_answer(
    httpserver: HTTPServer, slack: SlackWebhook, status: int, answer: str
) -> None:
    httpserver.expect_request(HOOK_PATH).respond_with_data(answer, status=status, content_type="text/plain")
    with pytest.raises(NotifyRejected) as refused:
        slack.post({"text": "x"})
    assert refused.value.status == status
    assert answer in str(refused.value) and f"HTTP {status}" in str(refused.value)
    assert "T0000" not in str(refused.value)  # the webhook URL is a credential: never in a message


def test_slack_rate_limit_carries_the_retry_after(httpserver: HTTPServer, slack: SlackWebhook) -> None:
    httpserver.expect_request(HOOK_PATH).respond_with_response(
        Response("rate_limited", status=429, headers={"Retry-After": "7"})
    )
    with pytest.raises(NotifyRateLimited) as limited:
        slack.post({"text": "x"})
    assert limited.value.retry_after == 7
    assert isinstance(limited.value, NotifyUnavailable)  # retryable


def test_slack_server_errors_are_retryable(httpserver: HTTPServer, slack: SlackWebhook) -> None:
    httpserver.expect_request(HOOK_PATH).respond_with_data("rollup_error", status=500)
    with pytest.raises(NotifyUnavailable) as unavailable:
        slack.post({"text": "x"})
    assert not isinstance(unavailable.value, NotifyRejected)
    assert "rollup_error" in str(unavailable.value)


def test_a_receiver_that_is_not_listening_is_retryable() -> None:
    client = SlackWebhook(f"http://127.0.0.1:{free_port()}{HOOK_PATH}", timeout=2.0)
    with pytest.raises(NotifyUnavailable) as unavailable:
        client.post({"text": "x"})
    client.close()
    assert "unreachable" in str(unavailable.value) and "T0000" not in str(unavailable.value)


def test_a_redirect_is_not_followed(httpserver: HTTPServer, slack: SlackWebhook) -> None:
    httpserver.expect_request(HOOK_PATH).respond_with_response(
        Response("", status=301, headers={"Location": "http://elsewhere.example/"})
    )
    with pytest.raises(NotifyRejected):
        slack.post({"text": "x"})


def test_webhook_payload_arrives_signed(httpserver: HTTPServer, webhook: JsonWebhook) -> None:
    httpserver.expect_request("/medic/events", query_string="tenant=a", method="POST").respond_with_data(
        "", status=204
    )
    payload = webhook_payload(NOTE, LINKS, sent_at=datetime(2026, 11, 23, 19, 0, 1, tzinfo=UTC))
    webhook.post(payload, event=NOTE.event, delivery_id="incident-alert-1.abcd1234:awaiting_approval:1")
    (request, _), *_ = httpserver.log
    body = request.get_data()
    assert json.loads(body) == payload
    assert request.headers["X-Medic-Event"] == "awaiting_approval"
    assert request.headers["X-Medic-Delivery"] == payload["id"]
    # What a receiver does: HMAC-SHA256 of the raw body with the shared secret, compared in constant time.
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Medic-Signature"], expected)
    assert signature(SECRET, body) == expected


def test_webhook_without_a_secret_is_not_signed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    client = JsonWebhook(httpserver.url_for("/hook"))
    client.post({"id": "x"}, event="outcome", delivery_id="x")
    client.close()
    (request, _), *_ = httpserver.log
    assert "X-Medic-Signature" not in request.headers


def test_webhook_answers_are_classified(httpserver: HTTPServer, webhook: JsonWebhook) -> None:
    httpserver.expect_ordered_request("/medic/events").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/medic/events").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "Mon, 23 Nov 2026 19:00:30 GMT"})
    )
    httpserver.expect_ordered_request("/medic/events").respond_with_data("unknown tenant", status=422)
    with pytest.raises(NotifyUnavailable):
        webhook.post({}, event="outcome", delivery_id="x")
    with pytest.raises(NotifyRateLimited) as limited:
        webhook.post({}, event="outcome", delivery_id="x")
    assert limited.value.retry_after is not None
    with pytest.raises(NotifyRejected) as refused:
        webhook.post({}, event="outcome", delivery_id="x")
    assert "unknown tenant" in str(refused.value) and "tenant=a" not in str(refused.value)


def test_retry_after_reads_seconds_and_dates() -> None:
    now = datetime(2026, 11, 23, 19, 0, tzinfo=UTC).timestamp()
    assert retry_after({"retry-after": "30"}) == 30
    assert retry_after({"retry-after": "Mon, 23 Nov 2026 19:00:30 GMT"}, now=now) == 30
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_a_url_that_is_not_http_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as refused:
        SlackWebhook("hooks.slack.com/services/T0000/B0000/XXXX")
    assert "T0000" not in str(refused.value)
