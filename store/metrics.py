"""Incident, drift and deploy-watch metrics, read from the store when Prometheus scrapes.

Nothing is counted in memory: every number comes from the rows the workflows wrote, so the
figures are the same whichever process serves them, survive restarts, and a retried activity
(which writes the same row again) cannot count twice.

`MetricsRepository` holds the queries and returns plain numbers; `StoreCollector` turns them into
Prometheus families on each scrape.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from domain.drift.model import DriftReport
from domain.incident.reason import MODEL_UNUSABLE_WINDOW
from store.deployments import VERDICTS
from store.drift import DriftRepository
from store.models import AuditEvent, Deployment, Incident, utcnow
from store.repositories import IncidentRepository

log = logging.getLogger("medic.metrics")

AWAITING_APPROVAL = "awaiting_approval"
DECISION_STEP = "decision"

# Seconds. Decisions are human: minutes to hours (the default approval timeout is 4 h).
DECISION_BUCKETS: tuple[float, ...] = (30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400)
# Seconds from the first notification to a verified fix.
RESOLVE_BUCKETS: tuple[float, ...] = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)
# Seconds from a deploy's sync to its watch's verdict: the analysis window is ten minutes by default.
DEPLOY_WATCH_BUCKETS: tuple[float, ...] = (60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)


@dataclass(frozen=True)
class PendingApprovals:
    count: int
    # When the oldest pending incident started waiting; None when nothing is pending.
    oldest_since: datetime | None


@dataclass(frozen=True)
class ScopeDrift:
    """The latest finished drift scan of one scope (without findings), and since when the oldest
    drift it found has lasted (None when it found none)."""

    scan: DriftReport
    oldest_since: datetime | None


@dataclass
class Histogram:
    """Observations bucketed Prometheus-style: cumulative counts per upper bound, plus +Inf."""

    bounds: Sequence[float]
    observations: list[float] = field(default_factory=list)

    def buckets(self) -> list[tuple[str, float]]:
        counts = [(str(float(b)), float(sum(1 for v in self.observations if v <= b))) for b in self.bounds]
        return [*counts, ("+Inf", float(len(self.observations)))]

    @property
    def sum(self) -> float:
        return float(sum(self.observations))


class MetricsRepository:
    """Read-only aggregate queries over incidents and their audit trail."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def closed_incidents(self) -> dict[tuple[str, str], int]:
        """Incidents with an outcome, counted by (source, outcome)."""
        rows = self.session.execute(
            select(Incident.source, Incident.outcome, func.count())
            .where(Incident.outcome.is_not(None))
            .group_by(Incident.source, Incident.outcome)
        ).all()
        return {(source, outcome or ""): count for source, outcome, count in rows}

    def open_incidents(self) -> dict[str, int]:
        """Incidents without an outcome yet, counted by their current step."""
        rows = self.session.execute(
            select(Incident.status, func.count()).where(Incident.outcome.is_(None)).group_by(Incident.status)
        ).all()
        return {status: count for status, count in rows}

    def pending_approvals(self) -> PendingApprovals:
        """Open incidents waiting for a decision, and since when the oldest of them has waited.

        An incident waits since its latest `awaiting_approval/started` event, or, without one, since
        its row was last updated (which is when its status became `awaiting_approval`).
        """
        started = (
            select(AuditEvent.incident_id, func.max(AuditEvent.occurred_at).label("since"))
            .where(AuditEvent.step == AWAITING_APPROVAL, AuditEvent.status == "started")
            .group_by(AuditEvent.incident_id)
            .subquery()
        )
        rows = self.session.execute(
            select(Incident.updated_at, started.c.since)
            .outerjoin(started, started.c.incident_id == Incident.id)
            .where(Incident.status == AWAITING_APPROVAL, Incident.outcome.is_(None))
        ).all()
        since = [s if s is not None else updated for updated, s in rows]
        return PendingApprovals(count=len(rows), oldest_since=min(since) if since else None)

    def decision_seconds(self) -> list[float]:
        """For every approval wait that got a decision: seconds from the wait's start to the first
        decision (approve or reject) recorded after it. Waits that expired or are still open are
        not included."""
        rows = self.session.execute(
            select(AuditEvent.incident_id, AuditEvent.seq, AuditEvent.step, AuditEvent.occurred_at)
            .where(
                ((AuditEvent.step == AWAITING_APPROVAL) & (AuditEvent.status == "started"))
                | (AuditEvent.step == DECISION_STEP)
            )
            .order_by(AuditEvent.incident_id, AuditEvent.seq)
        ).all()
        durations: list[float] = []
        waiting: tuple[str, datetime] | None = None
        for incident_id, _seq, step, occurred_at in rows:
            if step == AWAITING_APPROVAL:
                waiting = (incident_id, occurred_at)
            elif waiting is not None and waiting[0] == incident_id:
                durations.append(max((occurred_at - waiting[1]).total_seconds(), 0.0))
                waiting = None
        return durations

    def resolve_seconds(self) -> list[float]:
        """Seconds from creation to close of every incident whose outcome is `resolved`."""
        rows = self.session.execute(
            select(Incident.created_at, Incident.closed_at).where(
                Incident.outcome == "resolved", Incident.closed_at.is_not(None)
            )
        ).all()
        return [
            max((closed - created).total_seconds(), 0.0) for created, closed in rows if closed is not None
        ]

    def activity_failures(self) -> dict[tuple[str, str], int]:
        """Failed steps counted by (step, error type); a failure without a type counts as `unknown`."""
        rows = self.session.execute(
            select(AuditEvent.step, AuditEvent.detail).where(AuditEvent.status == "failed")
        ).all()
        counts: Counter[tuple[str, str]] = Counter()
        for step, detail in rows:
            kind = detail.get("type") if isinstance(detail, dict) else None
            counts[(step, str(kind) if kind else "unknown")] += 1
        return dict(counts)

    def model_fallbacks(self) -> int:
        """Incidents whose analysis found the model unusable and fell back to the offline rules."""
        return int(
            self.session.scalar(
                select(func.count()).select_from(Incident).where(Incident.model_unusable.is_not(None))
            )
            or 0
        )

    def model_unusable_now(self) -> bool:
        """Whether the latest analysis within `MODEL_UNUSABLE_WINDOW` found the model unusable."""
        since = utcnow() - MODEL_UNUSABLE_WINDOW
        return IncidentRepository(self.session).model_unusable_since(since) is not None

    def deploy_verdicts(self) -> dict[str, int]:
        """Finished deploy watches, counted by verdict (every verdict there, zero or not)."""
        rows = self.session.execute(
            select(Deployment.state, func.count())
            .where(Deployment.state.in_(sorted(VERDICTS)))
            .group_by(Deployment.state)
        ).all()
        return {verdict: 0 for verdict in VERDICTS} | {state: count for state, count in rows}

    def deploy_watch_seconds(self) -> list[float]:
        """Seconds from the start to the verdict of every finished deploy watch."""
        rows = self.session.execute(
            select(Deployment.started_at, Deployment.finished_at).where(
                Deployment.state.in_(sorted(VERDICTS)), Deployment.finished_at.is_not(None)
            )
        ).all()
        return [max((end - start).total_seconds(), 0.0) for start, end in rows if end is not None]

    def drift_by_scope(self) -> list[ScopeDrift]:
        """The latest finished drift scan of every scope, ordered by scope."""
        return [
            ScopeDrift(scan=scan, oldest_since=oldest)
            for scan, oldest in DriftRepository(self.session).latest_with_oldest_drift()
        ]


