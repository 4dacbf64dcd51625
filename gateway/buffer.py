"""Durable ingest: an Alertmanager notification answered 2xx reaches its workflow, also when
Temporal was unreachable at the time.

The webhook delivers straight to Temporal (`gateway.ingest.send`). Only when Temporal does not take
a notification within the webhook's budget — or when an earlier notification of the same alert
group is still waiting, so that a group's notifications stay in arrival order — is it put in the
buffer instead and answered 202 once the buffer holds it; when neither can take it the answer is
503 and Alertmanager retries. `Ingest.run`, a task of every gateway process, delivers what waits,
oldest first per group, with a growing pause while Temporal stays away.

Two buffers, chosen by `MEDIC_INGEST_BUFFER`:

- `store` (the default): the `ingest_outbox` table of medic's own database (`store/outbox.py`);
  on PostgreSQL replicas take entries under `FOR UPDATE SKIP LOCKED`, so none is taken twice.
- `nats`: a NATS JetStream stream with one durable consumer shared by the replicas
  (`integrations/jetstream.py`), acknowledged after delivery.

An entry is forgotten only after Temporal has taken it (deliver, then acknowledge): a gateway that
dies between the two leaves it to the next one, which delivers it again. Every delivery carries the
notification's id as Temporal's request id, and Temporal drops a repeated request id for a workflow
run, so that second delivery does not signal the workflow a second time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.incident.alerts import AlertGroup
from domain.incident.model import incident_from_group
from domain.settings import Settings
from domain.steps.remediation import remediation_input_for
from gateway.bodies import one_line
from gateway.ingest import Notification, send
from gateway.temporal_calls import unreachable_reason
from integrations.errors import unreachable
from integrations.jetstream import JetStreamError, JetStreamQueue
from store.db import is_sqlite_memory, make_engine, normalize_url, session_factory
from store.outbox import OutboxRepository

log = logging.getLogger("medic.gateway.ingest")

# A delivery from the buffer may take this long (bounded again by the JetStream ack wait).
DELIVERY_TIMEOUT_SECONDS = 5.0
# Groups whose oldest entries the store buffer hands out in one pass (delivered concurrently).
STORE_BATCH = 32

T = TypeVar("T")


@dataclass(frozen=True)
class Buffered:
    """One notification in a buffer: its id (the request id of its delivery), its group's workflow
    id, when the buffer took it, and the redacted, fitted group as JSON."""

    notification_id: str
    workflow_id: str
    received_at: datetime
    body: str


@dataclass(frozen=True)
class BufferState:
    depth: int
    oldest_at: datetime | None
    groups: frozenset[str]


class BufferUnavailable(Exception):
    """The buffer cannot take or hand out notifications now; the message is one line."""


class TemporalUnavailable(Exception):
    """Temporal did not take a buffered notification; the message is one line."""


Deliver = Callable[[Buffered], Awaitable[None]]


class IngestBuffer(Protocol):
    """Where notifications wait for Temporal. `put` returns once the notification is durable;
    `drain` hands the oldest waiting notification of each group to `deliver` and forgets it when
    `deliver` returns (it stays when `deliver` raises, and the error is raised on)."""

    kind: str

    async def put(self, entry: Buffered) -> None: ...

    async def drain(self, deliver: Deliver) -> int: ...

    async def state(self) -> BufferState: ...

    async def close(self) -> None: ...


class StoreBuffer:
    """The `ingest_outbox` table. Blocking driver: every query runs on the buffer's own threads."""

    kind = "store"

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._sessions: sessionmaker[Session] | None = None
        # One thread for the drain's transaction (its session is used by one thread at a time),
        # a few for the webhook's writes.
        self._drain_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-drain")
        self._put_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ingest-put")

    def _factory(self) -> sessionmaker[Session]:
        if self._sessions is None:
            url = normalize_url(self._url)
            database = url.database or ""
            if (
                url.get_backend_name() == "sqlite"
                and not is_sqlite_memory(url)
                and not Path(database).exists()
            ):
                # Never create it here: an empty file is no outbox (`medic db upgrade` makes the store).
                raise BufferUnavailable(
                    f"the store has no database at {database} yet (run `medic db upgrade`)"
                )
            self._sessions = session_factory(make_engine(url))
        return self._sessions

    async def _run(self, pool: ThreadPoolExecutor, call: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, call)
        except SQLAlchemyError as err:
            raise BufferUnavailable(one_line(unreachable("the store", err), 300)) from err

    async def put(self, entry: Buffered) -> None:
        def write() -> None:
            with self._factory().begin() as session:
                OutboxRepository(session).add(
                    entry.notification_id, entry.workflow_id, entry.received_at, entry.body
                )

        await self._run(self._put_threads, write)

    async def state(self) -> BufferState:
        def read() -> BufferState:
            with self._factory()() as session:
                found = OutboxRepository(session).state()
            return BufferState(found.depth, found.oldest_at, found.groups)

        return await self._run(self._put_threads, read)

    async def drain(self, deliver: Deliver) -> int:
        session = await self._run(self._drain_thread, lambda: self._factory()())
        try:
            repository = OutboxRepository(session)
            heads = await self._run(self._drain_thread, lambda: repository.claim_heads(STORE_BATCH))
            if not repository.locks_rows:
                # SQLite: end the read now; holding it would make the deletes below race the webhook's writes.
                await self._run(self._drain_thread, session.rollback)
            entries = [Buffered(h.notification_id, h.workflow_id, h.received_at, h.body) for h in heads]
            # One entry per group: concurrent deliveries cannot reorder a group.
            results = await asyncio.gather(*(deliver(e) for e in entries), return_exceptions=True)
            delivered = [
                h.id for h, r in zip(heads, results, strict=True) if not isinstance(r, BaseException)
            ]

            def forget() -> None:
                repository.remove(delivered)
                session.commit()

            await self._run(self._drain_thread, forget)
        finally:
            await self._run(self._drain_thread, session.close)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return len(delivered)

    async def close(self) -> None:
        self._drain_thread.shutdown(wait=False, cancel_futures=True)
        self._put_threads.shutdown(wait=False, cancel_futures=True)


