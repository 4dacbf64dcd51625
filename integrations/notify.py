"""Thin, blocking clients for the two notification channels: a Slack incoming webhook and a
generic JSON webhook.

No retries of their own (Temporal retries the activity); failures are one of a small closed set,
each temporary or permanent (see `integrations.errors`):

- `NotifyRateLimited` (429): retry after `retry_after` seconds, when the receiver said so.
- `NotifyUnavailable` (5xx, 408, connection failures, timeouts): retry later.
- `NotifyRejected` (any other 3xx/4xx — a bad URL, Slack's `invalid_blocks`, `no_service`,
  `channel_is_archived`): retrying the same request will not help; the message carries the
  receiver's answer.

Webhook URLs are credentials (a Slack incoming webhook URL lets anyone post), so no message here
ever contains one: the generic webhook is named by its scheme and host only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from domain.redaction.text import redact_text
from integrations.errors import IntegrationError, PermanentError, TemporaryError
from integrations.retry_after import retry_after_seconds

DEFAULT_TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Medic-Signature"
EVENT_HEADER = "X-Medic-Event"
DELIVERY_HEADER = "X-Medic-Delivery"
USER_AGENT = "medic-notify/1"


class NotifyError(IntegrationError):
    """A notification a channel did not accept; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotifyRejected(NotifyError, PermanentError):
    """The receiver refused the request itself: do not retry."""


class NotifyUnavailable(NotifyError, TemporaryError):
    """The receiver could not take it now: retry later."""


class NotifyRateLimited(NotifyUnavailable):
    """429: retry after `retry_after` seconds (None: the receiver did not say)."""

    def __init__(self, message: str, retry_after: float | None, status: int = 429) -> None:
        super().__init__(
            message if retry_after is None else f"{message} (retry after {retry_after:g}s)", status
        )
        self.retry_after = retry_after


def signature(secret: str, body: bytes) -> str:
    """The `X-Medic-Signature` value: `sha256=` and the hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys in a stable order, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def _answer(response: httpx.Response) -> str:
    # Slack answers incoming webhooks with a short text/plain word (`invalid_blocks`, `no_service`).
    text = response.text.strip()[:300] or response.reason_phrase
    return redact_text(text)


def _post(http: httpx.Client, url: str, name: str, content: bytes, headers: dict[str, str]) -> None:
    try:
        response = http.post(url, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise NotifyUnavailable(f"{name} did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise NotifyUnavailable(
            f"{name} is unreachable: {redact_text(type(exc).__name__ + ': ' + str(exc))}"
        ) from exc
    status = response.status_code
    if status < 300:
        return
    detail = f"{name} answered HTTP {status}: {_answer(response)}"
    if status == 429:
        raise NotifyRateLimited(detail, retry_after_seconds(response.headers), status)
    if status >= 500 or status == 408:
        raise NotifyUnavailable(detail, status)
    raise NotifyRejected(detail, status)


class _Channel:
    def __init__(self, url: str, name: str, timeout: float, transport: httpx.BaseTransport | None) -> None:
        if not url.startswith(("http://", "https://")):
            # Not echoed: a mistyped webhook URL is still a credential.
            raise ValueError(f"the {name} URL must start with http:// or https://")
        self.name = name
        # Posted to exactly as given (no base_url: httpx would add a trailing slash). Redirects
        # are not followed: a webhook that moved is a configuration error, reported, not chased.
        # No idle keep-alive connections: a few posts per incident, and a worker never closes
        # its clients (as ArgoClient).
        self._url = url
        self._http = httpx.Client(
            timeout=timeout, transport=transport, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def close(self) -> None:
        self._http.close()


class SlackWebhook(_Channel):
    """Posts Block Kit messages to one Slack incoming webhook. Safe to share between threads.

    Slack cannot dedupe incoming-webhook posts: a retried notification may show twice.
    """

    def __init__(
        self, url: str, timeout: float = DEFAULT_TIMEOUT, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(url, "the Slack incoming webhook", timeout, transport)

    def post(self, message: dict[str, Any]) -> None:
        """Send one message; raises a `NotifyError` when Slack does not answer `ok`."""
        _post(
            self._http,
            self._url,
            self.name,
            encode_payload(message),
            {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT},
        )


class JsonWebhook(_Channel):
    """Posts medic's JSON payloads to one URL, signed when a secret is set. Thread-safe."""

    def __init__(
        self,
        url: str,
        secret: str = "",
        timeout: float = DEFAULT_TIMEOUT,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, f"the notification webhook at {_where(url)}", timeout, transport)
        self._secret = secret

    def post(self, payload: dict[str, Any], *, event: str, delivery_id: str) -> None:
        """Send one payload with `X-Medic-Event`, `X-Medic-Delivery` (the idempotency key) and,
        with a secret, `X-Medic-Signature: sha256=<hex HMAC of the body>`."""
        body = encode_payload(payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        _post(self._http, self._url, self.name, body, headers)
