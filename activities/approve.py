"""Approve: a decision on a plan, kept in the store (who, approve or reject, why, through which
channel, bound to which plan hash). Which decisions count is the workflow's call
(`workflows/remediation/approval.py`); this records the ones it took, once each: the store's key is
(incident, approver, plan hash), so a retry writes nothing twice.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.failures import store_failures
from domain.redaction.text import redact_text
from domain.steps.record import ApprovalRecord
from store.db import transaction
from store.repositories import ApprovalRepository


class ApproveActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @activity.defn(name="record_approval")
    @store_failures
    def record_approval(self, record: ApprovalRecord) -> None:
        a = record.approval
        with transaction(self._sessions) as session:
            ApprovalRepository(session).record(
                incident_id=record.incident_id,
                approver=a.approver,
                decision=a.decision,
                reason=redact_text(a.reason),
                plan_hash=a.plan_hash,
                via=a.via,
                decided_at=a.at,
            )
