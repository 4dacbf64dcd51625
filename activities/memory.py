"""Recall past incidents before analysis; remember an incident when it closes.

Two activities, one read and one write, each one transaction committed at the activity boundary.
Remembering is an upsert keyed by the incident id, so a retried attempt writes the same row again.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import store_failures
from domain.incident.memory import IncidentMemory, RecallInput, RecallResult, RememberInput, recall_keys
from domain.redaction.objects import redacted
from store.db import transaction
from store.memory import MemoryRepository


class MemoryActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @activity.defn(name="recall_similar_incidents")
    @store_failures
    def recall_similar_incidents(self, input: RecallInput) -> RecallResult:
        """The past incidents most like this one (never itself), best first, with their outcomes."""
        keys = recall_keys(input.incident, input.observation)
        with transaction(self._sessions) as session:
            similar = MemoryRepository(session).similar(
                keys.query_text,
                alertname=keys.alertname,
                namespace=keys.namespace,
                workload=keys.workload,
                exclude_incident_id=input.incident.id,
                limit=input.limit,
            )
        return RecallResult(similar=similar)

    @activity.defn(name="remember_incident")
    @store_failures
    def remember_incident(self, input: RememberInput) -> None:
        """Store the memory of a closed incident. Its incident row must have been recorded first."""
        try:
            with transaction(self._sessions) as session:
                MemoryRepository(session).remember(_redacted(input.memory))
        except IntegrityError as exc:
            # The only constraint a valid memory can break is the foreign key to its incident:
            # the workflow did not record the incident first. Retrying cannot fix that.
            raise ApplicationError(
                f"no incident {input.memory.incident_id!r} to remember: record the incident first",
                type="IncidentNotRecorded",
                non_retryable=True,
            ) from exc


def _redacted(memory: IncidentMemory) -> IncidentMemory:
    """The memory as it may be stored and shown to later analyses: alert text can carry secrets."""
    return redacted(memory, text=("title", "summary", "reason", "signals"), json=("actions",))