class JetStreamBuffer:
    """A JetStream stream, one subject per group, drained through one shared durable consumer."""

    kind = "nats"

    def __init__(self, settings: Settings) -> None:
        self.queue = JetStreamQueue.from_settings(
            settings, timeout=min(2.0, settings.webhook_temporal_timeout_seconds * 2)
        )
        self._fetch_timeout = min(1.0, settings.ingest_poll_seconds)

    async def put(self, entry: Buffered) -> None:
        try:
            await self.queue.publish(entry.notification_id, entry.workflow_id, entry.body.encode())
        except JetStreamError as err:
            raise BufferUnavailable(err.message) from err

    async def state(self) -> BufferState:
        try:
            found = await self.queue.state()
        except JetStreamError as err:
            raise BufferUnavailable(err.message) from err
        return BufferState(found.depth, found.oldest_at, found.keys)

    async def drain(self, deliver: Deliver) -> int:
        delivered = 0
        while True:
            try:
                message = await self.queue.next(self._fetch_timeout)
            except JetStreamError as err:
                raise BufferUnavailable(err.message) from err
            if message is None:
                return delivered
            entry = Buffered(message.id, message.key, message.stored_at, message.data.decode())
            try:
                await deliver(entry)
            except BaseException:
                await message.release()
                raise
            try:
                await message.ack(timeout=self.queue.timeout)
            except JetStreamError as err:
                # Delivered, not acknowledged: it comes back and its second delivery is dropped by Temporal.
                raise BufferUnavailable(err.message) from err
            delivered += 1

    async def close(self) -> None:
        await self.queue.close()


def buffer_from_settings(settings: Settings) -> IngestBuffer | None:
    if settings.ingest_buffer == "nats":
        return JetStreamBuffer(settings)
    if settings.ingest_buffer == "store":
        return StoreBuffer(settings.resolved_database_url)
    return None


def notification_of(settings: Settings, workflow_id: str, group: AlertGroup) -> Notification:
    """A buffered group as `send` takes it: the same start input the webhook would have built."""
    start = (
        remediation_input_for(settings, incident_from_group(workflow_id, group))
        if group.status == "firing"
        else None
    )
    return Notification(workflow_id, group, start, alerts_sent=len(group.alerts))


