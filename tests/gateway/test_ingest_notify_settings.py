"""Notification settings, and how the gateway turns them into a workflow's input."""

from __future__ import annotations

from domain.settings import Settings, settings_from_mapping
from gateway.ingest import remediation_input
from tests.workflows.test_remediation_workflow import alert_group

SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"


def test_notification_settings_are_read_and_secrets_are_not_shown() -> None:
    settings = settings_from_mapping(
        {
            "MEDIC_SLACK_WEBHOOK_URL": SLACK_URL,
            "MEDIC_NOTIFY_WEBHOOK_URL": "https://events.example.com/medic?token=abc",
            "MEDIC_NOTIFY_WEBHOOK_SECRET": "shared-secret",
            "MEDIC_CONSOLE_URL": "https://medic.example.com",
            "MEDIC_APPROVAL_REMINDERS": "7200, 600",
        }
    )
    assert settings.slack_webhook_url == SLACK_URL
    assert settings.notify_webhook_secret == "shared-secret"
    assert settings.console_url == "https://medic.example.com"
    assert settings.approval_reminders_seconds == (7200, 600)
    shown = repr(settings)
    assert "XXXXXXXX" not in shown and "token=abc" not in shown and "shared-secret" not in shown


def test_notification_defaults() -> None:
    settings = settings_from_mapping({})
    assert settings.slack_webhook_url == settings.notify_webhook_url == ""
    assert settings.console_url == "http://127.0.0.1:8000"
    assert settings.approval_reminders_seconds == (3600, 900)
    # Set but empty turns the reminders off.
    assert settings_from_mapping({"MEDIC_APPROVAL_REMINDERS": ""}).approval_reminders_seconds == ()


def test_a_configured_channel_turns_notifications_on() -> None:
    group = alert_group()
    off = remediation_input(Settings(), group, "incident-alert-1")
    assert off.notify is False
    for configured in (
        Settings(slack_webhook_url=SLACK_URL),
        Settings(notify_webhook_url="https://x.example"),
    ):
        on = remediation_input(
            configured.model_copy(update={"approval_reminders_seconds": (60,)}), group, "id"
        )
        assert on.notify is True and on.approval_reminders_seconds == [60]
        assert SLACK_URL not in on.model_dump_json()  # the workflow gets ids, never the channels' URLs


def test_webhook_limits_are_read_from_the_environment() -> None:
    settings = settings_from_mapping(
        {"MEDIC_WEBHOOK_MAX_BODY_BYTES": "2048", "MEDIC_WEBHOOK_TEMPORAL_TIMEOUT_SECONDS": "0.5"}
    )
    assert settings.webhook_max_body_bytes == 2048
    assert settings.webhook_temporal_timeout_seconds == 0.5
    assert Settings().webhook_max_body_bytes == 1024 * 1024
