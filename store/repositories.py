"""Every query of the incident store, one repository per table.

A repository wraps the caller's `Session` and never commits, flushes for the caller, or opens a
transaction of its own: the activity commits once, at its boundary (`store.db.transaction`).

Writes are idempotent because activities are retried, possibly while an earlier attempt is still
running. Each write is a single `INSERT .. ON CONFLICT` on the table's natural key, so two attempts
racing each other cannot both insert and neither fails with a unique violation: the database
decides, not a read-then-write in Python.

Return values are the ORM objects of `store.models`, attached to the caller's session. Sessions
from `store.db.session_factory` do not expire them on commit, so their columns stay readable
after the transaction ends; relationships are `lazy="raise"` and are never loaded here.

JSON columns accept plain JSON-able values or pydantic models (dumped in JSON mode). Timestamps
must be timezone-aware; when omitted, the current UTC time is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Action, Approval, AuditEvent, Base, Incident, PullRequest, Snapshot, utcnow
from store.redaction import redacted_for_store

# Incident columns callers may set; the id is the key and the timestamps are maintained here.
INCIDENT_FIELDS: frozenset[str] = frozenset(
    {
        "source",
        "title",
        "status",
        "outcome",
        "risk",
        "root_cause",
        "namespace",
        "target",
        "plan_hash",
        "summary",
        "reason",
        "model_unusable",
        "alert_group",
        "diagnosis",
        "plan",
        "policy_decision",
        "observation",
        "closed_at",
    }
)
_INCIDENT_JSON_FIELDS = frozenset({"alert_group", "diagnosis", "plan", "policy_decision", "observation"})
# Columns that can carry text read from the cluster or an alert: redacted again before writing.
_INCIDENT_REDACTED_FIELDS = _INCIDENT_JSON_FIELDS | {
    "title",
    "summary",
    "root_cause",
    "reason",
    "model_unusable",
}

# Returned ORM rows replace what the session already holds for the same primary key, so a row
# read earlier in the same session never shows stale values after an upsert.
_REFRESH = {"populate_existing": True}


def _insert(session: Session, model: type[Base]) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT. Both supported databases have it."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"the store supports PostgreSQL and SQLite, not {dialect}")


def _jsonable(value: Any) -> Any:
    # pydantic models, without importing pydantic: the store does not care where data came from.
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return value


def _checked_incident_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - INCIDENT_FIELDS
    if unknown:
        raise TypeError(f"not an incident field: {', '.join(sorted(unknown))}")
    values = {
        key: _jsonable(value) if key in _INCIDENT_JSON_FIELDS else value for key, value in fields.items()
    }
    return {
        key: redacted_for_store("incident", key, value) if key in _INCIDENT_REDACTED_FIELDS else value
        for key, value in values.items()
    }


class IncidentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, incident_id: str, *, created_at: datetime | None = None, **fields: Any) -> Incident:
        """Create the incident, or update the given fields of the existing one; returns the row.

        Only the fields passed are written on update; `created_at` is only used when the row is
        created. Safe when two attempts run at once: one inserts, the other updates.
        """
        values = _checked_incident_fields(fields)
        now = utcnow()
        stmt = _insert(self.session, Incident).values(
            id=incident_id, created_at=created_at or now, updated_at=now, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[Incident.id],
            set_={**{key: stmt.excluded[key] for key in values}, "updated_at": stmt.excluded.updated_at},
        )
        return self.session.scalars(stmt.returning(Incident), execution_options=_REFRESH).one()

    def update(self, incident_id: str, **fields: Any) -> Incident | None:
        """Set the given fields; returns the updated row, or None if there is no such incident."""
        values = _checked_incident_fields(fields)
        stmt = (
            update(Incident)
            .where(Incident.id == incident_id)
            .values(updated_at=utcnow(), **values)
            .returning(Incident)
        )
        return self.session.scalars(
            stmt, execution_options={**_REFRESH, "synchronize_session": False}
        ).one_or_none()

    def get(self, incident_id: str) -> Incident | None:
        return self.session.get(Incident, incident_id)

    def list(
        self,
        *,
        status: str | None = None,
        namespace: str | None = None,
        risk: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Sequence[Incident]:
        """Incidents matching every filter given, newest first; `offset` skips that many (paging)."""
        stmt = select(Incident)
        if status is not None:
            stmt = stmt.where(Incident.status == status)
        if namespace is not None:
            stmt = stmt.where(Incident.namespace == namespace)
        if risk is not None:
            stmt = stmt.where(Incident.risk == risk)
        stmt = stmt.order_by(Incident.created_at.desc(), Incident.id.desc()).limit(limit).offset(offset)
        return self.session.scalars(stmt).all()

    def model_unusable_since(self, since: datetime, *, look_back: int = 50) -> Incident | None:
        """The incident whose analysis found the model unusable, when the latest analysis since
        `since` did (the offline rules diagnosed instead); None when it did not, or when a later
        analysis used the model. Analyses by the offline rules alone (no model configured, a
        prompt too large) and drift incidents (no model is consulted) decide nothing: the
        latest of the `look_back` newest analysed incidents that is telling decides."""
        stmt = (
            select(Incident)
            .where(
                Incident.created_at >= since,
                Incident.source != "drift",
                Incident.model_unusable.is_not(None) | Incident.diagnosis.is_not(None),
            )
            .order_by(Incident.created_at.desc(), Incident.id.desc())
            .limit(look_back)
        )
        for incident in self.session.scalars(stmt):
            if incident.model_unusable:
                return incident
            analyzer = (incident.diagnosis or {}).get("analyzer")
            if analyzer and analyzer != "offline":
                return None
        return None


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        incident_id: str,
        seq: int,
        step: str,
        status: str,
        *,
        actor: str = "medic",
        plan_hash: str | None = None,
        detail: Any = None,
        duration_ms: int | None = None,
        occurred_at: datetime | None = None,
    ) -> AuditEvent:
        """Write event `seq` of the incident unless it is already there; returns the stored event.

        The first write of a `seq` wins: a retry that arrives with different detail (a later
        clock, another duration) does not rewrite history.
        """
        stmt = (
            _insert(self.session, AuditEvent)
            .values(
                incident_id=incident_id,
                seq=seq,
                step=step,
                status=status,
                actor=actor,
                plan_hash=plan_hash,
                detail=redacted_for_store(
                    "audit_event", "detail", _jsonable(detail) if detail is not None else {}
                ),
                duration_ms=duration_ms,
                occurred_at=occurred_at or utcnow(),
            )
            .on_conflict_do_nothing(index_elements=[AuditEvent.incident_id, AuditEvent.seq])
        )
        inserted = self.session.scalars(stmt.returning(AuditEvent), execution_options=_REFRESH).one_or_none()
        if inserted is not None:
            return inserted
        return self.session.scalars(
            select(AuditEvent).where(AuditEvent.incident_id == incident_id, AuditEvent.seq == seq)
        ).one()

    def list(
        self,
        *,
        incident_id: str | None = None,
        step: str | None = None,
        status: str | None = None,
        actor: str | None = None,
        newest_first: bool = False,
        limit: int = 500,
    ) -> Sequence[AuditEvent]:
        """Events matching every filter given, ordered by incident, then by the workflow's sequence
        number; with `newest_first`, by when they occurred, the latest first."""
        stmt = select(AuditEvent)
        if incident_id is not None:
            stmt = stmt.where(AuditEvent.incident_id == incident_id)
        if step is not None:
            stmt = stmt.where(AuditEvent.step == step)
        if status is not None:
            stmt = stmt.where(AuditEvent.status == status)
        if actor is not None:
            stmt = stmt.where(AuditEvent.actor == actor)
        if newest_first:
            stmt = stmt.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        else:
            stmt = stmt.order_by(AuditEvent.incident_id, AuditEvent.seq)
        return self.session.scalars(stmt.limit(limit)).all()


class SnapshotRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def save_if_absent(
        self,
        incident_id: str,
        resource_key: str,
        content: Any,
        *,
        resource_version: str = "",
        generation: int = 0,
        taken_at: datetime | None = None,
    ) -> Snapshot:
        """Store the object's state before the change, unless one is stored; returns the kept one.

        The first snapshot wins: a retry after the change was applied would otherwise replace
        the state to roll back to with the changed state.
        """
        stmt = (
            _insert(self.session, Snapshot)
            .values(
                incident_id=incident_id,
                resource_key=resource_key,
                resource_version=resource_version,
                generation=generation,
                content=_jsonable(content),
                taken_at=taken_at or utcnow(),
            )
            .on_conflict_do_nothing(index_elements=[Snapshot.incident_id, Snapshot.resource_key])
        )
        inserted = self.session.scalars(stmt.returning(Snapshot), execution_options=_REFRESH).one_or_none()
        if inserted is not None:
            return inserted
        stored = self.get(incident_id, resource_key)
        if stored is None:  # pragma: no cover - the conflict proves the row exists
            raise RuntimeError(f"snapshot {incident_id} {resource_key} conflicted but cannot be read")
        return stored

    def get(self, incident_id: str, resource_key: str) -> Snapshot | None:
        return self.session.scalars(
            select(Snapshot).where(Snapshot.incident_id == incident_id, Snapshot.resource_key == resource_key)
        ).one_or_none()

    def list(self, incident_id: str) -> Sequence[Snapshot]:
        """The incident's snapshots in the order they were taken."""
        return self.session.scalars(
            select(Snapshot).where(Snapshot.incident_id == incident_id).order_by(Snapshot.id)
        ).all()


class ApprovalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        incident_id: str,
        approver: str,
        decision: str,
        plan_hash: str,
        *,
        reason: str = "",
        via: str = "signal",
        decided_at: datetime | None = None,
    ) -> Approval:
        """Store one approver's decision on one plan, unless already stored; returns the kept one.

        The first decision of an approver on a plan wins; a changed mind on the same plan is the
        workflow's business (it refuses duplicates), not a silent overwrite here.
        """
        stmt = (
            _insert(self.session, Approval)
            .values(
                incident_id=incident_id,
                approver=approver,
                decision=decision,
                reason=redacted_for_store("approval", "reason", reason),
                plan_hash=plan_hash,
                via=via,
                decided_at=decided_at or utcnow(),
            )
            .on_conflict_do_nothing(
                index_elements=[Approval.incident_id, Approval.approver, Approval.plan_hash]
            )
        )
        inserted = self.session.scalars(stmt.returning(Approval), execution_options=_REFRESH).one_or_none()
        if inserted is not None:
            return inserted
        return self.session.scalars(
            select(Approval).where(
                Approval.incident_id == incident_id,
                Approval.approver == approver,
                Approval.plan_hash == plan_hash,
            )
        ).one()

    def list(self, incident_id: str) -> Sequence[Approval]:
        """The incident's decisions in the order they were recorded."""
        return self.session.scalars(
            select(Approval).where(Approval.incident_id == incident_id).order_by(Approval.id)
        ).all()


class ActionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        incident_id: str,
        action_index: int,
        phase: str,
        *,
        kind: str,
        target: str,
        mode: str,
        plan_hash: str,
        status: str,
        detail: Any = None,
        executed_at: datetime | None = None,
    ) -> Action:
        """Create or replace what happened to action `action_index` in `phase`; returns the row.

        Unlike audit events this is state, not history: a later attempt's result (say `applied`
        after `pending`) replaces the earlier one. The audit trail keeps every attempt.
        """
        stmt = _insert(self.session, Action).values(
            incident_id=incident_id,
            action_index=action_index,
            phase=phase,
            kind=kind,
            target=target,
            mode=mode,
            plan_hash=plan_hash,
            status=status,
            detail=redacted_for_store("action", "detail", _jsonable(detail) if detail is not None else {}),
            executed_at=executed_at or utcnow(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[Action.incident_id, Action.action_index, Action.phase],
            set_={
                key: stmt.excluded[key]
                for key in ("kind", "target", "mode", "plan_hash", "status", "detail", "executed_at")
            },
        )
        return self.session.scalars(stmt.returning(Action), execution_options=_REFRESH).one()

    def list(self, incident_id: str) -> Sequence[Action]:
        """The incident's action records by position in the plan, then in the order written."""
        return self.session.scalars(
            select(Action).where(Action.incident_id == incident_id).order_by(Action.action_index, Action.id)
        ).all()


# Pull request columns `PullRequestRepository.update` may set.
PULL_REQUEST_FIELDS: frozenset[str] = frozenset(
    {"status", "head_commit", "merge_commit", "merged_by", "closed_by", "url", "title", "base"}
)
# How often `create` computes the next number again after losing it to a concurrent create of
# another branch; each loss means another PR was recorded, so this bounds nothing in practice.
_NUMBER_ATTEMPTS = 8


class PullRequestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        *,
        host: str,
        incident_id: str,
        branch: str,
        head_commit: str,
        number: int | None = None,
        kind: str = "fix",
        base: str = "main",
        status: str = "open",
        url: str = "",
        title: str = "",
        created_at: datetime | None = None,
    ) -> PullRequest:
        """Record the PR of `branch` unless one is recorded; returns the kept row.

        `number` None takes the host's next number (the local host numbers its own PRs). The
        first record of a branch wins, so a retried "open the PR" never makes a second one,
        also when two attempts race: one insert wins, the other finds its row.
        """
        now = created_at or utcnow()
        for _ in range(_NUMBER_ATTEMPTS):
            next_number: Any = number
            if next_number is None:
                # Computed inside the INSERT, so SQLite takes its write lock before reading.
                next_number = (
                    select(func.coalesce(func.max(PullRequest.number), 0) + 1)
                    .where(PullRequest.host == host)
                    .scalar_subquery()
                )
            stmt = (
                _insert(self.session, PullRequest)
                .values(
                    host=host,
                    number=next_number,
                    incident_id=incident_id,
                    kind=kind,
                    branch=branch,
                    base=base,
                    head_commit=head_commit,
                    status=status,
                    url=url,
                    title=redacted_for_store("pull_request", "title", title),
                    comments=[],
                    created_at=now,
                    updated_at=now,
                )
                # No target: a taken branch *or* a taken (host, number) is left alone.
                .on_conflict_do_nothing()
            )
            inserted = self.session.scalars(
                stmt.returning(PullRequest), execution_options=_REFRESH
            ).one_or_none()
            if inserted is not None:
                return inserted
            existing = self.find(branch)
            if existing is not None:
                return existing
            if number is not None:
                raise ValueError(f"pull request {host} #{number} is already recorded for another branch")
        raise RuntimeError(f"could not number the pull request of {branch}: too many concurrent creates")

    def get(self, host: str, number: int) -> PullRequest | None:
        return self.session.scalars(
            select(PullRequest).where(PullRequest.host == host, PullRequest.number == number),
            execution_options=_REFRESH,
        ).one_or_none()

    def find(self, branch: str) -> PullRequest | None:
        return self.session.scalars(
            select(PullRequest).where(PullRequest.branch == branch), execution_options=_REFRESH
        ).one_or_none()

    def update(self, host: str, number: int, **fields: Any) -> PullRequest | None:
        """Set the given fields (see `PULL_REQUEST_FIELDS`); the updated row, or None if none."""
        unknown = set(fields) - PULL_REQUEST_FIELDS
        if unknown:
            raise TypeError(f"not a pull request field: {', '.join(sorted(unknown))}")
        stmt = (
            update(PullRequest)
            .where(PullRequest.host == host, PullRequest.number == number)
            .values(updated_at=utcnow(), **fields)
            .returning(PullRequest)
        )
        return self.session.scalars(
            stmt, execution_options={**_REFRESH, "synchronize_session": False}
        ).one_or_none()

    def add_comment(self, host: str, number: int, text: str, *, at: datetime | None = None) -> bool:
        """Append a comment unless the PR already has one with this text; whether it was added.

        The row is locked first (an UPDATE: a row lock on PostgreSQL, the write lock on SQLite),
        so comments written at the same time are all kept.
        """
        text = redacted_for_store("pull_request", "comments", text)
        now = utcnow()
        row = self.session.scalars(
            update(PullRequest)
            .where(PullRequest.host == host, PullRequest.number == number)
            .values(updated_at=now)
            .returning(PullRequest),
            execution_options={**_REFRESH, "synchronize_session": False},
        ).one_or_none()
        if row is None:
            return False
        comments = list(row.comments or [])
        if any(c.get("text") == text for c in comments):
            return False
        comments.append({"text": text, "at": (at or now).isoformat()})
        self.session.execute(
            update(PullRequest).where(PullRequest.id == row.id).values(comments=comments),
            execution_options={"synchronize_session": False},
        )
        return True

    def list(
        self,
        *,
        host: str | None = None,
        incident_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> Sequence[PullRequest]:
        """PRs matching every filter given, newest first."""
        stmt = select(PullRequest)
        if host is not None:
            stmt = stmt.where(PullRequest.host == host)
        if incident_id is not None:
            stmt = stmt.where(PullRequest.incident_id == incident_id)
        if status is not None:
            stmt = stmt.where(PullRequest.status == status)
        stmt = stmt.order_by(PullRequest.created_at.desc(), PullRequest.id.desc()).limit(limit)
        return self.session.scalars(stmt, execution_options=_REFRESH).all()