class Ingest:
    """The buffer as the webhook and the delivery task see it, with the figures `/metrics` shows."""

    def __init__(
        self, settings: Settings, get_client: Callable[[], Awaitable[Client]], buffer: IngestBuffer | None
    ) -> None:
        self.settings = settings
        self.buffer = buffer
        self._get_client = get_client
        # Groups with a notification waiting, as last read from the buffer, and those this process
        # put since that read began: the webhook sends their later notifications to the buffer too.
        self._groups: frozenset[str] = frozenset()
        self._local: dict[str, float] = {}
        self.state: BufferState | None = None
        self.buffer_up = True
        self.temporal_up = True
        self.buffered_total = 0
        self.delivered_total = 0
        self.dropped_total = 0
        self._delivery_timeout = DELIVERY_TIMEOUT_SECONDS
        # When the delivery task next tries Temporal (monotonic clock; 0: at its next look).
        self._next_try = 0.0
        if settings.ingest_buffer == "nats":
            self._delivery_timeout = min(self._delivery_timeout, settings.nats_ack_wait_seconds / 2)

    def temporal_answered(self) -> None:
        """The webhook just delivered straight to Temporal: what waits need not wait out the pause."""
        if not self.temporal_up:
            self._next_try = 0.0

    @property
    def kind(self) -> str:
        return self.buffer.kind if self.buffer is not None else "off"

    def holds(self, workflow_id: str) -> bool:
        """Whether a notification of this group may still be waiting (its next one must wait too)."""
        return workflow_id in self._local or workflow_id in self._groups

    async def accept(self, notification: Notification, notification_id: str) -> None:
        """Keep `notification` until Temporal takes it; `BufferUnavailable` when the buffer cannot."""
        if self.buffer is None:
            raise BufferUnavailable("no ingest buffer is configured (MEDIC_INGEST_BUFFER=off)")
        entry = Buffered(
            notification_id, notification.workflow_id, datetime.now(UTC), notification.group.model_dump_json()
        )
        await self.buffer.put(entry)
        self._local[notification.workflow_id] = time.monotonic()
        self.buffered_total += 1
        log.info(
            "buffered the notification for %s until Temporal answers",
            notification.workflow_id,
            extra={
                "incident": notification.workflow_id,
                "notification_id": notification_id,
                "buffer": self.kind,
            },
        )

    async def refresh(self) -> BufferState:
        assert self.buffer is not None
        began = time.monotonic()
        try:
            state = await self.buffer.state()
        except BufferUnavailable:
            self.buffer_up = False
            raise
        self.buffer_up = True
        self.state = state
        self._groups = state.groups
        self._local = {group: at for group, at in self._local.items() if at >= began}
        return state

    async def deliver_pending(self) -> int:
        """One pass: deliver what waits, until the buffer is empty or something fails (raised:
        `TemporalUnavailable` or `BufferUnavailable`). Returns how many were delivered."""
        delivered = 0
        while (await self.refresh()).depth:
            done = await self.buffer.drain(self._deliver) if self.buffer is not None else 0
            delivered += done
            if not done:
                break  # what waits is in another replica's hands
        return delivered

    async def _deliver(self, entry: Buffered) -> None:
        try:
            group = AlertGroup.model_validate_json(entry.body)
        except ValidationError as err:
            # Written by this code, so never expected; kept it would block its group forever.
            self.dropped_total += 1
            log.error(
                "dropped buffered notification %s for %s: not an alert group (%s)",
                entry.notification_id,
                entry.workflow_id,
                one_line(str(err)),
                extra={"incident": entry.workflow_id, "notification_id": entry.notification_id},
            )
            return
        notification = notification_of(self.settings, entry.workflow_id, group)
        budget = self._delivery_timeout
        try:
            async with asyncio.timeout(budget):
                client = await self._get_client()
                delivery = await send(
                    client,
                    self.settings,
                    notification,
                    rpc_timeout=timedelta(seconds=budget),
                    request_id=entry.notification_id or None,
                )
        except (TimeoutError, OSError, RuntimeError, RPCError) as err:
            why = unreachable_reason(err, budget)
            if why is not None or not isinstance(err, RPCError):
                raise TemporalUnavailable(why or one_line(str(err))) from err
            if err.status != RPCStatusCode.INVALID_ARGUMENT:
                # Not this notification's fault (a missing namespace, a permission): it waits.
                raise TemporalUnavailable(one_line(f"Temporal refused the delivery: {err.message}")) from err
            self.dropped_total += 1
            log.error(
                "dropped buffered notification %s for %s: Temporal refused it (%s)",
                entry.notification_id,
                entry.workflow_id,
                one_line(err.message),
                extra={"incident": entry.workflow_id, "notification_id": entry.notification_id},
            )
            return
        self.delivered_total += 1
        waited = (datetime.now(UTC) - entry.received_at).total_seconds()
        log.info(
            "delivered the buffered notification for %s after %.1f s",
            entry.workflow_id,
            waited,
            extra={
                "incident": entry.workflow_id,
                "notification_id": entry.notification_id,
                "delivered": delivery.delivered,
                "buffer": self.kind,
            },
        )

    async def run(self) -> None:
        """Deliver what waits, forever. The buffer is looked at every `ingest_poll_seconds` (so
        this process learns within that time what other replicas buffered); while Temporal or
        the buffer is away, delivery is tried again after a pause that doubles up to
        `ingest_backoff_max_seconds`."""
        if self.buffer is None:
            return
        poll, longest = self.settings.ingest_poll_seconds, self.settings.ingest_backoff_max_seconds
        pause = poll
        while True:
            try:
                waiting = (await self.refresh()).depth
                if waiting and time.monotonic() >= self._next_try:
                    delivered = await self.deliver_pending()
                    if not self.temporal_up:
                        log.info("Temporal answers again; delivered %d buffered notification(s)", delivered)
                    self.temporal_up = True
                    pause, self._next_try = poll, 0.0
            except TemporalUnavailable as err:
                if self.temporal_up:
                    log.warning("%s; buffered notifications wait", err)
                self.temporal_up = False
                pause = min(longest, pause * 2)
                self._next_try = time.monotonic() + pause
            except BufferUnavailable as err:
                log.warning("the %s ingest buffer is unavailable: %s", self.kind, err)
                pause = min(longest, pause * 2)
                self._next_try = time.monotonic() + pause
            except Exception:
                log.exception("delivering buffered notifications failed")
                pause = min(longest, pause * 2)
                self._next_try = time.monotonic() + pause
            await asyncio.sleep(poll)

    async def close(self) -> None:
        if self.buffer is not None:
            await self.buffer.close()


