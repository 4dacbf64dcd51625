"""The fallback poll of Argo CD's sync histories: the deploys a lost notification would miss.

Every few minutes (a Temporal Schedule, `medic schedules apply`) `DeployPollWorkflow` reads each
Application's `status.history` and starts the watch of its latest deploy when that deploy
finished within the lookback window. The watch id is the notification's (`deploy_watch_id`), so a
deploy both sighted is watched once. `recent_deploys` is the pure part: which history entries are
deploys to watch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from domain.base import Frozen
from domain.deploy.model import DEFAULT_APP_NAMESPACE, DeployEvent

__all__ = [
    "DEFAULT_LOOKBACK_SECONDS",
    "DeployPollInput",
    "DeployPollPage",
    "DeployPollResult",
    "RecentDeploys",
    "recent_deploys",
]

# A bit more than the default poll interval (5 minutes): a poll that ran late, or was skipped
# because the previous one overlapped it, still sees the deploys since the one before.
DEFAULT_LOOKBACK_SECONDS = 900
# Deploys per page of the listing: each event is a few hundred bytes, so a page stays far below
# Temporal's payload limit however many Applications the estate has.
DEFAULT_PAGE_SIZE = 200


class DeployPollInput(Frozen):
    """One poll: the deploys that finished in the `lookback_seconds` before it ran."""

    lookback_seconds: int = Field(default=DEFAULT_LOOKBACK_SECONDS, gt=0)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, gt=0, le=1000)


class DeployPollPage(Frozen):
    """A page of the deploys that finished at or after `since`: the `limit` from `offset` on, in
    the order `recent_deploys` gives (stable between pages of one poll)."""

    since: datetime
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=DEFAULT_PAGE_SIZE, gt=0)
    delivery: str = ""


class RecentDeploys(Frozen):
    """A page of deploys to watch; `next_offset` None when it was the last page. `watch_off`: the
    deploy watch is off (MEDIC_DEPLOY_WATCH=false), and nothing was listed."""

    events: list[DeployEvent] = []
    next_offset: int | None = None
    applications: int = 0
    watch_off: bool = False


class DeployPollResult(Frozen):
    """What one poll did: the watches it `started` (their ids), how many deploys were
    `already_watched` (their notification, or an earlier poll, had started the watch), and a note
    when it started nothing on purpose."""

    started: list[str] = []
    already_watched: int = 0
    applications: int = 0
    note: str = ""


def _parse_time(text: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _revision(entry: dict[str, Any]) -> str:
    # A multi-source Application's deploy is named by its first source's revision, as Argo CD
    # Notifications' `app.status.operationState.syncResult.revisions[0]` names it: both sightings
    # must give the same watch id.
    revisions = [str(r) for r in entry.get("revisions") or [] if r]
    return str(entry.get("revision") or "") or (revisions[0] if revisions else "")


def _entry_id(indexed: tuple[int, dict[str, Any]]) -> tuple[int, int]:
    index, entry = indexed
    try:
        return int(str(entry.get("id"))), index
    except (TypeError, ValueError):
        return -1, index


def recent_deploys(
    applications: list[dict[str, Any]], since: datetime, *, delivery: str = "", cluster: str = ""
) -> list[DeployEvent]:
    """Each Application's latest sync-history entry whose `deployedAt` is at or after `since`, as
    a `DeployEvent` (source "poll", `previous_revision` the entry before it, `synced_at` its
    `deployedAt`), sorted by (app namespace, name).

    Only the latest entry is watched: an older one within the window was superseded by it, and a
    watch of a superseded revision would stop at its first sample anyway. An Application never
    synced (no history), or whose latest entry has no revision or no readable time, gives none.
    `cluster` is the watching medic's cluster name (its watch ids carry it).
    """
    events: list[DeployEvent] = []
    for app in applications:
        meta, spec = app.get("metadata") or {}, app.get("spec") or {}
        history = [e for e in (app.get("status") or {}).get("history") or [] if isinstance(e, dict)]
        name = str(meta.get("name") or "")
        if not history or not name:
            continue
        # Argo CD appends (oldest first) with increasing ids; order by id, then position.
        ordered = [entry for _, entry in sorted(enumerate(history), key=_entry_id)]
        latest = ordered[-1]
        deployed_at = _parse_time(latest.get("deployedAt"))
        revision = _revision(latest)
        if deployed_at is None or not revision or deployed_at < since:
            continue
        previous = _revision(ordered[-2]) if len(ordered) > 1 else ""
        events.append(
            DeployEvent(
                application=name,
                app_namespace=str(meta.get("namespace") or DEFAULT_APP_NAMESPACE),
                project=str(spec.get("project") or "default"),
                revision=revision,
                previous_revision=previous,
                synced_at=deployed_at,
                source="poll",
                delivery=delivery,
                cluster=cluster,
            )
        )
    return sorted(events, key=lambda e: (e.app_namespace, e.application))
