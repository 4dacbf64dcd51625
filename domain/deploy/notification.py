"""The notification Argo CD Notifications posts to medic when an Application has synced a revision.

medic asks for one JSON body (`NOTIFICATION_BODY`, the `template.medic-deploy` of the
`argocd-notifications-cm` snippet in the README) and reads it here, strictly: a body that does
not name an Application and a git commit is refused with one line saying why, and a sync that did
not succeed is not a deploy (`DeployIgnored`). Argo CD renders the template with Go's
text/template, which prints `<no value>` for a field the Application does not have (a
multi-source Application has `syncResult.revisions`, not `revision`): such a value counts as
absent. Of a multi-source sync's revisions the first git commit is the deploy's; chart versions
are not commits.

Pure: no I/O. `domain.deploy.model.deploy_watch_id` names the one watch of an (Application,
revision), whoever starts it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from domain.base import Frozen
from domain.deploy.model import DEFAULT_APP_NAMESPACE

# A git commit as Argo CD records it: abbreviated (7) to full SHA-1 (40) hex.
_SHA = re.compile(r"[0-9a-f]{7,40}")
# What Go's text/template prints for a missing map key.
_NO_VALUE = "<no value>"
# Names Kubernetes allows (DNS subdomains): what an Application and its namespace are called.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")

# The JSON body medic asks Argo CD Notifications to post (the webhook template's `body`).
# `previousRevision` is the revision history's entry before the last one (Argo CD appends the
# deploy itself before the operation reads Succeeded); `with`/`if` keep a first deploy's template
# from failing on a history of fewer than two entries.
_PREVIOUS = (
    "{{with .app.status.history}}{{if gt (len .) 1}}{{(index . (sub (len .) 2)).revision}}{{end}}{{end}}"
)
NOTIFICATION_BODY = """\
{
  "application": "{{.app.metadata.name}}",
  "namespace": "{{.app.metadata.namespace}}",
  "project": "{{.app.spec.project}}",
  "revision": "{{.app.status.operationState.syncResult.revision}}",
  "revisions": {{toJson .app.status.operationState.syncResult.revisions}},
  "previousRevision": "PREVIOUS",
  "syncedAt": "{{.app.status.operationState.finishedAt}}",
  "phase": "{{.app.status.operationState.phase}}",
  "health": "{{.app.status.health.status}}"
}""".replace("PREVIOUS", _PREVIOUS)


class NotificationInvalid(ValueError):
    """The body is not a deploy notification medic can act on; the message is one line."""


class DeployIgnored(Exception):
    """A well-formed notification of something that is not a deploy (a sync that did not
    succeed); the message is one line starting "ignored: "."""


class DeployNotice(Frozen):
    """One Application synced to one revision, as its notification told it."""

    application: str
    # The Application's own namespace ("argocd" unless Applications live in other namespaces).
    app_namespace: str = DEFAULT_APP_NAMESPACE
    project: str = ""
    # The git commit synced (lower-case hex, 7 to 40 characters).
    revision: str
    previous_revision: str = ""
    synced_at: datetime | None = None
    # Argo CD's health of the Application when the notification was sent ("" when not told).
    health: str = ""


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", _NO_VALUE))


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    application: str = ""
    namespace: str = ""
    project: str = ""
    revision: str = ""
    revisions: list[str] | None = None
    previousRevision: str = ""
    syncedAt: str = ""
    phase: str = ""
    health: str = ""

    @field_validator(
        "application",
        "namespace",
        "project",
        "revision",
        "previousRevision",
        "syncedAt",
        "phase",
        "health",
        mode="before",
    )
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if _absent(value) else value.strip() if isinstance(value, str) else value

    @field_validator("revisions", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return None if _absent(value) else value


def _clip(text: str, limit: int = 80) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _revision(body: _Body) -> str:
    if body.revision:
        candidate = body.revision.lower()
        if not _SHA.fullmatch(candidate):
            raise NotificationInvalid(
                f"revision {_clip(body.revision)!r} is not a git commit (7 to 40 hex characters)"
            )
        return candidate
    shas = [r.strip().lower() for r in body.revisions or [] if _SHA.fullmatch(r.strip().lower())]
    if shas:
        return shas[0]
    if body.revisions:
        listed = ", ".join(_clip(r, 40) for r in body.revisions[:3])
        raise NotificationInvalid(
            f"no revision of the sync is a git commit (7 to 40 hex characters): {listed}"
        )
    raise NotificationInvalid("the notification names no revision (syncResult.revision or revisions)")


def _synced_at(text: str) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NotificationInvalid(f"syncedAt {_clip(text)!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise NotificationInvalid(f"syncedAt {_clip(text)!r} has no time zone")
    return when


def parse_deploy_notification(body: bytes) -> DeployNotice:
    """The deploy `body` tells of, or `NotificationInvalid` (not JSON, not an object, no
    Application, no git commit, a bad time) or `DeployIgnored` (the sync's phase is not
    Succeeded), each with a one-line message. Unknown fields are ignored."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise NotificationInvalid(f"body is not JSON: {_clip(str(err))}") from None
    return notice_from_document(document)


def notice_from_document(document: Any) -> DeployNotice:
    """`parse_deploy_notification` of a body already parsed (the gateway parses bodies strictly
    itself, `gateway/bodies.py`)."""
    if not isinstance(document, dict):
        raise NotificationInvalid("body must be a JSON object (medic's Argo CD notification template)")
    try:
        parsed = _Body.model_validate(document)
    except ValidationError as err:
        first = err.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise NotificationInvalid(f"{where}: {_clip(first['msg'])}") from None
    if not parsed.application:
        raise NotificationInvalid("the notification names no application")
    for label, value in (("application", parsed.application), ("namespace", parsed.namespace)):
        if value and not _NAME.fullmatch(value):
            raise NotificationInvalid(f"{label} {_clip(value)!r} is not a Kubernetes name")
    if parsed.phase != "Succeeded":
        phase = parsed.phase or "(none)"
        raise DeployIgnored(
            f"ignored: the sync of {parsed.application} is {phase}, not Succeeded: not a deploy"
        )
    revision = _revision(parsed)
    previous = parsed.previousRevision.lower()
    return DeployNotice(
        application=parsed.application,
        app_namespace=parsed.namespace or DEFAULT_APP_NAMESPACE,
        project=parsed.project,
        revision=revision,
        previous_revision=previous if _SHA.fullmatch(previous) else "",
        synced_at=_synced_at(parsed.syncedAt),
        health=parsed.health,
    )


__all__ = [
    "DEFAULT_APP_NAMESPACE",
    "NOTIFICATION_BODY",
    "DeployIgnored",
    "DeployNotice",
    "NotificationInvalid",
    "notice_from_document",
    "parse_deploy_notification",
]