class IngestCollector(Collector):
    """The buffer's figures as of the delivery task's last look (no query at scrape time)."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest

    def collect(self) -> Iterator[Metric]:
        ingest, state = self.ingest, self.ingest.state
        kind = ingest.kind
        depth = GaugeMetricFamily(
            "medic_ingest_buffered",
            "Notifications waiting in the ingest buffer for Temporal.",
            labels=["buffer"],
        )
        depth.add_metric([kind], state.depth if state else 0)
        yield depth
        oldest = GaugeMetricFamily(
            "medic_ingest_buffer_oldest_age_seconds",
            "How long the oldest notification in the ingest buffer has waited (0 when none waits).",
            labels=["buffer"],
        )
        age = 0.0
        if state is not None and state.oldest_at is not None:
            age = max(0.0, (datetime.now(UTC) - state.oldest_at).total_seconds())
        oldest.add_metric([kind], age)
        yield oldest
        up = GaugeMetricFamily(
            "medic_ingest_buffer_up",
            "1 when the ingest buffer answered its last look, else 0.",
            labels=["buffer"],
        )
        up.add_metric([kind], 1 if ingest.buffer is not None and ingest.buffer_up else 0)
        yield up
        for name, text, value in (
            (
                "medic_ingest_buffer_accepted",
                "Notifications this gateway put in the ingest buffer.",
                ingest.buffered_total,
            ),
            (
                "medic_ingest_buffer_delivered",
                "Buffered notifications this gateway delivered to Temporal.",
                ingest.delivered_total,
            ),
            (
                "medic_ingest_buffer_dropped",
                "Buffered notifications Temporal refused as invalid (logged, then forgotten).",
                ingest.dropped_total,
            ),
        ):
            counter = CounterMetricFamily(name, text, labels=["buffer"])
            counter.add_metric([kind], value)
            yield counter
