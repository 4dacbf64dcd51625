"""NATS JetStream as a durable queue of keyed messages: the gateway's ingest buffer when
`MEDIC_INGEST_BUFFER=nats` (see `gateway/buffer.py`).

One stream holds the messages, one subject per key below a prefix (`medic.ingest.<workflow id>`),
with work-queue retention (a message is gone once acknowledged), file storage, and new messages
refused rather than old ones dropped when the stream is full: an accepted message is never
discarded. Each message carries its id as `Nats-Msg-Id`, so the stream stores a re-published id
once. One durable pull consumer, shared by every process that drains, hands out one message at a
time (`max_ack_pending=1`) with explicit acknowledgement: messages leave in stream order, which is
arrival order, and a process that dies before acknowledging leaves its message to be handed out
again after `ack_wait`.

Errors are `JetStreamUnavailable` (temporary: the server is unreachable or did not answer) or
`JetStreamRefused` (permanent for this message: the stream is full, or the message too large).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsClientError
from nats.errors import MaxPayloadError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, BadRequestError, NotFoundError

from domain.settings import Settings
from integrations.errors import IntegrationError, PermanentError, TemporaryError, unreachable

log = logging.getLogger("medic.jetstream")

MSG_ID = "Nats-Msg-Id"
# How long the stream remembers a message id to store a re-published one once.
DUPLICATE_WINDOW_SECONDS = 120.0


class JetStreamError(IntegrationError):
    """A failure of the JetStream server or of the way to it."""


class JetStreamUnavailable(JetStreamError, TemporaryError):
    """The server is unreachable or did not answer in time."""


class JetStreamRefused(JetStreamError, PermanentError):
    """The stream will not take this message (full, or the message is over the server's limit)."""


@dataclass(frozen=True)
class QueuedMessage:
    """A message handed out by the consumer; acknowledge it once it has been dealt with."""

    id: str
    key: str
    stored_at: datetime
    data: bytes
    deliveries: int
    _msg: Msg

    async def ack(self, timeout: float) -> None:
        """Done with: the stream forgets it (waits for the server to confirm)."""
        try:
            await self._msg.ack_sync(timeout=timeout)
        except (NatsClientError, OSError) as err:
            raise JetStreamUnavailable(
                f"acknowledging message {self.id}: {err or type(err).__name__}"
            ) from err

    async def release(self) -> None:
        """Not done with: hand it out again (first, before any later message)."""
        try:
            await self._msg.nak()
        except (NatsClientError, OSError) as err:
            log.warning("could not hand message %s back (%s); it returns after the ack wait", self.id, err)


@dataclass(frozen=True)
class QueueState:
    depth: int
    oldest_at: datetime | None
    keys: frozenset[str]


class JetStreamQueue:
    """The stream and its shared consumer, connected on first use and again after a failure."""

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        subject: str,
        consumer: str,
        ack_wait_seconds: float,
        max_bytes: int,
        timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.stream = stream
        self.subject = subject
        self.consumer = consumer
        self.ack_wait_seconds = ack_wait_seconds
        self.max_bytes = max_bytes
        self.timeout = timeout
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._lock = asyncio.Lock()
        self._last_error: BaseException | None = None

    @classmethod
    def from_settings(cls, settings: Settings, timeout: float) -> JetStreamQueue:
        """The stream and consumer medic's settings name (`MEDIC_NATS_*`)."""
        return cls(
            settings.nats_url,
            stream=settings.nats_stream,
            subject=settings.nats_subject,
            consumer=settings.nats_consumer,
            ack_wait_seconds=settings.nats_ack_wait_seconds,
            max_bytes=settings.nats_max_bytes,
            timeout=timeout,
        )

    def subject_of(self, key: str) -> str:
        return f"{self.subject}.{key}"

    async def _context(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and not self._nc.is_closed:
            return self._js
        async with self._lock:
            if self._js is None or self._nc is None or self._nc.is_closed:
                self._last_error = None
                try:
                    # The client keeps trying an unreachable server: the wait is bounded here, and
                    # what the last try met (kept by `_on_error`) says why.
                    async with asyncio.timeout(self.timeout):
                        nc = await nats.connect(
                            self.url,
                            name="medic-gateway",
                            connect_timeout=self.timeout,
                            allow_reconnect=True,
                            max_reconnect_attempts=-1,
                            reconnect_time_wait=1,
                            error_cb=self._on_error,
                            disconnected_cb=self._on_disconnect,
                            reconnected_cb=self._on_reconnect,
                        )
                except (TimeoutError, NatsClientError, OSError) as err:
                    raise JetStreamUnavailable(
                        unreachable("NATS", self._last_error or err, self.url)
                    ) from err
                self._last_error = None
                js = nc.jetstream(timeout=self.timeout)
                try:
                    await self._ensure(js)
                except BaseException:
                    await nc.close()
                    raise
                self._nc, self._js = nc, js
        assert self._js is not None
        return self._js

    async def _ensure(self, js: JetStreamContext) -> None:
        """The stream and the consumer, created when missing (an existing one is used as it is)."""
        try:
            try:
                await js.stream_info(self.stream)
            except NotFoundError:
                await js.add_stream(
                    name=self.stream,
                    subjects=[f"{self.subject}.>"],
                    retention=api.RetentionPolicy.WORK_QUEUE,
                    storage=api.StorageType.FILE,
                    discard=api.DiscardPolicy.NEW,
                    max_bytes=self.max_bytes,
                    duplicate_window=DUPLICATE_WINDOW_SECONDS,
                )
            config = api.ConsumerConfig(
                durable_name=self.consumer,
                ack_policy=api.AckPolicy.EXPLICIT,
                deliver_policy=api.DeliverPolicy.ALL,
                ack_wait=self.ack_wait_seconds,
                max_ack_pending=1,
                filter_subject=f"{self.subject}.>",
            )
            try:
                await js.add_consumer(self.stream, config)
            except BadRequestError as err:
                # A consumer of that name made with other settings: it is used as it is.
                log.warning(
                    "using the existing JetStream consumer %s as it is: %s", self.consumer, err.description
                )
            self._sub = await js.pull_subscribe_bind(self.consumer, self.stream)
        except APIError as err:
            raise JetStreamUnavailable(f"NATS JetStream at {self.url}: {err.description or err}") from err
        except (TimeoutError, NatsClientError, OSError) as err:
            raise JetStreamUnavailable(unreachable("NATS JetStream", err, self.url)) from err

    async def _on_error(self, err: Exception) -> None:
        # The client tries again every second while the server is away: one line, not one a second.
        if self._last_error is None:
            log.warning("NATS at %s: %s", self.url, err or type(err).__name__)
        self._last_error = err

    async def _on_reconnect(self) -> None:
        self._last_error = None
        log.info("reconnected to NATS at %s", self.url)

    async def _on_disconnect(self) -> None:
        if self._nc is not None and not self._nc.is_closed and not self._nc.is_draining:
            log.warning("disconnected from NATS at %s; reconnecting", self.url)

    async def publish(self, message_id: str, key: str, data: bytes) -> None:
        """Store one message; returns once the stream has it (a re-published id is stored once)."""
        js = await self._context()
        try:
            await js.publish(
                self.subject_of(key),
                data,
                timeout=self.timeout,
                stream=self.stream,
                headers={MSG_ID: message_id},
            )
        except MaxPayloadError as err:
            raise JetStreamRefused(f"message {message_id} is over the NATS server's payload limit") from err
        except APIError as err:
            # 503: no JetStream responders (the server is restarting); anything else is the stream's refusal
            # (for a work queue with discard=new, "maximum bytes exceeded" when it is full).
            if err.code == 503:
                raise JetStreamUnavailable(f"NATS JetStream at {self.url} is not available") from err
            raise JetStreamRefused(
                f"stream {self.stream} refused the message: {err.description or err}"
            ) from err
        except (TimeoutError, NatsClientError, OSError) as err:
            raise JetStreamUnavailable(unreachable("NATS JetStream", err, self.url)) from err

    async def next(self, timeout: float) -> QueuedMessage | None:
        """The next message in stream order, or None when none is there for this process within
        `timeout` (none waiting, or another process holds the one in hand)."""
        await self._context()
        assert self._sub is not None
        try:
            msgs = await self._sub.fetch(1, timeout=timeout)
        except NatsTimeout:
            return None
        except (TimeoutError, NatsClientError, OSError) as err:
            raise JetStreamUnavailable(unreachable("NATS JetStream", err, self.url)) from err
        msg = msgs[0]
        meta = msg.metadata
        return QueuedMessage(
            id=(msg.headers or {}).get(MSG_ID, ""),
            key=msg.subject.removeprefix(f"{self.subject}."),
            stored_at=meta.timestamp,
            data=msg.data,
            deliveries=meta.num_delivered or 1,
            _msg=msg,
        )

    async def state(self) -> QueueState:
        """How many messages wait (handed out but unacknowledged included), since when the oldest,
        and the keys they belong to."""
        js = await self._context()
        try:
            info = await js.stream_info(self.stream, subjects_filter=f"{self.subject}.>")
            oldest: datetime | None = None
            if info.state.messages:
                try:
                    first = await js.get_msg(self.stream, seq=info.state.first_seq)
                    oldest = first.time
                except NotFoundError:
                    oldest = None  # acknowledged in between
        except APIError as err:
            raise JetStreamUnavailable(f"NATS JetStream at {self.url}: {err.description or err}") from err
        except (TimeoutError, NatsClientError, OSError) as err:
            raise JetStreamUnavailable(unreachable("NATS JetStream", err, self.url)) from err
        prefix = f"{self.subject}."
        keys = frozenset(s.removeprefix(prefix) for s, n in (info.state.subjects or {}).items() if n)
        return QueueState(info.state.messages, oldest, keys)

    async def close(self) -> None:
        # Forgotten first: the disconnection that closing makes is not an outage to log.
        nc, self._nc, self._js, self._sub = self._nc, None, None, None
        if nc is not None and not nc.is_closed:
            await nc.close()
