"""Deploys in the store: one `deployment` row per watch of an Application's revision.

A `DeploymentWatchWorkflow` records its deploy when it starts (`start`, an insert that a retried
activity, a second delivery of the notification or the poll finding the same deploy leaves as it
is) and its verdict when it ends (`finish`). Like `store.repositories`, the repository never
commits: the activity commits at its boundary.

The summary and the figures can hold what was read from Prometheus and the cluster (label
values, a workload's names): they are redacted again on their way in (`store.redaction`), the
figures value by value so that their JSON stays whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.models import Deployment, utcnow
from store.redaction import redacted_for_store
from store.repositories import _REFRESH, _insert, _jsonable

# The state of a watch in progress, and the verdicts it ends with.
WATCHING = "watching"
# a healthy verdict records the deploy as verified
VERDICTS: frozenset[str] = frozenset({"verified", "degraded", "inconclusive", "superseded"})
STATES: frozenset[str] = VERDICTS | {WATCHING}
# What `DeploymentRepository.start` takes besides the watch id.
DEPLOYMENT_FIELDS: frozenset[str] = frozenset(
    {"application", "app_namespace", "project", "revision", "previous_revision", "source", "started_at"}
)
_REQUIRED = frozenset({"application", "revision"})


def deployment_fields(row: Deployment) -> dict[str, Any]:
    """A `deployment` row's columns as plain values (figures apart: `figures_of` reads them)."""
    return {
        "watch_id": row.watch_id,
        "application": row.application,
        "app_namespace": row.app_namespace,
        "project": row.project,
        "revision": row.revision,
        "previous_revision": row.previous_revision,
        "source": row.source,
        "state": row.state,
        "summary": row.summary,
        "incident_id": row.incident_id,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "updated_at": row.updated_at,
    }


def figures_of(row: Deployment) -> dict[str, Any]:
    """The watch's figures, decoded from their JSON text."""
    decoded = json.loads(row.figures or "{}")
    return decoded if isinstance(decoded, dict) else {}


def _figures_text(figures: Any) -> str:
    document = json.loads(figures) if isinstance(figures, str) else _jsonable(figures)
    return json.dumps(redacted_for_store("deployment", "figures", document), ensure_ascii=False)


class DeploymentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def start(self, watch_id: str, **fields: Any) -> Deployment:
        """Record the deploy `watch_id` watches (`application` and `revision` at least; the others
        of `DEPLOYMENT_FIELDS` default to "", "argocd", "notification" and now), state `watching`.
        A row already there is left exactly as it is and returned: a retry, a redelivery or a
        second starter never resets a watch, nor one that has finished."""
        unknown = set(fields) - DEPLOYMENT_FIELDS
        if unknown:
            raise TypeError(f"not a deployment field: {', '.join(sorted(unknown))}")
        missing = _REQUIRED - {name for name, value in fields.items() if value}
        if missing:
            raise TypeError(f"a deployment needs {', '.join(sorted(missing))}")
        now = utcnow()
        values = {"started_at": now, **fields}
        stmt = _insert(self.session, Deployment).values(
            watch_id=watch_id, state=WATCHING, summary="", figures="{}", updated_at=now, **values
        )
        self.session.execute(stmt.on_conflict_do_nothing(index_elements=[Deployment.watch_id]))
        row = self.get(watch_id)
        assert row is not None  # inserted now, or there already
        return row

    def planned(self, watch_id: str, figures: Any) -> Deployment | None:
        """Record what the plan chose to watch and why (`figures`, merged into the row's) while the
        watch is `watching`; the verdict's figures (`finish`) keep them. None if there is no such
        watch in progress."""
        row = self.get(watch_id)
        if row is None or row.state != WATCHING:
            return None
        merged = {**figures_of(row), **json.loads(_figures_text(figures))}
        row.figures = json.dumps(merged, ensure_ascii=False)
        row.updated_at = utcnow()
        self.session.flush()
        return row

    def finish(
        self,
        watch_id: str,
        state: str,
        summary: str,
        figures: Any,
        *,
        incident_id: str | None = None,
        finished_at: datetime | None = None,
    ) -> Deployment | None:
        """Record the watch's verdict (`state`: verified, degraded, inconclusive or superseded), its
        one-line `summary` and its `figures` (a mapping, a pydantic model or JSON text), and the
        incident it opened; None if there is no such watch. Written again by a retry with the
        same values; `finished_at` defaults to now."""
        if state not in VERDICTS:
            raise ValueError(f"not a deploy verdict: {state!r} (one of {', '.join(sorted(VERDICTS))})")
        row = self.get(watch_id)
        if row is None:
            return None
        # what the plan recorded (`planned`) stays, under the verdict's figures
        merged = {**figures_of(row), **json.loads(_figures_text(figures))}
        now = utcnow()
        values: dict[str, Any] = {
            "state": state,
            "summary": redacted_for_store("deployment", "summary", summary),
            "figures": json.dumps(merged, ensure_ascii=False),
            "finished_at": finished_at or now,
            "updated_at": now,
        }
        if incident_id is not None:
            values["incident_id"] = incident_id
        stmt = (
            update(Deployment).where(Deployment.watch_id == watch_id).values(**values).returning(Deployment)
        )
        return self.session.scalars(
            stmt, execution_options={**_REFRESH, "synchronize_session": False}
        ).one_or_none()

    def get(self, watch_id: str) -> Deployment | None:
        return self.session.scalars(
            select(Deployment).where(Deployment.watch_id == watch_id), execution_options=_REFRESH
        ).one_or_none()

    def list(
        self, *, application: str | None = None, state: str | None = None, limit: int = 50
    ) -> Sequence[Deployment]:
        """Deploys matching every filter given, newest first."""
        stmt = select(Deployment)
        if application is not None:
            stmt = stmt.where(Deployment.application == application)
        if state is not None:
            stmt = stmt.where(Deployment.state == state)
        stmt = stmt.order_by(Deployment.started_at.desc(), Deployment.watch_id.desc()).limit(limit)
        return self.session.scalars(stmt, execution_options=_REFRESH).all()


__all__ = ["DEPLOYMENT_FIELDS", "STATES", "VERDICTS", "WATCHING", "DeploymentRepository", "figures_of"]
