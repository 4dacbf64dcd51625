"""The ingest outbox (`OutboxRepository`): notifications the gateway accepted while Temporal was
unreachable, kept until their group's workflow has them.

A group's entries leave in arrival order (`id`), one at a time: only the oldest entry of each group
is ever handed out. On PostgreSQL the entries handed out are locked `FOR UPDATE SKIP LOCKED` for
the caller's transaction, so gateway replicas draining together never take the same entry, nor a
later entry of a group whose oldest another replica holds; the caller deletes each delivered
entry and commits, and a replica that dies mid-delivery leaves its entries to the next one.
SQLite (the embedded store, one gateway) has no row locks: the caller reads, delivers, then
deletes in a second transaction. Like `store.repositories`, the repository never commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from store.models import IngestOutbox
from store.redaction import redacted_for_store
from store.repositories import _insert


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    notification_id: str
    workflow_id: str
    received_at: datetime
    body: str


@dataclass(frozen=True)
class OutboxState:
    depth: int
    # When the oldest entry arrived; None when the outbox is empty.
    oldest_at: datetime | None
    # The workflow ids with an entry waiting.
    groups: frozenset[str]


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def locks_rows(self) -> bool:
        """Whether `claim_heads` locks what it returns until the transaction ends (PostgreSQL)."""
        return self.session.get_bind().dialect.name == "postgresql"

    def add(self, notification_id: str, workflow_id: str, received_at: datetime, body: str) -> None:
        """Keep one notification (`body`: a JSON document); adding the same `notification_id` again
        is a no-op. Like every store writer, the document is redacted again on its way in (value by
        value, so that its JSON stays whole)."""
        document = redacted_for_store("ingest_outbox", "body", json.loads(body))
        stmt = _insert(self.session, IngestOutbox).values(
            notification_id=notification_id,
            workflow_id=workflow_id,
            received_at=received_at,
            body=json.dumps(document, ensure_ascii=False),
        )
        self.session.execute(stmt.on_conflict_do_nothing(index_elements=[IngestOutbox.notification_id]))

    def claim_heads(self, limit: int) -> list[OutboxEntry]:
        """The oldest entry of up to `limit` groups, oldest first, skipping groups whose oldest entry
        another transaction holds (PostgreSQL locks the returned rows until this one ends)."""
        heads = select(func.min(IngestOutbox.id)).group_by(IngestOutbox.workflow_id)
        query = select(IngestOutbox).where(IngestOutbox.id.in_(heads)).order_by(IngestOutbox.id).limit(limit)
        if self.locks_rows:
            query = query.with_for_update(skip_locked=True)
        return [
            OutboxEntry(row.id, row.notification_id, row.workflow_id, row.received_at, row.body)
            for row in self.session.scalars(query)
        ]

    def remove(self, ids: Iterable[int]) -> None:
        """Forget delivered entries."""
        wanted = list(ids)
        if wanted:
            self.session.execute(delete(IngestOutbox).where(IngestOutbox.id.in_(wanted)))

    def state(self) -> OutboxState:
        depth, oldest = self.session.execute(
            select(func.count(IngestOutbox.id), func.min(IngestOutbox.received_at))
        ).one()
        groups = frozenset(self.session.scalars(select(IngestOutbox.workflow_id).distinct()))
        return OutboxState(int(depth), oldest, groups)
