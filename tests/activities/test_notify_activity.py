"""send_notification: every configured channel gets the notification with links from the settings;
errors are typed for Temporal; a channel done by an earlier attempt is not sent to again."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from werkzeug import Response

from activities.notify import NotifyActivities
from domain.notifications.model import DriftedResource, DriftItem, Notification, NotifyResult
from domain.settings import Settings
from integrations.notify import signature

SLACK = "/services/T0000/B0000/XXXX"
HOOK = "/medic"
SECRET = "shared"
NOW = datetime(2026, 11, 23, 19, 0, 5, tzinfo=UTC)
NOTE = Notification(
    event="awaiting_approval",
    incident_id="incident-alert-1.abcd1234",
    workflow_id="incident-alert-1",
    seq=2,
    title="ledger OOMKilled",
    risk="medium",
    summary="raise the memory limit",
    approvals_required=1,
    deadline=datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
    occurred_at=datetime(2026, 11, 23, 19, 0, tzinfo=UTC),
)


@pytest.fixture
def settings(httpserver: HTTPServer) -> Settings:
    return Settings(
        slack_webhook_url=httpserver.url_for(SLACK),
        notify_webhook_url=httpserver.url_for(HOOK),
        notify_webhook_secret=SECRET,
        console_url="https://medic.example.com",
        temporal_ui_url="https://temporal.example.com",
        temporal_namespace="prod",
    )


@pytest.fixture
def activities(settings: Settings) -> Iterator[NotifyActivities]:
    yield NotifyActivities.from_settings(settings, clock=lambda: NOW)


def run(
    activities: NotifyActivities, heartbeats: list[Any] | None = None, details: list[Any] | None = None
) -> NotifyResult:
    env = ActivityEnvironment()
    if details is not None:
        env.info = dataclasses.replace(env.info, heartbeat_details=details)
    if heartbeats is not None:
        env.on_heartbeat = lambda *d: heartbeats.append(d[0])
    result: NotifyResult = env.run(activities.send_notification, NOTE)
    return result


def bodies(httpserver: HTTPServer, path: str) -> list[dict[str, Any]]:
    return [json.loads(r.get_data()) for r, _ in httpserver.log if r.path == path]


def test_both_channels_get_it_with_links_from_the_settings(
    httpserver: HTTPServer, activities: NotifyActivities
) -> None:
    httpserver.expect_request(SLACK, method="POST").respond_with_data("ok")
    httpserver.expect_request(HOOK, method="POST").respond_with_data("", status=204)
    assert run(activities).delivered == ["slack", "webhook"]
    (slack,) = bodies(httpserver, SLACK)
    buttons = {
        e["text"]["text"]: e["url"] for b in slack["blocks"] if b["type"] == "actions" for e in b["elements"]
    }
    assert buttons == {
        "Open in console": "https://medic.example.com/console/incidents/incident-alert-1.abcd1234",
        "Open in Temporal": "https://temporal.example.com/namespaces/prod/workflows/incident-alert-1",
    }
    (payload,) = bodies(httpserver, HOOK)
    assert payload["id"] == "incident-alert-1.abcd1234:awaiting_approval:2"
    assert payload["sent_at"] == NOW.isoformat()
    assert payload["links"]["console"] == buttons["Open in console"]
    request = next(r for r, _ in httpserver.log if r.path == HOOK)
    assert request.headers["X-Medic-Signature"] == signature(SECRET, request.get_data())


def test_nothing_configured_sends_nothing() -> None:
    assert run(NotifyActivities()).delivered == []


def test_a_slack_refusal_is_final_and_the_webhook_still_gets_it(
    httpserver: HTTPServer, activities: NotifyActivities
) -> None:
    httpserver.expect_request(SLACK).respond_with_data("invalid_blocks", status=400)
    httpserver.expect_request(HOOK).respond_with_data("", status=204)
    with pytest.raises(ApplicationError) as raised:
        run(activities)
    assert raised.value.type == "NotifyRejected" and raised.value.non_retryable
    assert "invalid_blocks" in raised.value.message and "delivered to webhook" in raised.value.message
    assert len(bodies(httpserver, HOOK)) == 1


def test_a_rate_limit_is_retried_after_its_delay_and_remembers_what_was_delivered(
    httpserver: HTTPServer, activities: NotifyActivities
) -> None:
    httpserver.expect_request(SLACK).respond_with_response(
        Response("rate_limited", status=429, headers={"Retry-After": "30"})
    )
    httpserver.expect_request(HOOK).respond_with_data("", status=204)
    heartbeats: list[Any] = []
    with pytest.raises(ApplicationError) as raised:
        run(activities, heartbeats)
    assert raised.value.type == "NotifyRateLimited" and not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=30)
    assert heartbeats[-1] == {"delivered": ["webhook"], "rejected": {}}

    # The next attempt gets the last heartbeat: only Slack is sent to again.
    httpserver.clear()
    httpserver.expect_request(SLACK).respond_with_data("ok")
    assert run(activities, details=heartbeats[-1:]).delivered == ["webhook", "slack"]
    assert [r.path for r, _ in httpserver.log] == [SLACK]


def test_an_unreachable_channel_is_retryable(httpserver: HTTPServer, settings: Settings) -> None:
    httpserver.expect_request(SLACK).respond_with_data("rollup_error", status=500)
    activities = NotifyActivities.from_settings(settings.model_copy(update={"notify_webhook_url": ""}))
    with pytest.raises(ApplicationError) as raised:
        run(activities)
    assert raised.value.type == "NotifyUnavailable" and not raised.value.non_retryable
    assert raised.value.next_retry_delay is None


def test_a_url_that_is_not_http_refuses_to_start_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="MEDIC_SLACK_WEBHOOK_URL"):
        NotifyActivities.from_settings(Settings(slack_webhook_url="hooks.slack.com/services/T/B/X"))
    with pytest.raises(ValueError, match="MEDIC_NOTIFY_WEBHOOK_URL"):
        NotifyActivities.from_settings(Settings(notify_webhook_url="ftp://example.com/x"))


def test_a_drift_report_goes_out_on_both_channels(
    httpserver: HTTPServer, activities: NotifyActivities
) -> None:
    httpserver.expect_request(SLACK).respond_with_data("ok")
    httpserver.expect_request(HOOK).respond_with_data("", status=204)
    report = Notification(
        event="drift_report",
        workflow_id="drift-scan-2026-11-23T19:00",
        seq=1,
        drift_scanned=3,
        drift=[
            DriftItem(
                application="shop-cart",
                destination_namespace="shop",
                resources=[DriftedResource(kind="Deployment", name="cart", namespace="shop")],
            )
        ],
        occurred_at=NOW,
    )
    result: NotifyResult = ActivityEnvironment().run(activities.send_notification, report)
    assert result.delivered == ["slack", "webhook"]
    (slack,) = bodies(httpserver, SLACK)
    assert slack["blocks"][0]["text"]["text"] == ":mag: Drift: 1 application out of sync with Git"
    assert "Open in Temporal" in json.dumps(slack)
    (payload,) = bodies(httpserver, HOOK)
    assert payload["id"] == "drift-scan-2026-11-23T19:00:drift_report:1"
    assert payload["incident"]["id"] is None
    assert payload["drift"]["items"][0]["application"] == "shop-cart"
    assert payload["links"]["console"] == "https://medic.example.com/console/incidents"
