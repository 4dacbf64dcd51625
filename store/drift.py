"""Drift reports: what each drift scan found, kept per scan (`DriftRepository`).

A scan records its drifted resources page by page (`record_findings`) and its totals at the end
(`finish_scan`); readers get a `DriftReport` per scan (`report`) or the latest per scope
(`latest_by_scope`, for the metrics).

Like `store.repositories`, the repository wraps the caller's session and never commits: the
activity commits once, at its boundary. Writes are `INSERT .. ON CONFLICT` on natural keys — the
scan id, and (scan_id, app_key, resource_key) for a finding — so a retried activity rewrites its
rows rather than adding them, also when two attempts race.

Since when a resource drifts (`first_seen_at`) is carried from scan to scan while the drift lasts:
a resource drifted in the latest earlier *finished* scan of the same scope keeps the first-seen
time recorded there; otherwise its drift starts with this scan. Unfinished scans (still running,
or whose workflow failed) are never compared against, since they may not have looked at every
Application; a resource whose Application could not be scanned (an error of the scan) starts
again at the next scan that sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from domain.drift.model import (
    AppDrift,
    DriftFinding,
    DriftFindingsInput,
    DriftReport,
    DriftScanFinished,
    FieldDrift,
    ResourceDrift,
)
from store.models import DriftFinding as DriftFindingRow
from store.models import DriftScan
from store.redaction import redacted_for_store
from store.repositories import _insert

RUNNING = "running"
FINISHED = "finished"

# Rows per INSERT and keys per IN list: far below PostgreSQL's 65,535 bind parameters and
# SQLite's 32,766, whatever a page of Applications holds.
_CHUNK = 500

_T = TypeVar("_T")

# Finding columns a retried write replaces; `first_seen_at` is kept as first written and
# `incident_id` is only ever set, never cleared (see `record_findings`).
_FINDING_CONTENT = (
    "application",
    "app_namespace",
    "project",
    "group",
    "kind",
    "namespace",
    "name",
    "fields",
    "live_missing",
    "disposition",
    "reason",
)


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _finding_rows(drifted: Iterable[AppDrift]) -> dict[tuple[str, str], dict[str, Any]]:
    """The rows of a page's drifted resources by (app_key, resource_key).

    A resource listed twice (`ResourceDrift.key` leaves out the API group, so a Service of two
    groups shares a key) is stored once, the last listing winning: one INSERT may not touch the
    same row twice.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for app in drifted:
        for resource in app.resources:
            rows[(app.key, resource.key)] = {
                "app_key": app.key,
                "application": app.application,
                "app_namespace": app.app_namespace,
                "project": app.project,
                "resource_key": resource.key,
                "group": resource.group,
                "kind": resource.kind,
                "namespace": resource.namespace,
                "name": resource.name,
                "fields": [f.model_dump(mode="json") for f in resource.fields],
                "live_missing": resource.live_missing,
                "disposition": app.disposition,
                "reason": app.reason,
            }
    return rows


def _finding_of(row: DriftFindingRow) -> DriftFinding:
    return DriftFinding(
        app_key=row.app_key,
        application=row.application,
        app_namespace=row.app_namespace,
        project=row.project,
        resource=ResourceDrift(
            group=row.group,
            kind=row.kind,
            namespace=row.namespace,
            name=row.name,
            fields=[FieldDrift.model_validate(f) for f in row.fields or []],
            live_missing=row.live_missing,
        ),
        disposition=row.disposition,
        reason=row.reason,
        first_seen=row.first_seen_at,
        incident_id=row.incident_id or "",
    )


def _report_of(
    scan: DriftScan, findings: Sequence[DriftFindingRow] = (), *, drifted_apps: int | None = None
) -> DriftReport:
    return DriftReport(
        scan_id=scan.id,
        scope=scan.scope,
        started_at=scan.started_at,
        finished_at=scan.finished_at,
        status=FINISHED if scan.status == FINISHED else RUNNING,
        apps_scanned=scan.apps_scanned,
        resources_scanned=scan.resources_scanned,
        drifted_apps=scan.drifted_apps if drifted_apps is None else drifted_apps,
        errors=list(scan.errors or []),
        findings=[_finding_of(f) for f in findings],
    )


class DriftRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- writes ------------------------------------------------------------------------------

    def record_findings(self, input: DriftFindingsInput) -> int:
        """Store one page's drifted resources in the report of `input.scan_id`; returns how many
        findings the page holds (the same number on a retry).

        Creates the scan as `running` if it is not recorded yet. A finding already recorded for
        the scan (a retry) gets the page's content again but keeps its `first_seen_at`. Then every
        finding of the scan whose Application is in `input.incidents` is linked to that incident.
        """
        scan = self._ensure_scan(input.scan_id, input.scope, input.started_at)
        rows = {
            key: {
                **row,
                "fields": redacted_for_store("drift_finding", "fields", row["fields"]),
                "reason": redacted_for_store("drift_finding", "reason", row["reason"]),
            }
            for key, row in _finding_rows(input.drifted).items()
        }
        if rows:
            carried = self._carried_first_seen(scan, list(rows))
            values = [
                {**row, "scan_id": scan.id, "first_seen_at": carried.get(key, scan.started_at)}
                for key, row in rows.items()
            ]
            for chunk in _chunks(values):
                stmt = _insert(self.session, DriftFindingRow).values(list(chunk))
                stmt = stmt.on_conflict_do_update(
                    index_elements=[
                        DriftFindingRow.scan_id,
                        DriftFindingRow.app_key,
                        DriftFindingRow.resource_key,
                    ],
                    set_={column: stmt.excluded[column] for column in _FINDING_CONTENT},
                )
                self.session.execute(stmt)
        self.link_incidents(scan.id, input.incidents)
        return len(rows)

    def link_incidents(self, scan_id: str, incidents: Mapping[str, str]) -> None:
        """Name the incident (workflow id) that took each Application's drift in this scan, by
        app key. An app without findings in the scan is ignored."""
        for app_key, incident_id in sorted(incidents.items()):
            if not incident_id:
                continue
            self.session.execute(
                update(DriftFindingRow)
                .where(DriftFindingRow.scan_id == scan_id, DriftFindingRow.app_key == app_key)
                .values(incident_id=incident_id),
                execution_options={"synchronize_session": False},
            )

    def finish_scan(self, input: DriftScanFinished) -> None:
        """Mark the scan finished with its totals and errors, recording the scan first if no page
        did (a scan that found no drift), and link the result's incidents as `record_findings`
        does. Idempotent: finishing a finished scan again writes the same values."""
        result = input.result
        values = {
            "scope": result.scope,
            "status": FINISHED,
            "started_at": input.started_at,
            "finished_at": input.finished_at,
            "apps_scanned": result.apps_scanned,
            "resources_scanned": result.resources_scanned,
            "drifted_apps": result.drifted_apps,
            "errors": redacted_for_store("drift_scan", "errors", list(result.errors)),
        }
        stmt = _insert(self.session, DriftScan).values(id=result.scan_id, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[DriftScan.id],
            # The start stays as first recorded; findings' first-seen times were taken from it.
            set_={key: stmt.excluded[key] for key in values if key not in ("scope", "started_at")},
        )
        self.session.execute(stmt)
        self.link_incidents(result.scan_id, result.incidents)

    # ---- reads -------------------------------------------------------------------------------

    def report(
        self, scan_id: str | None = None, scope: str | None = None, *, with_findings: bool = True
    ) -> DriftReport | None:
        """The report of scan `scan_id` (running or finished), else of the latest finished scan
        (of `scope` if given; the latest by start); None when there is no such scan.

        Findings are ordered by app key, then resource key; `with_findings=False` leaves them
        out. A running scan's `drifted_apps` counts the Applications recorded so far.
        """
        stmt = select(DriftScan)
        if scan_id is not None:
            stmt = stmt.where(DriftScan.id == scan_id)
        else:
            stmt = stmt.where(DriftScan.status == FINISHED)
        if scope is not None:
            stmt = stmt.where(DriftScan.scope == scope)
        scan = self.session.scalars(
            stmt.order_by(DriftScan.started_at.desc(), DriftScan.id.desc()).limit(1),
            execution_options={"populate_existing": True},
        ).one_or_none()
        if scan is None:
            return None
        findings: Sequence[DriftFindingRow] = ()
        if with_findings:
            findings = self.session.scalars(
                select(DriftFindingRow)
                .where(DriftFindingRow.scan_id == scan.id)
                .order_by(DriftFindingRow.app_key, DriftFindingRow.resource_key)
            ).all()
        drifted_apps = None
        if scan.status != FINISHED:
            drifted_apps = self.session.scalar(
                select(func.count(func.distinct(DriftFindingRow.app_key))).where(
                    DriftFindingRow.scan_id == scan.id
                )
            )
        return _report_of(scan, findings, drifted_apps=drifted_apps)

    def finding_count(self, scan_id: str) -> int:
        """How many drifted resources the scan has recorded."""
        count = self.session.scalar(
            select(func.count()).select_from(DriftFindingRow).where(DriftFindingRow.scan_id == scan_id)
        )
        return int(count or 0)

    def latest_by_scope(self) -> list[DriftReport]:
        """The latest finished scan of every scope (by start), without findings, ordered by scope."""
        return [report for report, _oldest in self.latest_with_oldest_drift()]

    def latest_with_oldest_drift(self) -> list[tuple[DriftReport, datetime | None]]:
        """`latest_by_scope`, each with the earliest `first_seen_at` of that scan's findings (since
        when its oldest still-present drift lasts), None when it found none."""
        ranked = select(
            DriftScan.id,
            func.row_number()
            .over(partition_by=DriftScan.scope, order_by=(DriftScan.started_at.desc(), DriftScan.id.desc()))
            .label("rank"),
        ).where(DriftScan.status == FINISHED)
        latest = ranked.subquery()
        oldest = (
            select(DriftFindingRow.scan_id, func.min(DriftFindingRow.first_seen_at).label("oldest"))
            .group_by(DriftFindingRow.scan_id)
            .subquery()
        )
        stmt = (
            select(DriftScan, oldest.c.oldest)
            .join(latest, and_(latest.c.id == DriftScan.id, latest.c.rank == 1))
            .outerjoin(oldest, oldest.c.scan_id == DriftScan.id)
            .order_by(DriftScan.scope)
        )
        rows = self.session.execute(stmt, execution_options={"populate_existing": True}).all()
        return [(_report_of(scan), oldest_at) for scan, oldest_at in rows]

    # ---- helpers -----------------------------------------------------------------------------

    def _ensure_scan(self, scan_id: str, scope: str, started_at: datetime) -> DriftScan:
        stmt = (
            _insert(self.session, DriftScan)
            .values(
                id=scan_id,
                scope=scope,
                status=RUNNING,
                started_at=started_at,
                apps_scanned=0,
                resources_scanned=0,
                drifted_apps=0,
                errors=[],
            )
            .on_conflict_do_nothing(index_elements=[DriftScan.id])
        )
        self.session.execute(stmt)
        return self.session.scalars(
            select(DriftScan).where(DriftScan.id == scan_id), execution_options={"populate_existing": True}
        ).one()

    def _previous_scan_id(self, scan: DriftScan) -> str | None:
        """The latest finished scan of the same scope that started before `scan`."""
        return self.session.scalar(
            select(DriftScan.id)
            .where(
                DriftScan.scope == scan.scope,
                DriftScan.status == FINISHED,
                DriftScan.id != scan.id,
                DriftScan.started_at < scan.started_at,
            )
            .order_by(DriftScan.started_at.desc(), DriftScan.id.desc())
            .limit(1)
        )

    def _carried_first_seen(
        self, scan: DriftScan, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], datetime]:
        """The first-seen times of `keys` (app_key, resource_key) that the previous scan of the
        scope also found drifted."""
        previous = self._previous_scan_id(scan)
        if previous is None:
            return {}
        wanted = set(keys)
        carried: dict[tuple[str, str], datetime] = {}
        # By Application (a page holds a few), then the resources picked out here.
        for chunk in _chunks(sorted({app_key for app_key, _ in keys})):
            rows = self.session.execute(
                select(
                    DriftFindingRow.app_key, DriftFindingRow.resource_key, DriftFindingRow.first_seen_at
                ).where(DriftFindingRow.scan_id == previous, DriftFindingRow.app_key.in_(chunk))
            ).all()
            carried.update(
                {(app, resource): seen for app, resource, seen in rows if (app, resource) in wanted}
            )
        return carried
