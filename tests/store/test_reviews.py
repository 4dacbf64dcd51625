"""The change review tables and their repositories (SQLite + PostgreSQL): a review per head, the
local host's comment parts and commit statuses, all idempotent and redacted on the way in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store.db import session_factory
from store.reviews import (
    ChangeReviewRepository,
    CommitStatusRepository,
    ReviewCommentRepository,
    StoreReviewRecords,
    report_of,
    review_key,
)

MARKER = "<!-- medic-review -->"
PG_URL = "postgresql://shop:PgUrlPass55@db.shop:5432/shop"


def _workflow_id() -> str:
    # The PostgreSQL database is shared by the run: every test makes ids of its own.
    return f"review/github/acme/gitops/{uuid.uuid4().hex[:8]}"


def _review(workflow_id: str, head_sha: str, **extra: Any) -> dict[str, Any]:
    return {
        "workflow_id": workflow_id,
        "host": "github",
        "repository": "acme/gitops",
        "number": 7,
        "head_ref": "feature/x",
        "head_sha": head_sha,
        "state": "reviewed",
        **extra,
    }


def test_a_review_is_saved_once_per_head_and_rewritten_by_a_retry(session: Session) -> None:
    reviews = ChangeReviewRepository(session)
    workflow_id = _workflow_id()
    key = review_key(workflow_id, "a" * 40)
    report = {"review": {"objects": 2}, "parts": [f"{MARKER}\nall good"]}

    first = reviews.save(key, **_review(workflow_id, "a" * 40, risk="medium", report=report))
    again = reviews.save(
        key,
        **_review(workflow_id, "a" * 40, risk="high", decision="warn", monthly_delta_usd=12.5, report=report),
    )

    assert key == f"{workflow_id}@{'a' * 40}"
    assert again.key == first.key and again.created_at == first.created_at
    assert (again.risk, again.decision, again.monthly_delta_usd) == ("high", "warn", 12.5)
    assert report_of(again) == report and again.number == 7 and again.base_sha == ""
    assert reviews.get(key) is not None and reviews.get(key + "x") is None


def test_the_latest_review_of_a_workflow_is_its_newest_head(session: Session) -> None:
    reviews = ChangeReviewRepository(session)
    workflow_id = _workflow_id()
    start = datetime.now(UTC)
    for i, sha in enumerate(("1" * 40, "2" * 40, "3" * 40)):
        reviews.save(
            review_key(workflow_id, sha), created_at=start + timedelta(seconds=i), **_review(workflow_id, sha)
        )
    superseded = reviews.update(review_key(workflow_id, "2" * 40), state="superseded")

    latest = reviews.latest(workflow_id)
    assert latest is not None and latest.head_sha == "3" * 40
    assert superseded is not None and superseded.state == "superseded"
    assert reviews.update("review/none@" + "0" * 40, state="failed") is None
    assert reviews.latest(_workflow_id()) is None
    mine = [
        r.head_sha for r in reviews.list(repository="acme/gitops", limit=500) if r.workflow_id == workflow_id
    ]
    assert mine == ["3" * 40, "2" * 40, "1" * 40]
    assert [
        r.head_sha for r in reviews.list(state="superseded", limit=500) if r.workflow_id == workflow_id
    ] == ["2" * 40]


def test_summary_and_report_are_redacted_before_they_are_written(session: Session) -> None:
    workflow_id = _workflow_id()
    row = ChangeReviewRepository(session).save(
        review_key(workflow_id, "a" * 40),
        **_review(workflow_id, "a" * 40, summary=f"db at {PG_URL}", report={"diff": [f"+ url: {PG_URL}"]}),
    )
    assert "PgUrlPass55" not in row.summary and "PgUrlPass55" not in row.report
    assert report_of(row)["diff"][0].startswith("+ url: ")


def test_comment_parts_are_updated_in_place_and_surplus_parts_deleted(session: Session) -> None:
    comments = ReviewCommentRepository(session)
    workflow_id = _workflow_id()
    three = [f"{MARKER}\npart {i}" for i in range(3)]

    ids = comments.upsert(workflow_id, MARKER, three)
    stamps = [c.updated_at for c in comments.parts(workflow_id, MARKER)]
    assert comments.upsert(workflow_id, MARKER, three) == ids
    assert [c.updated_at for c in comments.parts(workflow_id, MARKER)] == stamps, (
        "equal bodies are left alone"
    )

    two = comments.upsert(workflow_id, MARKER, [three[0], f"{MARKER}\nchanged"])
    assert two == ids[:2]
    assert [c.body for c in comments.parts(workflow_id, MARKER)] == [three[0], f"{MARKER}\nchanged"]
    assert comments.upsert(workflow_id, "<!-- other -->", ["<!-- other -->"]) != ids[:1]
    assert comments.upsert(workflow_id, MARKER, []) == []
    assert comments.parts(workflow_id, MARKER) == []
    assert len(comments.parts(workflow_id, "<!-- other -->")) == 1


def test_a_commit_status_is_one_row_per_context_and_the_last_state_wins(session: Session) -> None:
    statuses = CommitStatusRepository(session)
    repository = f"/srv/{uuid.uuid4().hex[:8]}/gitops.git"
    statuses.set(repository, "a" * 40, "medic/review", "pending", "reviewing")
    statuses.set(repository, "a" * 40, "medic/review", "failure", f"deny: {PG_URL}", "http://medic/r/1")
    statuses.set(repository, "a" * 40, "ci", "success")

    status = statuses.get(repository, "a" * 40, "medic/review")
    assert status is not None and status.state == "failure" and status.target_url == "http://medic/r/1"
    assert "PgUrlPass55" not in status.description
    assert [s.context for s in statuses.list(repository, "a" * 40)] == ["ci", "medic/review"]
    assert statuses.get(repository, "b" * 40, "medic/review") is None


def test_the_local_hosts_records_commit_each_call(engine: Engine) -> None:
    sessions = session_factory(engine)
    records = StoreReviewRecords(sessions)
    workflow_id = _workflow_id()
    ids = records.upsert_comments(workflow_id, MARKER, [f"{MARKER}\none", f"{MARKER}\ntwo"])
    records.set_status("/srv/gitops.git", "c" * 40, "medic/review", "neutral", "warnings: 1")
    with sessions() as session:
        assert [c.id for c in ReviewCommentRepository(session).parts(workflow_id, MARKER)] == ids
        status = CommitStatusRepository(session).get("/srv/gitops.git", "c" * 40, "medic/review")
        assert status is not None and status.state == "neutral"
