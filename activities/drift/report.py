"""Writing a drift scan's report to the store: its findings page by page, its totals at the end.

Each activity is one transaction, committed at the activity boundary, and idempotent (findings
are keyed by scan, Application and resource; the scan by its id), so a retry writes nothing twice.
Both are sync activities: the database clients block.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.failures import store_failures
from domain.drift.model import DriftFindingsInput, DriftReport, DriftScanFinished
from domain.redaction.objects import redact_app_drift
from domain.redaction.text import redact_text
from store.db import transaction
from store.drift import DriftRepository

# A finished scan's report comes back with its findings only up to this many: every activity
# result is kept in the workflow history, whose events Temporal limits in size. A larger report
# comes back without findings; read them from the store (`DriftRepository.report`).
REPORT_FINDINGS_LIMIT = 200


class DriftReportActivities:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @activity.defn(name="record_drift_findings")
    @store_failures
    def record_drift_findings(self, input: DriftFindingsInput) -> int:
        """Add one page's drifted resources to the scan's report (creating the scan as running);
        returns how many findings the page holds. Field values are redacted before they are
        stored: live ConfigMaps and env values can carry secrets."""
        redacted = input.model_copy(update={"drifted": [redact_app_drift(app) for app in input.drifted]})
        with transaction(self._sessions) as session:
            return DriftRepository(session).record_findings(redacted)

    @activity.defn(name="finish_drift_scan")
    @store_failures
    def finish_drift_scan(self, input: DriftScanFinished) -> DriftReport:
        """Mark the scan finished with its totals; returns its report, with the findings only when
        there are at most `REPORT_FINDINGS_LIMIT` of them (else `findings` is empty: read the
        report from the store, e.g. `medic drift report`)."""
        finished = input.model_copy(
            update={
                "result": input.result.model_copy(
                    update={"errors": [redact_text(e) for e in input.result.errors]}
                )
            }
        )
        with transaction(self._sessions) as session:
            repo = DriftRepository(session)
            repo.finish_scan(finished)
            scan_id = input.result.scan_id
            with_findings = repo.finding_count(scan_id) <= REPORT_FINDINGS_LIMIT
            report = repo.report(scan_id, with_findings=with_findings)
        if report is None:  # pragma: no cover - finish_scan has just written it
            raise RuntimeError(f"drift scan {scan_id} was finished but cannot be read")
        return report
