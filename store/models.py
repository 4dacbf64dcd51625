"""Tables of the incident store.

Every incident workflow owns one `incident` row, keyed by its workflow id; everything else hangs
off it and carries a natural key that makes a retried write a no-op (see `store.repositories`).

Conventions: table names are singular snake_case; timestamps end in `_at`, are timezone-aware and
always come back in UTC (also on SQLite, which stores them without an offset); constraint names
come from `NAMING_CONVENTION`, so a migration can name every constraint it creates or drops.
Relationships refuse lazy loading: load what you need with `selectinload` in the query.

Changing anything here needs a hand-written migration under `migrations/versions/`; the test
`tests/store/test_migrations.py` fails while the two disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """`TIMESTAMP WITH TIME ZONE` that only accepts aware datetimes and always returns UTC.

    SQLite has no timezone type: values are stored as UTC text and come back naive, so the UTC
    offset is put back on read. A naive datetime is refused on write rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store timestamps with a timezone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # Stored without the offset, so text order is time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# A JSON document; Python None is SQL NULL (not JSON `null`), so `IS NULL` finds "not set yet".
# PostgreSQL gets JSONB: smaller, indexable, and comparable by value.
JsonDocument = JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")

# SQLite only makes INTEGER PRIMARY KEY columns auto-increment; BIGINT would not be.
BigIntId = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonDocument}


class Incident(Base):
    """One remediation workflow run: where it is, what it found, and how it ended."""

    __tablename__ = "incident"

    # The workflow id.
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), default="alert")
    title: Mapped[str] = mapped_column(Text, default="")
    # The current step ("observing", "awaiting_approval", ...), or the outcome once closed.
    status: Mapped[str] = mapped_column(String(64), default="observing")
    outcome: Mapped[str | None] = mapped_column(String(32))
    risk: Mapped[str | None] = mapped_column(String(16))
    root_cause: Mapped[str | None] = mapped_column(String(64))
    namespace: Mapped[str | None] = mapped_column(String(253))
    # "namespace/Kind/name"
    target: Mapped[str | None] = mapped_column(String(600))
    plan_hash: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text)
    # One line: why it ended as it did (set when it closes), the first thing an operator reads.
    reason: Mapped[str | None] = mapped_column(Text)
    # One line, set when the model could not be used (auth, quota, outage) and the offline rules
    # diagnosed instead; None when the model answered or none is configured.
    model_unusable: Mapped[str | None] = mapped_column(Text)
    alert_group: Mapped[dict[str, Any] | None]
    diagnosis: Mapped[dict[str, Any] | None]
    plan: Mapped[dict[str, Any] | None]
    policy_decision: Mapped[dict[str, Any] | None]
    # What observe saw (already redacted), shown by the console beside the evidence citing it.
    observation: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]

    audit_events: Mapped[list[AuditEvent]] = relationship(
        back_populates="incident", lazy="raise", order_by="AuditEvent.seq"
    )
    snapshots: Mapped[list[Snapshot]] = relationship(
        back_populates="incident", lazy="raise", order_by="Snapshot.id"
    )
    approvals: Mapped[list[Approval]] = relationship(
        back_populates="incident", lazy="raise", order_by="Approval.id"
    )
    actions: Mapped[list[Action]] = relationship(
        back_populates="incident", lazy="raise", order_by="Action.action_index"
    )

    __table_args__ = (
        Index(None, "status"),
        Index(None, "created_at"),
    )

    def __repr__(self) -> str:
        return f"Incident(id={self.id!r}, status={self.status!r}, outcome={self.outcome!r})"


class AuditEvent(Base):
    """One step of one workflow: who, what, which plan, the output, how long it took.

    `seq` is the workflow's own event counter, so the workflow (deterministic) decides the key and
    a retried activity writes the same key again.
    """

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incident.id"))
    seq: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(64))
    # "started" | "completed" | "failed" | "info"
    status: Mapped[str] = mapped_column(String(32))
    # "medic", or the person who approved / rejected.
    actor: Mapped[str] = mapped_column(String(255), default="medic")
    plan_hash: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="audit_events", lazy="raise")

    __table_args__ = (
        UniqueConstraint("incident_id", "seq"),
        # Redundant with the unique constraint's leading column on both databases, kept so that
        # "all events of an incident" does not depend on the constraint's column order.
        Index(None, "incident_id"),
    )

    def __repr__(self) -> str:
        return f"AuditEvent(incident_id={self.incident_id!r}, seq={self.seq}, step={self.step!r})"