def _histogram(
    name: str, doc: str, values: Iterable[float], bounds: Sequence[float]
) -> HistogramMetricFamily:
    hist = Histogram(bounds, list(values))
    return HistogramMetricFamily(name, doc, buckets=hist.buckets(), sum_value=hist.sum, unit="seconds")


class StoreCollector(Collector):
    """Prometheus families computed from the store on every scrape.

    A store that cannot be read yields only `medic_store_up 0`, so the scrape itself still works
    and the failure is visible as a metric and in the log.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self) -> list[Metric]:
        # Nothing up front: registering must not query the database.
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            families = self._families()
        except Exception:  # the scrape must answer even when the database does not
            log.exception("cannot read the incident store for metrics")
            families = []
            up = 0.0
        else:
            up = 1.0
        yield GaugeMetricFamily("medic_store_up", "Whether the incident store could be read.", value=up)
        yield from families

    def _families(self) -> list[Metric]:
        with self._sessions() as session:
            repo = MetricsRepository(session)
            closed = repo.closed_incidents()
            open_ = repo.open_incidents()
            pending = repo.pending_approvals()
            decisions = repo.decision_seconds()
            resolves = repo.resolve_seconds()
            failures = repo.activity_failures()
            fallbacks = repo.model_fallbacks()
            unusable = repo.model_unusable_now()
            drift = repo.drift_by_scope()
            deploys = repo.deploy_verdicts()
            watches = repo.deploy_watch_seconds()

        incidents = CounterMetricFamily(
            "medic_incidents", "Closed incidents by source and outcome.", labels=["source", "outcome"]
        )
        for (source, outcome), count in sorted(closed.items()):
            incidents.add_metric([source, outcome], count)

        opened = GaugeMetricFamily(
            "medic_incidents_open", "Incidents without an outcome yet, by current step.", labels=["status"]
        )
        for status, count in sorted(open_.items()):
            opened.add_metric([status], count)

        age = 0.0
        if pending.oldest_since is not None:
            age = max((utcnow() - pending.oldest_since).total_seconds(), 0.0)

        failed = CounterMetricFamily(
            "medic_activity_failures",
            "Failed workflow steps by step and error type (from the audit trail).",
            labels=["step", "type"],
        )
        for (step, kind), count in sorted(failures.items()):
            failed.add_metric([step, kind], count)

        return [
            incidents,
            opened,
            GaugeMetricFamily(
                "medic_approvals_pending", "Open incidents waiting for an approval.", value=pending.count
            ),
            GaugeMetricFamily(
                "medic_approval_pending_age_seconds",
                "How long the oldest pending approval has waited (0 when none is pending).",
                value=age,
            ),
            _histogram(
                "medic_time_to_decision_seconds",
                "From the start of an approval wait to the first decision on it.",
                decisions,
                DECISION_BUCKETS,
            ),
            _histogram(
                "medic_time_to_resolve_seconds",
                "From incident creation to close, for incidents resolved (MTTR).",
                resolves,
                RESOLVE_BUCKETS,
            ),
            failed,
            CounterMetricFamily(
                "medic_model_fallbacks",
                "Analyses that found the model unusable (a refused key, an exhausted quota, an outage) "
                "and fell back to the offline rules.",
                value=fallbacks,
            ),
            GaugeMetricFamily(
                "medic_model_unusable",
                "1 while the latest analysis (within the last hour) found the model unusable, else 0.",
                value=1.0 if unusable else 0.0,
            ),
            *_drift_families(drift),
            *_deploy_families(deploys, watches),
        ]


def _deploy_families(verdicts: dict[str, int], seconds: Sequence[float]) -> list[Metric]:
    deploys = CounterMetricFamily("medic_deploys", "Deploy watches finished, by verdict.", labels=["verdict"])
    for verdict, count in sorted(verdicts.items()):
        deploys.add_metric([verdict], count)
    return [
        deploys,
        _histogram(
            "medic_deploy_watch_duration_seconds",
            "From the start of a deploy watch to its verdict.",
            seconds,
            DEPLOY_WATCH_BUCKETS,
        ),
    ]


def _drift_families(scopes: Sequence[ScopeDrift]) -> list[Metric]:
    """Per scope (`all`, `project:NAME`, `namespace:NAME`), from its latest finished scan. A scope
    without a finished scan has no samples; the families are always there."""
    now = utcnow()
    applications = GaugeMetricFamily(
        "medic_drift_applications",
        "Applications drifted from Git in the latest finished drift scan, by scope.",
        labels=["scope"],
    )
    oldest = GaugeMetricFamily(
        "medic_drift_oldest_seconds",
        "How long the oldest drift found by the latest finished scan has lasted, by scope (0 when none).",
        labels=["scope"],
    )
    duration = GaugeMetricFamily(
        "medic_drift_scan_duration_seconds",
        "How long the latest finished drift scan took, by scope.",
        labels=["scope"],
    )
    scanned = GaugeMetricFamily(
        "medic_drift_resources_scanned",
        "Resources compared with Git by the latest finished drift scan, by scope.",
        labels=["scope"],
    )
    last = GaugeMetricFamily(
        "medic_drift_last_scan_timestamp_seconds",
        "When the latest finished drift scan of a scope finished (Unix time).",
        labels=["scope"],
    )
    for entry in scopes:
        scan, label = entry.scan, [entry.scan.scope]
        finished_at = scan.finished_at or scan.started_at
        applications.add_metric(label, scan.drifted_apps)
        age = 0.0
        if entry.oldest_since is not None:
            age = max((now - entry.oldest_since).total_seconds(), 0.0)
        oldest.add_metric(label, age)
        duration.add_metric(label, max((finished_at - scan.started_at).total_seconds(), 0.0))
        scanned.add_metric(label, scan.resources_scanned)
        last.add_metric(label, finished_at.timestamp())
    return [applications, oldest, duration, scanned, last]
