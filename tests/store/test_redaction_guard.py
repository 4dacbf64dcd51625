"""The store's guard: a writer that forgets to redact still cannot put a secret in a text or JSON
column that holds cluster-read text; the sealed snapshot keeps its exact content."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from domain.incident.memory import IncidentMemory
from store.memory import MemoryRepository
from store.repositories import (
    ActionRepository,
    ApprovalRepository,
    AuditRepository,
    IncidentRepository,
    PullRequestRepository,
    SnapshotRepository,
)

AWS_KEY = "AKIAZ3MEDICPLANTED01"
PG_URL = "postgresql://shop:PgUrlPass55@db.shop:5432/shop"
ARGS = "container app args: [] → ['--db-password', 'ArgsFlagPass55']"
COOKIE = "cookie: Cookie: sessionid=s3ss10nVal"
SECRETS = ("AKIAZ3MEDICPLANTED01", "PgUrlPass55", "ArgsFlagPass55", "s3ss10nVal")


def _new_id() -> str:
    return f"remediation-{uuid.uuid4().hex[:12]}"


def _clean(value: object) -> bool:
    return not any(secret in str(value) for secret in SECRETS)


def test_unredacted_incident_text_is_redacted_before_it_is_written(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="store.redaction"):
        row = IncidentRepository(session).upsert(
            _new_id(),
            title=f"checkout leaks {AWS_KEY}",
            summary=COOKIE,
            observation={"revisions": [{"changes": [ARGS]}], "notes": [PG_URL]},
            diagnosis={"explanation": f"the pod reads {PG_URL}"},
        )
    assert _clean(row.title) and _clean(row.summary)
    assert _clean(row.observation) and _clean(row.diagnosis)
    assert "incident.observation" in caplog.text
    assert not any(secret in caplog.text for secret in SECRETS)


def test_unredacted_audit_and_action_detail_are_redacted(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    diff = {"template.annotations": [{}, {"example.com/db": PG_URL, "example.com/aws": AWS_KEY}]}
    event = AuditRepository(session).record(incident_id, 1, "dry_run", "ok", detail={"diffs": [diff]})
    action = ActionRepository(session).record(
        incident_id,
        0,
        "dry_run",
        kind="restart",
        target="shop/Deployment/checkout",
        mode="direct",
        plan_hash="h",
        status="ok",
        detail={"diffs": [diff], "problems": [ARGS]},
    )
    assert _clean(event.detail) and _clean(action.detail)
    assert (
        action.detail["diffs"][0]["template.annotations"][1]["example.com/aws"]
        == "[REDACTED:aws_access_key_id]"
    )


def test_unredacted_approval_reason_and_pr_comment_are_redacted(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    approval = ApprovalRepository(session).record(incident_id, "alice", "approve", "h", reason=COOKIE)
    repo = PullRequestRepository(session)
    pr = repo.create(host="local", incident_id=incident_id, branch=f"medic/{incident_id}", head_commit="c0")
    assert repo.add_comment("local", pr.number, f"logs show {ARGS}")
    # The guard redacts before the duplicate check, so a retried comment is still one comment.
    assert not repo.add_comment("local", pr.number, f"logs show {ARGS}")
    stored = repo.get("local", pr.number)
    assert stored is not None and len(stored.comments) == 1
    assert _clean(approval.reason) and _clean(stored.comments)


def test_unredacted_memory_is_redacted(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    row = MemoryRepository(session).remember(
        IncidentMemory(
            incident_id=incident_id,
            title=f"leak {AWS_KEY}",
            summary=COOKIE,
            signals=[ARGS],
            outcome="resolved",
            closed_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        )
    )
    assert _clean(row.title) and _clean(row.summary) and _clean(row.signals) and _clean(row.search_text)


def test_redacted_text_is_written_unchanged_and_without_a_warning(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    observation = {"notes": ["OOMKilled 3 times", "image shop:1.4 digest sha256:" + "ab" * 32]}
    with caplog.at_level(logging.WARNING, logger="store.redaction"):
        row = IncidentRepository(session).upsert(_new_id(), observation=observation, summary="restarted")
    assert row.observation == observation
    assert caplog.text == ""


def test_sealed_snapshot_content_is_kept_exactly(session: Session) -> None:
    incident_id = IncidentRepository(session).upsert(_new_id()).id
    content = {"spec": {"template": {"metadata": {"annotations": {"example.com/db": PG_URL}}}}}
    snapshot = SnapshotRepository(session).save_if_absent(incident_id, "shop/Deployment/checkout", content)
    assert snapshot.content == content