class Snapshot(Base):
    """An object as it was before medic changed it; the first one taken is the one kept."""

    __tablename__ = "snapshot"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incident.id"))
    # "namespace/Kind/name"
    resource_key: Mapped[str] = mapped_column(String(600))
    resource_version: Mapped[str] = mapped_column(String(64), default="")
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    content: Mapped[dict[str, Any]]
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="snapshots", lazy="raise")

    __table_args__ = (UniqueConstraint("incident_id", "resource_key"),)

    def __repr__(self) -> str:
        return f"Snapshot(incident_id={self.incident_id!r}, resource_key={self.resource_key!r})"


class Approval(Base):
    """An approve / reject decision, bound to the hash of the plan it was given for."""

    __tablename__ = "approval"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incident.id"))
    approver: Mapped[str] = mapped_column(String(255))
    # "approve" | "reject"
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    plan_hash: Mapped[str] = mapped_column(String(64))
    # "signal" | "update" | "console" | "cli" ...
    via: Mapped[str] = mapped_column(String(32), default="signal")
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="approvals", lazy="raise")

    __table_args__ = (UniqueConstraint("incident_id", "approver", "plan_hash"),)

    def __repr__(self) -> str:
        return (
            f"Approval(incident_id={self.incident_id!r}, approver={self.approver!r}, "
            f"decision={self.decision!r})"
        )


class Action(Base):
    """What happened to one action of the plan in one phase (dry run, execution, rollback)."""

    __tablename__ = "action"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incident.id"))
    # Position of the action in the plan.
    action_index: Mapped[int] = mapped_column(Integer)
    # "set_resources" | "set_image" | "scale" | ...
    kind: Mapped[str] = mapped_column(String(32))
    # "namespace/Kind/name"
    target: Mapped[str] = mapped_column(String(600))
    # "direct" | "gitops"
    mode: Mapped[str] = mapped_column(String(16))
    plan_hash: Mapped[str] = mapped_column(String(64))
    # "dry_run" | "execute" | "rollback"
    phase: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    executed_at: Mapped[datetime] = mapped_column(default=utcnow)

    incident: Mapped[Incident] = relationship(back_populates="actions", lazy="raise")

    __table_args__ = (UniqueConstraint("incident_id", "action_index", "phase"),)

    def __repr__(self) -> str:
        return (
            f"Action(incident_id={self.incident_id!r}, action_index={self.action_index}, "
            f"phase={self.phase!r}, status={self.status!r})"
        )


class IncidentMemory(Base):
    """A closed incident as later incidents recall it: what was seen, done, and how it ended.

    `search_text` is what full-text search reads; `store.memory` writes it from the other columns.
    Its index is not part of this model because it differs by database: a GIN index on
    `to_tsvector('english', search_text)` on PostgreSQL, an FTS5 table kept in sync by triggers
    on SQLite (both created by migration 2026_11_23_0002; see `store.memory`).
    """

    __tablename__ = "incident_memory"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incident.id"), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    alertname: Mapped[str | None] = mapped_column(String(255))
    namespace: Mapped[str | None] = mapped_column(String(253))
    # "namespace/Kind/name"
    workload: Mapped[str | None] = mapped_column(String(600))
    root_cause: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text, default="")
    # [{"kind": "set_resources", "target": "ns/Kind/name", "mode": "direct", ...}, ...]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    # Container state and warning event reasons observed ("OOMKilled", "CrashLoopBackOff", ...).
    signals: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime]

    __table_args__ = (
        Index(None, "alertname"),
        Index(None, "workload"),
        Index(None, "root_cause"),
    )

    def __repr__(self) -> str:
        return f"IncidentMemory(incident_id={self.incident_id!r}, outcome={self.outcome!r})"


class PullRequest(Base):
    """A pull request medic opened against the GitOps repository: one per branch, so one fix and
    at most one revert per incident.

    For the local host (the embedded default) this row *is* the PR, its number assigned here;
    for GitHub it mirrors the PR GitHub numbered. `comments` are the local host's comments.
    """

    __tablename__ = "pull_request"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # "local" | "github" | "gitlab"
    host: Mapped[str] = mapped_column(String(16), default="local")
    number: Mapped[int] = mapped_column(Integer)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incident.id"))
    # "fix" | "revert"
    kind: Mapped[str] = mapped_column(String(16), default="fix")
    branch: Mapped[str] = mapped_column(String(255))
    base: Mapped[str] = mapped_column(String(255), default="main")
    head_commit: Mapped[str] = mapped_column(String(64))
    # "open" | "merged" | "closed"
    status: Mapped[str] = mapped_column(String(16), default="open")
    merge_commit: Mapped[str | None] = mapped_column(String(64))
    merged_by: Mapped[str | None] = mapped_column(String(255))
    closed_by: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str] = mapped_column(Text, default="")
    # [{"text": "...", "at": "<ISO time>"}, ...]
    comments: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("branch"),
        UniqueConstraint("host", "number"),
        Index(None, "incident_id"),
    )

    def __repr__(self) -> str:
        return (
            f"PullRequest(host={self.host!r}, number={self.number}, branch={self.branch!r}, "
            f"status={self.status!r})"
        )


