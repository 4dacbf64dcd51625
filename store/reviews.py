"""Change reviews in the store: the review of each head (`ChangeReviewRepository`), and what a
forge would keep for the local host — a review's comment in parts (`ReviewCommentRepository`) and
commit statuses (`CommitStatusRepository`).

Like `store.repositories`, the repositories never commit: the activity commits at its boundary.
`StoreReviewRecords` is the local pull request host's adapter
(`integrations.pull_requests.ReviewRecords`): the host calls it between git operations, so each
of its calls is one transaction of its own.

Every text that can hold what was read from a manifest or a diff (the summary, the report, a
comment, a status description) is redacted again on its way in (`store.redaction`); the report
value by value, so that its JSON stays whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, defer, sessionmaker

from store.db import transaction
from store.models import ChangeReview, CommitStatus, ReviewComment, utcnow
from store.redaction import redacted_for_store
from store.repositories import _REFRESH, _insert, _jsonable

# What `ChangeReviewRepository.save` writes besides the key; the timestamps are kept here.
CHANGE_REVIEW_FIELDS: frozenset[str] = frozenset(
    {
        "workflow_id",
        "host",
        "repository",
        "number",
        "head_ref",
        "head_sha",
        "base_sha",
        "state",
        "risk",
        "decision",
        "monthly_delta_usd",
        "objects_changed",
        "summary",
        "report",
    }
)
_REQUIRED = frozenset({"workflow_id", "host", "repository", "head_ref", "head_sha", "state"})


def review_key(workflow_id: str, head_sha: str) -> str:
    """The key of the review of `head_sha` by the review workflow `workflow_id`."""
    return f"{workflow_id}@{head_sha}"


def report_of(row: ChangeReview) -> dict[str, Any]:
    """The review's report, decoded from its JSON text."""
    decoded = json.loads(row.report or "{}")
    return decoded if isinstance(decoded, dict) else {}


def _report_text(report: Any) -> str:
    document = json.loads(report) if isinstance(report, str) else _jsonable(report)
    return json.dumps(redacted_for_store("change_review", "report", document), ensure_ascii=False)


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - CHANGE_REVIEW_FIELDS
    if unknown:
        raise TypeError(f"not a change review field: {', '.join(sorted(unknown))}")
    values = dict(fields)
    if "summary" in values:
        values["summary"] = redacted_for_store("change_review", "summary", values["summary"])
    if "report" in values:
        values["report"] = _report_text(values["report"])
    return values


class ChangeReviewRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def save(self, key: str, *, created_at: datetime | None = None, **fields: Any) -> ChangeReview:
        """Write the review `key` (see `review_key`) whole: created, or overwritten with `fields`
        (`workflow_id`, `host`, `repository`, `head_ref`, `head_sha` and `state` at least; the
        others keep their defaults on create and their values on overwrite). `report` is a
        mapping, a pydantic model or JSON text. Safe when two attempts race: one inserts, the
        other updates; `created_at` is the first write's."""
        values = _checked(fields)
        missing = _REQUIRED - set(values)
        if missing:
            raise TypeError(f"a change review needs {', '.join(sorted(missing))}")
        now = utcnow()
        stmt = _insert(self.session, ChangeReview).values(
            key=key, created_at=created_at or now, updated_at=now, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[ChangeReview.key],
            set_={**{name: stmt.excluded[name] for name in values}, "updated_at": stmt.excluded.updated_at},
        )
        return self.session.scalars(stmt.returning(ChangeReview), execution_options=_REFRESH).one()

    def update(self, key: str, **fields: Any) -> ChangeReview | None:
        """Set the given fields of review `key` (e.g. `state="superseded"`); None if there is none."""
        values = _checked(fields)
        stmt = (
            update(ChangeReview)
            .where(ChangeReview.key == key)
            .values(updated_at=utcnow(), **values)
            .returning(ChangeReview)
        )
        return self.session.scalars(
            stmt, execution_options={**_REFRESH, "synchronize_session": False}
        ).one_or_none()

    def get(self, key: str) -> ChangeReview | None:
        return self.session.scalars(
            select(ChangeReview).where(ChangeReview.key == key), execution_options=_REFRESH
        ).one_or_none()

    def latest(self, workflow_id: str) -> ChangeReview | None:
        """The review workflow's newest review (the last head it reviewed), or None."""
        return self.session.scalars(
            select(ChangeReview)
            .where(ChangeReview.workflow_id == workflow_id)
            .order_by(ChangeReview.created_at.desc(), ChangeReview.key.desc())
            .limit(1),
            execution_options=_REFRESH,
        ).one_or_none()

    def list(
        self,
        *,
        repository: str | None = None,
        state: str | None = None,
        decision: str | None = None,
        limit: int = 50,
    ) -> Sequence[ChangeReview]:
        """Reviews matching every filter given, newest first; their `report` (diffs and comment,
        large) is loaded only when read."""
        stmt = select(ChangeReview).options(defer(ChangeReview.report))
        if repository is not None:
            stmt = stmt.where(ChangeReview.repository == repository)
        if state is not None:
            stmt = stmt.where(ChangeReview.state == state)
        if decision is not None:
            stmt = stmt.where(ChangeReview.decision == decision)
        stmt = stmt.order_by(ChangeReview.created_at.desc(), ChangeReview.key.desc()).limit(limit)
        return self.session.scalars(stmt, execution_options=_REFRESH).all()


class ReviewCommentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def parts(self, workflow_id: str, marker: str) -> Sequence[ReviewComment]:
        """The parts of the comment under `marker` of the review `workflow_id`, in order."""
        return self.session.scalars(
            select(ReviewComment)
            .where(ReviewComment.workflow_id == workflow_id, ReviewComment.marker == marker)
            .order_by(ReviewComment.part),
            execution_options=_REFRESH,
        ).all()

    def upsert(self, workflow_id: str, marker: str, parts: Sequence[str]) -> list[int]:
        """Make the comment read `parts`: part i written in place (left alone when its body is
        already equal), parts past the last deleted; the ids in order."""
        bodies = [redacted_for_store("review_comment", "body", part) for part in parts]
        kept = {row.part: row for row in self.parts(workflow_id, marker)}
        ids: list[int] = []
        for index, body in enumerate(bodies):
            row = kept.get(index)
            if row is not None and row.body == body:
                ids.append(row.id)
                continue
            now = utcnow()
            stmt = _insert(self.session, ReviewComment).values(
                workflow_id=workflow_id, marker=marker, part=index, body=body, updated_at=now
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[ReviewComment.workflow_id, ReviewComment.marker, ReviewComment.part],
                set_={"body": stmt.excluded.body, "updated_at": stmt.excluded.updated_at},
            )
            ids.append(self.session.scalars(stmt.returning(ReviewComment.id)).one())
        self.session.execute(
            delete(ReviewComment).where(
                ReviewComment.workflow_id == workflow_id,
                ReviewComment.marker == marker,
                ReviewComment.part >= len(bodies),
            )
        )
        return ids


class CommitStatusRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def set(
        self,
        repository: str,
        sha: str,
        context: str,
        state: str,
        description: str = "",
        target_url: str = "",
    ) -> CommitStatus:
        """The status `context` of `sha` becomes `state` (the last one set wins)."""
        now = utcnow()
        values = {
            "state": state,
            "description": redacted_for_store("commit_status", "description", description),
            "target_url": target_url,
            "updated_at": now,
        }
        stmt = _insert(self.session, CommitStatus).values(
            repository=repository, sha=sha, context=context, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[CommitStatus.repository, CommitStatus.sha, CommitStatus.context],
            set_={name: stmt.excluded[name] for name in values},
        )
        return self.session.scalars(stmt.returning(CommitStatus), execution_options=_REFRESH).one()

    def get(self, repository: str, sha: str, context: str) -> CommitStatus | None:
        return self.session.scalars(
            select(CommitStatus).where(
                CommitStatus.repository == repository,
                CommitStatus.sha == sha,
                CommitStatus.context == context,
            ),
            execution_options=_REFRESH,
        ).one_or_none()

    def list(self, repository: str, sha: str) -> Sequence[CommitStatus]:
        """Every context's status of `sha`, by context."""
        return self.session.scalars(
            select(CommitStatus)
            .where(CommitStatus.repository == repository, CommitStatus.sha == sha)
            .order_by(CommitStatus.context),
            execution_options=_REFRESH,
        ).all()


class StoreReviewRecords:
    """The local pull request host's review comments and statuses, one transaction per call."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def upsert_comments(self, key: str, marker: str, parts: list[str]) -> list[int]:
        with transaction(self.sessions) as session:
            return ReviewCommentRepository(session).upsert(key, marker, parts)

    def set_status(
        self, repository: str, sha: str, context: str, state: str, description: str, target_url: str = ""
    ) -> None:
        with transaction(self.sessions) as session:
            CommitStatusRepository(session).set(repository, sha, context, state, description, target_url)


__all__ = [
    "CHANGE_REVIEW_FIELDS",
    "ChangeReviewRepository",
    "CommitStatusRepository",
    "ReviewCommentRepository",
    "StoreReviewRecords",
    "report_of",
    "review_key",
]
