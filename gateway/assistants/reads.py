"""What an assistant may read: the console's own store reads (`gateway.console.ConsoleStore`, so the
same rows, the same redaction as the console's JSON API) and the drift report `medic drift report`
reads, each bounded so that one answer stays a few hundred kilobytes at most.

Blocking (SQLAlchemy): the tools call these on a thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.settings import Settings
from gateway.console import ConsoleStore
from integrations.temporal.incidents import workflow_id_of
from store.db import transaction
from store.drift import DriftRepository

# The newest timeline events an incident's answer carries (the audit trail tool pages the rest).
INCIDENT_TIMELINE = 100
MAX_INCIDENTS = 200
MAX_AUDIT_EVENTS = 500
MAX_DRIFT_FINDINGS = 500
MAX_REVIEWS_SEARCHED = 500


class NotFound(LookupError):
    """What was asked for is not in the store; the message says what."""


def jsonable(value: Any) -> Any:
    """Rows as JSON: timestamps as ISO 8601 text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class AssistantReads:
    """The store as an assistant reads it; the engine is made on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._console = ConsoleStore(settings)

    def incidents(self, *, status: str | None, namespace: str | None, limit: int) -> dict[str, Any]:
        size = max(1, min(limit, MAX_INCIDENTS))
        rows = self._console.incidents(status=status, namespace=namespace, risk=None, limit=size, offset=0)
        return jsonable({"incidents": rows, "limit": size})

    def incident(self, incident_id: str) -> dict[str, Any]:
        detail = self._console.incident(incident_id)
        if detail is None:
            raise NotFound(f"no incident {incident_id} in the store")
        body = detail.as_json()
        # The raw observation (pods, events, log excerpts) is what the evidence points into; the
        # diagnosis carries the evidence itself, which is what an assistant reasons over.
        body.pop("observation", None)
        diagnosis = body.get("diagnosis")
        body["evidence"] = diagnosis.get("evidence", []) if isinstance(diagnosis, dict) else []
        timeline = list(body.pop("audit", []))
        body["timeline"] = timeline[-INCIDENT_TIMELINE:]
        body["timeline_omitted"] = max(0, len(timeline) - INCIDENT_TIMELINE)
        body["workflow_id"] = workflow_id_of(incident_id)
        return jsonable(body)

    def audit(
        self,
        *,
        incident_id: str | None,
        step: str | None,
        status: str | None,
        actor: str | None,
        limit: int,
    ) -> dict[str, Any]:
        size = max(1, min(limit, MAX_AUDIT_EVENTS))
        events = self._console.audit(
            incident_id=incident_id, step=step, status=status, actor=actor, newest_first=True, limit=size
        )
        return jsonable({"events": events, "limit": size, "order": "newest first"})

    def drift_report(self, *, scan_id: str | None, scope: str | None, limit: int) -> dict[str, Any]:
        size = max(1, min(limit, MAX_DRIFT_FINDINGS))
        with transaction(self._console.sessions()) as session:
            report = DriftRepository(session).report(scan_id=scan_id, scope=scope)
        if report is None:
            if scan_id:
                raise NotFound(f"no drift scan {scan_id} in the store")
            raise NotFound("no drift scan has finished yet" + (f" for the scope {scope}" if scope else ""))
        body = report.model_dump(mode="json")
        findings = body.get("findings", [])
        body["findings"] = findings[:size]
        body["findings_total"] = len(findings)
        return body

    def review(self, *, key: str | None, repository: str | None, number: int | None) -> dict[str, Any]:
        if key:
            detail = self._console.review(key)
            if detail is None:
                raise NotFound(f"no change review {key} in the store")
            return jsonable(detail.as_json())
        if not repository or number is None:
            raise NotFound("name the review: its key, or the repository and the pull request's number")
        rows = self._console.reviews(
            repository=repository, decision=None, state=None, limit=MAX_REVIEWS_SEARCHED
        )
        newest = next((r for r in rows if r.get("number") == number), None)
        if newest is None:
            raise NotFound(f"no change review of {repository} pull request #{number} in the store")
        return self.review(key=str(newest["key"]), repository=None, number=None)
