"""The ingest outbox: a group's entries leave oldest first and one at a time; on PostgreSQL, what one
transaction holds another skips, so two gateway replicas never take the same entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store.outbox import OutboxRepository

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def fill(repository: OutboxRepository, groups: str) -> None:
    """One entry per letter, in order: "aab" is two entries of group a, then one of b."""
    for i, group in enumerate(groups):
        repository.add(f"n{i}", group, T0 + timedelta(seconds=i), json.dumps({"seq": i}))


def test_heads_are_the_oldest_entry_of_each_group_oldest_first(session: Session) -> None:
    repository = OutboxRepository(session)
    fill(repository, "abacb")
    heads = repository.claim_heads(10)
    assert [(h.workflow_id, h.notification_id) for h in heads] == [("a", "n0"), ("b", "n1"), ("c", "n3")]
    assert repository.claim_heads(2) == heads[:2]
    repository.remove([heads[0].id])
    assert [(h.workflow_id, h.notification_id) for h in repository.claim_heads(10)] == [
        ("b", "n1"),
        ("a", "n2"),
        ("c", "n3"),
    ]


def test_a_secret_in_a_body_is_redacted_and_the_body_stays_json(session: Session) -> None:
    repository = OutboxRepository(session)
    repository.add(
        "n0", "a", T0, '{"commonAnnotations": {"dsn": "postgresql://shop:PgUrlPass55@db:5432/shop"}}'
    )
    (head,) = repository.claim_heads(1)
    assert "PgUrlPass55" not in head.body
    assert set(json.loads(head.body)["commonAnnotations"]) == {"dsn"}


def test_the_same_notification_is_kept_once(session: Session) -> None:
    repository = OutboxRepository(session)
    repository.add("n0", "a", T0, "{}")
    repository.add("n0", "a", T0 + timedelta(seconds=5), "{}")
    assert repository.state().depth == 1


def test_state_counts_entries_and_groups_and_dates_the_oldest(session: Session) -> None:
    repository = OutboxRepository(session)
    empty = repository.state()
    assert (empty.depth, empty.oldest_at, empty.groups) == (0, None, frozenset())
    fill(repository, "abba")
    state = repository.state()
    assert (state.depth, state.oldest_at, state.groups) == (4, T0, frozenset({"a", "b"}))


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_head_another_transaction_holds_is_skipped_and_its_group_waits(engine: Engine) -> None:
    with Session(engine) as setup:
        fill(OutboxRepository(setup), "aab")
        setup.commit()
    try:
        with Session(engine) as one, Session(engine) as other:
            held = OutboxRepository(one).claim_heads(1)
            assert [h.workflow_id for h in held] == ["a"]
            # a's head is held: neither it nor a's next entry is handed out; b's is.
            assert [h.workflow_id for h in OutboxRepository(other).claim_heads(10)] == ["b"]
            other.rollback()
            OutboxRepository(one).remove([held[0].id])
            one.commit()
            assert [h.notification_id for h in OutboxRepository(other).claim_heads(10)] == ["n1", "n2"]
            other.rollback()
    finally:
        with Session(engine) as cleanup:
            OutboxRepository(cleanup).remove(h.id for h in OutboxRepository(cleanup).claim_heads(10))
            OutboxRepository(cleanup).remove(h.id for h in OutboxRepository(cleanup).claim_heads(10))
            cleanup.commit()
