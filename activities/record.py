"""Writing the incident row and its audit trail to the store.

Each activity is one transaction, committed at the activity boundary; each write is idempotent
(keyed by the workflow's own sequence number or natural key), so retries never duplicate rows.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.failures import store_failures
from domain.redaction.text import redact_json
from domain.steps.record import AuditInput, IncidentUpdate
from store.db import transaction
from store.repositories import AuditRepository, IncidentRepository


class RecordActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @activity.defn(name="record_incident")
    @store_failures
    def record_incident(self, update: IncidentUpdate) -> None:
        # Alert text and diagnoses can carry secrets pasted into logs or annotations.
        fields = redact_json(update.model_dump(exclude={"incident_id"}, exclude_none=True))
        with transaction(self._sessions) as session:
            IncidentRepository(session).upsert(update.incident_id, **fields)

    @activity.defn(name="record_audit")
    @store_failures
    def record_audit(self, event: AuditInput) -> None:
        with transaction(self._sessions) as session:
            AuditRepository(session).record(
                incident_id=event.incident_id,
                seq=event.seq,
                step=event.step,
                status=event.status,
                actor=event.actor,
                plan_hash=event.plan_hash,
                detail=redact_json(event.detail),
                duration_ms=event.duration_ms,
                occurred_at=event.occurred_at,
            )
