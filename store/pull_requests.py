"""The local pull request host's records (`integrations.pull_requests.PullRequestRecords`).

The integration may not import the store, so this adapter satisfies its protocol structurally:
every call is one transaction of its own (`store.db.transaction`), since the host calls it
between git operations, and answers with the domain's `PullRequest`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from domain.gitops.pull_requests import PullRequest
from store import models
from store.db import transaction
from store.repositories import PullRequestRepository


def pull_request_of(row: models.PullRequest) -> PullRequest:
    """The domain model of a stored PR."""
    return PullRequest.model_validate(
        {
            "host": row.host,
            "number": row.number,
            "url": row.url,
            "incident_id": row.incident_id,
            "kind": row.kind,
            "branch": row.branch,
            "base": row.base,
            "head_commit": row.head_commit,
            "status": row.status,
            "merge_commit": row.merge_commit,
            "merged_by": row.merged_by,
            "closed_by": row.closed_by,
            "updated_at": row.updated_at,
            "title": row.title,
        }
    )


class StorePullRequestRecords:
    """PR records of one host (`local` by default) in the store, one transaction per call."""

    def __init__(self, sessions: sessionmaker[Session], *, host: str = "local") -> None:
        self.sessions = sessions
        self.host = host

    def get(self, number: int) -> PullRequest | None:
        with transaction(self.sessions) as session:
            row = PullRequestRepository(session).get(self.host, number)
            return pull_request_of(row) if row is not None else None

    def find(self, branch: str) -> PullRequest | None:
        with transaction(self.sessions) as session:
            row = PullRequestRepository(session).find(branch)
            return pull_request_of(row) if row is not None and row.host == self.host else None

    def create(self, pr: PullRequest) -> PullRequest:
        """Record `pr` (numbered here when `pr.number` is 0); the existing record of its branch
        when there is one."""
        with transaction(self.sessions) as session:
            row = PullRequestRepository(session).create(
                host=self.host,
                number=pr.number or None,
                incident_id=pr.incident_id,
                kind=pr.kind,
                branch=pr.branch,
                base=pr.base,
                head_commit=pr.head_commit,
                status=pr.status,
                url=pr.url,
                title=pr.title,
            )
            return pull_request_of(row)

    def update(self, number: int, **fields: Any) -> PullRequest | None:
        with transaction(self.sessions) as session:
            row = PullRequestRepository(session).update(self.host, number, **fields)
            return pull_request_of(row) if row is not None else None

    def add_comment(self, number: int, text: str) -> bool:
        with transaction(self.sessions) as session:
            return PullRequestRepository(session).add_comment(self.host, number, text)