class DriftScan(Base):
    """One drift scan (a `DriftScanWorkflow` run, kept across continue-as-new): its scope, when it
    ran and its totals. `running` until `finish_drift_scan`; a scan whose workflow failed stays
    `running`, and later scans never compare against it (see `store.drift`)."""

    __tablename__ = "drift_scan"

    # The scan id (the first run's workflow id).
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # "all" | "project:NAME" | "namespace:NAME"
    scope: Mapped[str] = mapped_column(String(300))
    # "running" | "finished"
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    apps_scanned: Mapped[int] = mapped_column(Integer, default=0)
    resources_scanned: Mapped[int] = mapped_column(Integer, default=0)
    drifted_apps: Mapped[int] = mapped_column(Integer, default=0)
    # ["<application>: <what failed>", ...]
    errors: Mapped[list[str]] = mapped_column(JsonDocument, default=list)

    findings: Mapped[list[DriftFinding]] = relationship(
        back_populates="scan",
        lazy="raise",
        order_by=lambda: [DriftFinding.app_key, DriftFinding.resource_key],
    )

    # "The latest (finished) scan of a scope" and "the scan before this one".
    __table_args__ = (Index(None, "scope", "started_at"),)

    def __repr__(self) -> str:
        return f"DriftScan(id={self.id!r}, scope={self.scope!r}, status={self.status!r})"


class DriftFinding(Base):
    """One drifted resource of one scan: what differs, what policy said, since when, and the
    incident that took it.

    `incident_id` is the drift incident's workflow id, deliberately not a foreign key: the scan
    records it when it starts the child workflow, before that workflow records its incident row.
    """

    __tablename__ = "drift_finding"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("drift_scan.id"))
    # "app namespace/application", or "unmanaged" for resources no Application manages.
    app_key: Mapped[str] = mapped_column(String(600))
    application: Mapped[str] = mapped_column(String(253), default="")
    app_namespace: Mapped[str] = mapped_column(String(253), default="")
    project: Mapped[str] = mapped_column(String(253), default="")
    # "namespace/Kind/name"
    resource_key: Mapped[str] = mapped_column(String(600))
    group: Mapped[str] = mapped_column(String(253), default="")
    kind: Mapped[str] = mapped_column(String(253))
    namespace: Mapped[str] = mapped_column(String(253), default="")
    name: Mapped[str] = mapped_column(String(253))
    # [{"path": "/spec/replicas", "desired": 3, "live": 5}, ...], values already redacted.
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)
    live_missing: Mapped[bool] = mapped_column(Boolean, default=False)
    # "sync" | "adopt" | "report"
    disposition: Mapped[str] = mapped_column(String(16), default="report")
    reason: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[datetime]
    incident_id: Mapped[str | None] = mapped_column(String(255))

    scan: Mapped[DriftScan] = relationship(back_populates="findings", lazy="raise")

    __table_args__ = (
        UniqueConstraint("scan_id", "app_key", "resource_key"),
        # The same resource in earlier scans (its drift history, the carried `first_seen_at`).
        Index(None, "app_key", "resource_key"),
    )

    def __repr__(self) -> str:
        return (
            f"DriftFinding(scan_id={self.scan_id!r}, app_key={self.app_key!r}, "
            f"resource_key={self.resource_key!r})"
        )


class ConsoleSessionGeneration(Base):
    """How many times a console user has logged out. A session cookie carries the generation it was
    issued in and is refused once the user's generation has moved on, so a logout ends the user's
    sessions on every gateway replica, not only in the browser that logged out.

    `user_name` is the console identity (a users-file name, or the token's user): sessions are ended
    per name, whichever way that name logged in.
    """

    __tablename__ = "console_session_generation"

    user_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"ConsoleSessionGeneration(user_name={self.user_name!r}, generation={self.generation!r})"


