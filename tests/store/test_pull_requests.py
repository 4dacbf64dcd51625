"""The pull_request table, its repository and the local host's records adapter (SQLite + PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.gitops.pull_requests import PullRequest, branch_for
from store import models
from store.db import session_factory, transaction
from store.pull_requests import StorePullRequestRecords
from store.repositories import IncidentRepository, PullRequestRepository


def _incident(sessions: sessionmaker[Session]) -> str:
    # The PostgreSQL database is shared by the run: every test makes ids of its own.
    incident_id = f"incident-pr-{uuid.uuid4().hex[:12]}.1a2b3c4d"
    with transaction(sessions) as session:
        IncidentRepository(session).upsert(incident_id, title="OOM in ledger")
    return incident_id


def _pr(incident_id: str, head: str = "a" * 40, kind: str = "fix") -> PullRequest:
    return PullRequest.model_validate(
        {
            "host": "local",
            "number": 0,
            "url": "",
            "incident_id": incident_id,
            "kind": kind,
            "branch": branch_for(incident_id, kind),  # type: ignore[arg-type]
            "head_commit": head,
            "title": "medic: raise ledger memory",
        }
    )


@pytest.fixture
def sessions(engine: Engine) -> Iterator[sessionmaker[Session]]:
    yield session_factory(engine)


def test_create_numbers_prs_and_returns_the_existing_record_of_a_branch(
    sessions: sessionmaker[Session],
) -> None:
    records = StorePullRequestRecords(sessions)
    incident_id = _incident(sessions)
    fix = records.create(_pr(incident_id))
    assert fix.number >= 1 and fix.status == "open" and fix.host == "local"
    again = records.create(_pr(incident_id, head="b" * 40))
    assert again == fix, "the first record of a branch wins"
    revert = records.create(_pr(incident_id, kind="revert"))
    assert revert.number == fix.number + 1 and revert.kind == "revert"
    assert records.find(fix.branch) == fix
    assert records.get(fix.number) == fix
    assert records.get(10**6) is None and records.find("medic/nothing") is None


def test_update_sets_fields_and_refuses_unknown_ones(sessions: sessionmaker[Session]) -> None:
    records = StorePullRequestRecords(sessions)
    pr = records.create(_pr(_incident(sessions)))
    merged = records.update(pr.number, status="merged", merge_commit="c" * 40, merged_by="alice")
    assert merged is not None
    assert (merged.status, merged.merge_commit, merged.merged_by) == ("merged", "c" * 40, "alice")
    assert records.get(pr.number) == merged
    assert records.update(10**6, status="closed") is None
    with pytest.raises(TypeError, match="incident_id"):
        records.update(pr.number, incident_id="other")


def test_comments_are_kept_once(sessions: sessionmaker[Session]) -> None:
    records = StorePullRequestRecords(sessions)
    pr = records.create(_pr(_incident(sessions)))
    assert records.add_comment(pr.number, "verification passed")
    assert not records.add_comment(pr.number, "verification passed"), "a retried comment is not repeated"
    assert records.add_comment(pr.number, "rolled back")
    assert not records.add_comment(10**6, "nobody")
    with transaction(sessions) as session:
        row = PullRequestRepository(session).get("local", pr.number)
        assert row is not None
        assert [c["text"] for c in row.comments] == ["verification passed", "rolled back"]


def test_github_prs_keep_their_own_numbers_per_host(sessions: sessionmaker[Session]) -> None:
    incident_id = _incident(sessions)
    github = StorePullRequestRecords(sessions, host="github")
    number = 4000 + int(uuid.uuid4().hex[:4], 16)
    pr = github.create(
        _pr(incident_id).model_copy(
            update={"host": "github", "number": number, "url": f"https://github.com/o/r/pull/{number}"}
        )
    )
    assert pr.number == number and pr.host == "github"
    assert StorePullRequestRecords(sessions).get(number) is None, "numbers are per host"
    assert StorePullRequestRecords(sessions).find(pr.branch) is None


def test_concurrent_creates_of_one_branch_keep_one_row(sessions: sessionmaker[Session]) -> None:
    incident_id = _incident(sessions)
    records = StorePullRequestRecords(sessions)
    barrier = threading.Barrier(6)
    results: list[PullRequest] = []
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(records.create(_pr(incident_id, head=f"{i:x}" * 40)))
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert (
        len(results) == 6
        and len({r.number for r in results}) == 1
        and len({r.head_commit for r in results}) == 1
    )
    with transaction(sessions) as session:
        count = session.scalar(
            select(func.count())
            .select_from(models.PullRequest)
            .where(models.PullRequest.incident_id == incident_id)
        )
    assert count == 1


def test_concurrent_creates_of_different_branches_get_distinct_numbers(
    sessions: sessionmaker[Session],
) -> None:
    records = StorePullRequestRecords(sessions)
    incidents = [_incident(sessions) for _ in range(5)]
    barrier = threading.Barrier(len(incidents))
    results: list[PullRequest] = []
    errors: list[BaseException] = []

    def create(incident_id: str) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(records.create(_pr(incident_id)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in incidents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len({r.number for r in results}) == len(incidents)


def test_repository_lists_newest_first_with_filters(session: Session) -> None:
    incident_id = f"incident-pr-{uuid.uuid4().hex[:12]}.1a2b3c4d"
    IncidentRepository(session).upsert(incident_id)
    repo = PullRequestRepository(session)
    fix = repo.create(
        host="local", incident_id=incident_id, branch=branch_for(incident_id), head_commit="a" * 40
    )
    revert = repo.create(
        host="local",
        incident_id=incident_id,
        kind="revert",
        branch=branch_for(incident_id, "revert"),
        head_commit="b" * 40,
    )
    repo.update("local", fix.number, status="merged")
    listed = repo.list(incident_id=incident_id)
    assert [p.branch for p in listed] == [revert.branch, fix.branch]
    assert [p.branch for p in repo.list(incident_id=incident_id, status="merged")] == [fix.branch]
