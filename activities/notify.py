"""send_notification: one notification to every configured channel (Slack, the generic webhook).

Delivery is at least once. Temporal retries the activity, and neither channel can be asked
whether a post already arrived, so a retry after a lost answer sends again:

- Slack incoming webhooks cannot dedupe at all; a retried notification may show twice.
- The generic webhook's payload carries `id` (`<incident id>:<event>:<seq>`, also sent as the
  `X-Medic-Delivery` header), the same on every retry: receivers dedupe on it.

Within one notification, a channel that already took it is not sent to again when another channel
fails: each attempt heartbeats the channels done so far, and the next attempt (which Temporal
gives the last heartbeat) skips them.

Errors, typed for the workflow (`activities.failures`): `NotifyRateLimited` (retried after the
receiver's Retry-After), `NotifyUnavailable` (retried), `NotifyRejected` (final: a bad URL or a
message the channel refuses; its answer is in the message). The channels' errors of one attempt
become one: retried when any channel may take it later, else final when any refused it. The
workflow never waits on a notification to go on, and never fails because of one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from activities.failures import activity_failure
from domain.notifications.model import (
    Notification,
    NotificationLinks,
    NotifyResult,
    notification_key,
    notification_links,
)
from domain.notifications.render import slack_message, webhook_payload
from domain.settings import Settings
from integrations.notify import (
    JsonWebhook,
    NotifyRateLimited,
    NotifyRejected,
    NotifyUnavailable,
    SlackWebhook,
)

Sender = Callable[[Notification, NotificationLinks], None]


def _now() -> datetime:
    return datetime.now(UTC)


class NotifyActivities:
    def __init__(
        self,
        slack: SlackWebhook | None = None,
        webhook: JsonWebhook | None = None,
        *,
        console_url: str = "",
        temporal_ui_url: str = "",
        temporal_namespace: str = "default",
        slack_interactive: bool = False,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._slack = slack
        self._slack_interactive = slack_interactive
        self._webhook = webhook
        self._console_url = console_url
        self._temporal_ui_url = temporal_ui_url
        self._temporal_namespace = temporal_namespace
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], datetime] = _now) -> NotifyActivities:
        """The channels the settings configure (none: every notification is a no-op).

        Raises ValueError, naming the variable, for a URL that is not http(s).
        """
        try:
            slack = SlackWebhook(settings.slack_webhook_url) if settings.slack_webhook_url else None
        except ValueError as err:
            raise ValueError(f"MEDIC_SLACK_WEBHOOK_URL: {err}") from None
        try:
            webhook = (
                JsonWebhook(settings.notify_webhook_url, settings.notify_webhook_secret)
                if settings.notify_webhook_url
                else None
            )
        except ValueError as err:
            raise ValueError(f"MEDIC_NOTIFY_WEBHOOK_URL: {err}") from None
        return cls(
            slack,
            webhook,
            console_url=settings.console_url,
            temporal_ui_url=settings.temporal_ui_url,
            temporal_namespace=settings.temporal_namespace,
            # the gateway answers the buttons only with the signing secret
            slack_interactive=bool(settings.slack_signing_secret),
            clock=clock,
        )

    @property
    def configured(self) -> bool:
        return self._slack is not None or self._webhook is not None

    def _channels(self) -> list[tuple[str, Sender]]:
        channels: list[tuple[str, Sender]] = []
        slack, webhook = self._slack, self._webhook
        if slack is not None:
            interactive = self._slack_interactive
            channels.append(
                ("slack", lambda n, links: slack.post(slack_message(n, links, interactive=interactive)))
            )
        if webhook is not None:
            channels.append(
                (
                    "webhook",
                    lambda n, links: webhook.post(
                        webhook_payload(n, links, sent_at=self._clock()),
                        event=n.event,
                        delivery_id=notification_key(n),
                    ),
                )
            )
        return channels

    @activity.defn(name="send_notification")
    def send_notification(self, notification: Notification) -> NotifyResult:
        """Send to every configured channel not already done by an earlier attempt.

        Redaction happens in the message builders, so nothing secret leaves whatever the input.
        """
        links = notification_links(
            notification,
            console_url=self._console_url,
            temporal_ui_url=self._temporal_ui_url,
            temporal_namespace=self._temporal_namespace,
        )
        delivered, rejected = _progress(activity.info().heartbeat_details)
        retry: list[NotifyUnavailable] = []
        for name, send in self._channels():
            if name in delivered or name in rejected:
                continue
            try:
                send(notification, links)
            except NotifyRejected as err:
                rejected[name] = err.message
            except NotifyUnavailable as err:
                retry.append(err)
                continue
            else:
                delivered.append(name)
            # Remembered for the next attempt, which skips this channel.
            activity.heartbeat({"delivered": delivered, "rejected": rejected})
        if retry:
            raise activity_failure(_unavailable(retry, delivered))
        if rejected:
            refused = "; ".join(f"{name}: {message}" for name, message in rejected.items())
            done = f" (delivered to {', '.join(delivered)})" if delivered else ""
            raise activity_failure(NotifyRejected(f"notification refused — {refused}{done}"))
        return NotifyResult(delivered=delivered)


def _progress(details: Sequence[Any]) -> tuple[list[str], dict[str, str]]:
    """Channels an earlier attempt delivered to or was refused by (from its last heartbeat)."""
    if not details or not isinstance(details[-1], dict):
        return [], {}
    last = details[-1]
    delivered = [str(c) for c in last.get("delivered", []) if isinstance(c, str)]
    rejected = {str(k): str(v) for k, v in dict(last.get("rejected", {})).items()}
    return delivered, rejected


def _unavailable(errors: list[NotifyUnavailable], delivered: list[str]) -> NotifyUnavailable:
    """The channels that could not take the notification now, as one error: a rate limit, with the
    longest delay any channel asked for, when one of them was rate limited."""
    message = "; ".join(err.message for err in errors)
    if delivered:
        message += f" (delivered to {', '.join(delivered)})"
    limited = [err for err in errors if isinstance(err, NotifyRateLimited)]
    if not limited:
        return NotifyUnavailable(message)
    combined = NotifyRateLimited(message, None)
    # Set after construction: each channel's message already says the delay it asked for.
    combined.retry_after = max((err.retry_after for err in limited if err.retry_after), default=None)
    return combined