class IngestOutbox(Base):
    """An Alertmanager notification the gateway accepted while Temporal could not take it: kept
    until it is delivered to its group's workflow, then deleted (`store/outbox.py`).

    `id` is the arrival order; a group's entries are delivered oldest first, one at a time.
    `notification_id` is the request id its delivery carries, so that Temporal drops a second
    delivery of it. `body` is the redacted, fitted group as JSON (`AlertGroup`).
    """

    __tablename__ = "ingest_outbox"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(String(64), unique=True)
    workflow_id: Mapped[str] = mapped_column(String(255), index=True)
    received_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"IngestOutbox(id={self.id!r}, workflow_id={self.workflow_id!r})"


class ChangeReview(Base):
    """One reviewed head of a GitOps pull request (`workflows/review/`): the verdict in columns for
    lists and filters, the whole review in `report`.

    `key` is the review workflow's id, "@", and the head's sha, so reviewing a head again (a retry,
    a redelivered webhook) rewrites its row instead of adding one. `report` is JSON text: the
    review as `domain.review.render.to_json` gives it, and the Markdown parts of its comment.
    """

    __tablename__ = "change_review"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(255), index=True)
    # "github" | "gitlab" | "local"
    host: Mapped[str] = mapped_column(String(16))
    repository: Mapped[str] = mapped_column(Text)
    # 0: a branch of the local host
    number: Mapped[int] = mapped_column(Integer, default=0)
    head_ref: Mapped[str] = mapped_column(String(255))
    head_sha: Mapped[str] = mapped_column(String(64))
    base_sha: Mapped[str] = mapped_column(String(64), default="")
    # "reviewed" | "superseded" | "failed" | "no_applications"
    state: Mapped[str] = mapped_column(String(32))
    # "low" | "medium" | "high"
    risk: Mapped[str] = mapped_column(String(16), default="low")
    # "allow" | "warn" | "deny"
    decision: Mapped[str] = mapped_column(String(16), default="allow")
    monthly_delta_usd: Mapped[float] = mapped_column(Float, default=0.0)
    objects_changed: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"ChangeReview(key={self.key!r}, state={self.state!r}, decision={self.decision!r})"


class ReviewComment(Base):
    """One part of a review's comment on the local host, which has no forge to keep comments:
    part `part` (from 0) of the comment under `marker` on the review `workflow_id` (the target's
    `review_workflow_id`). GitHub's comments live on GitHub."""

    __tablename__ = "review_comment"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(255))
    marker: Mapped[str] = mapped_column(String(100))
    part: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("workflow_id", "marker", "part"),)

    def __repr__(self) -> str:
        return f"ReviewComment(workflow_id={self.workflow_id!r}, part={self.part!r})"


class CommitStatus(Base):
    """The local host's commit statuses: the last state of `context` (e.g. `medic/review`) on a
    commit of a repository, as GitHub keeps them per commit."""

    __tablename__ = "commit_status"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(1000))
    sha: Mapped[str] = mapped_column(String(64))
    context: Mapped[str] = mapped_column(String(255))
    # "pending" | "success" | "neutral" | "failure" | "error"
    state: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    target_url: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("repository", "sha", "context"),)

    def __repr__(self) -> str:
        return f"CommitStatus(sha={self.sha!r}, context={self.context!r}, state={self.state!r})"


class Deployment(Base):
    """One watch of a deploy: an Argo CD Application synced to a revision, watched by a
    `DeploymentWatchWorkflow` (`workflows/deploy/`) until a verdict.

    `watch_id` is the watch's workflow id (`domain.deploy.model.deploy_watch_id`), one per
    (Application, revision), so a notification delivered twice, or a deploy both notified and
    found by the poll, is one row. `figures` is JSON text: the signals sampled and the rule that
    decided. `incident_id` is the incident a degraded deploy opened, deliberately not a foreign
    key: the watch records it when it starts that incident, before its row exists.
    """

    __tablename__ = "deployment"

    watch_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    application: Mapped[str] = mapped_column(String(253))
    app_namespace: Mapped[str] = mapped_column(String(253), default="argocd")
    project: Mapped[str] = mapped_column(String(253), default="")
    revision: Mapped[str] = mapped_column(String(64))
    previous_revision: Mapped[str] = mapped_column(String(64), default="")
    # "notification" | "poll"
    source: Mapped[str] = mapped_column(String(32), default="notification")
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # "watching" | "verified" | "degraded" | "inconclusive" | "superseded"
    state: Mapped[str] = mapped_column(String(16), default="watching")
    summary: Mapped[str] = mapped_column(Text, default="")
    figures: Mapped[str] = mapped_column(Text, default="{}")
    incident_id: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # An Application's deploys, newest first (`medic deploys list --app`).
        Index(None, "application", "started_at"),
        Index(None, "started_at"),
    )

    def __repr__(self) -> str:
        return f"Deployment(watch_id={self.watch_id!r}, state={self.state!r})"
