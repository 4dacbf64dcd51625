"""GitLab's webhook: `POST /webhooks/gitlab` tells an incident's workflow that its own merge request
was merged or closed, so that it need not wait for its next poll of the host, and starts and
feeds the review of a person's merge request — what `gateway/github_webhook.py` does for GitHub,
through the same calls into Temporal.

Every delivery must carry the webhook's secret token in `X-Gitlab-Token` (GitLab sends the
"Secret token" of the webhook as it is), compared in constant time with
MEDIC_GITLAB_WEBHOOK_TOKEN; without a configured token every delivery is refused. Only "Merge
Request Hook" events (of the configured project, when it is a path or an id the payload names) are
acted on; anything else answers 202 with the reason it was ignored:

- `merge` or `close` on a `medic/<incident id>` branch: the `pull_request_event` signal to the
  incident's run (merged with its merge commit, or closed; the actor is the user GitLab names);
  on any other branch: `pull_request_closed` to the MR's review workflow, if one runs.
- `open`, `reopen`, and `update` with new commits (`oldrev` present) on any branch but medic's
  own: a signal-with-start of the MR's `ChangeReviewWorkflow`. Off with
  MEDIC_REVIEW_PULL_REQUESTS=false.
- anything else (an approval, an edit of the title or labels): ignored.

Each call to Temporal carries the delivery's id (`X-Gitlab-Event-UUID`) as its request id, so a
delivery GitLab retries is applied once. A signal only wakes a workflow: the incident asks the host
for the MR's state before acting, so a forged or stale event decides nothing by itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from domain.gitops.pull_requests import PullRequestEvent, incident_of_branch
from domain.settings import Settings
from domain.steps.review import ReviewTarget
from gateway.auth import secrets_equal
from gateway.github_webhook import (
    ClientFactory,
    answer,
    review_ended,
    review_started,
    signal_incident,
    told_answer,
)
from gateway.temporal_calls import unreachable_reason

log = logging.getLogger("medic.gateway")

TOKEN_HEADER = "x-gitlab-token"
EVENT_HEADER = "x-gitlab-event"
DELIVERY_HEADER = "x-gitlab-event-uuid"
MERGE_REQUEST_HOOK = "Merge Request Hook"
# A merge request event is a few kB; GitLab's own limit is far above what medic reads.
MAX_BODY_BYTES = 1 << 20
# The actions that put a head up for review (an `update` only when it brought commits).
REVIEW_ACTIONS = frozenset({"open", "reopen", "update"})
DONE_ACTIONS = frozenset({"merge", "close"})


class _User(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: str = ""


class _Project(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    path_with_namespace: str = ""


class _Commit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = ""


class _Attributes(BaseModel):
    model_config = ConfigDict(extra="ignore")

    iid: int
    action: str = ""
    state: str = ""
    title: str = ""
    source_branch: str
    target_branch: str = "main"
    merge_commit_sha: str | None = None
    last_commit: _Commit | None = None
    oldrev: str | None = None


class MergeRequestPayload(BaseModel):
    """The part of GitLab's "Merge Request Hook" body medic reads."""

    model_config = ConfigDict(extra="ignore")

    object_kind: str
    user: _User | None = None
    project: _Project | None = None
    object_attributes: _Attributes

    def event(self) -> PullRequestEvent:
        mr = self.object_attributes
        actor = self.user.username if self.user else ""
        if mr.action == "merge" or mr.state == "merged":
            return PullRequestEvent(
                number=mr.iid, status="merged", merge_commit=mr.merge_commit_sha, actor=actor
            )
        return PullRequestEvent(number=mr.iid, status="closed", actor=actor)

    def review_target(self, repository: str, author: str = "") -> ReviewTarget:
        """The head this event names, as the review's target (the workflow reads it again from the
        host before it reviews); `repository` as the configured host names the project."""
        mr = self.object_attributes
        return ReviewTarget(
            host="gitlab",
            repository=repository,
            number=mr.iid,
            base_ref=mr.target_branch,
            head_ref=mr.source_branch,
            head_sha=mr.last_commit.id if mr.last_commit else "",
            title=mr.title,
            author=author,
        )


def _other_project(settings: Settings, project: _Project | None) -> str | None:
    """Why the event's project is not the configured one; None when it is (or none is configured)."""
    configured = settings.gitlab_project.strip().strip("/")
    if not configured:
        return None
    named = project.path_with_namespace if project else ""
    if configured.isdigit():
        if project is None or str(project.id) != configured:
            return f"project {named or '(none)'!r} is not project id {configured}"
        return None
    if named.lower() != configured.lower():
        return f"project {named or '(none)'!r} is not {configured}"
    return None


def install_gitlab_webhook(app: FastAPI, settings: Settings, get_client: ClientFactory) -> None:
    token = settings.gitlab_webhook_token

    @app.post("/webhooks/gitlab")
    async def gitlab_webhook(request: Request) -> JSONResponse:
        if not token:
            return answer(
                401,
                error="no GitLab webhook token is configured (MEDIC_GITLAB_WEBHOOK_TOKEN); "
                "refusing all webhooks",
            )
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return answer(413, error=f"body larger than {MAX_BODY_BYTES} bytes")
        if not secrets_equal(request.headers.get(TOKEN_HEADER, ""), token):
            return answer(401, error="missing or wrong X-Gitlab-Token (the webhook's secret token)")
        kind = request.headers.get(EVENT_HEADER, "")
        delivery = request.headers.get(DELIVERY_HEADER, "")
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return answer(400, error=f"body is not JSON: {err}")
        if not isinstance(payload, dict):
            return answer(400, error="body must be a JSON object (a GitLab webhook payload)")
        if kind != MERGE_REQUEST_HOOK:
            return answer(202, ignored=f"event {kind or '(none)'!r} is not acted on")
        try:
            event = MergeRequestPayload.model_validate(payload)
        except ValidationError as err:
            details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in err.errors(include_input=False)]
            return answer(422, error="not a GitLab merge request event", details=details)
        if event.object_kind != "merge_request":
            return answer(422, error=f"object_kind {event.object_kind!r} is not merge_request")
        why = _other_project(settings, event.project)
        if why is not None:
            return answer(202, ignored=why)
        mr = event.object_attributes
        owner = incident_of_branch(mr.source_branch)
        reviewed = mr.action in REVIEW_ACTIONS and (mr.action != "update" or bool(mr.oldrev))
        if reviewed:
            if owner is not None:
                return answer(
                    202,
                    ignored=f"action {mr.action!r} on medic's own branch {mr.source_branch!r}: "
                    "its merge request carries the incident's analysis, it is not reviewed",
                )
            if not settings.review_pull_requests:
                return answer(202, ignored="change reviews are off (MEDIC_REVIEW_PULL_REQUESTS=false)")
            if not mr.last_commit or not mr.last_commit.id:
                return answer(422, error="the merge request event names no last commit")
        elif mr.action not in DONE_ACTIONS:
            return answer(
                202,
                ignored=f"action {mr.action or '(none)'!r}: only opened, pushed, reopened, merged and "
                "closed merge requests are acted on",
            )
        repository = settings.gitlab_project or (event.project.path_with_namespace if event.project else "")
        request_id = delivery or uuid.uuid4().hex
        budget = settings.webhook_temporal_timeout_seconds
        try:
            # Bounded as GitHub's are: GitLab retries a delivery answered 5xx.
            async with asyncio.timeout(budget):
                client = await get_client()
                if reviewed:
                    return await _reviewed(client, event, repository, delivery, request_id)
                if owner is None:
                    return await _review_closed(client, event, repository, request_id)
                incident_id, _ = owner
                signal = event.event()
                outcome = await signal_incident(client, incident_id, signal)
        except (TimeoutError, RPCError, OSError, RuntimeError) as err:
            reason = unreachable_reason(err, budget)
            if reason is None:
                raise
            log.warning("GitLab delivery %s not passed on: %s", delivery, reason)
            return answer(503, error=reason)
        return told_answer(incident_id, signal, outcome, f"merge request !{signal.number}")

    async def _reviewed(
        client: Client, event: MergeRequestPayload, repository: str, delivery: str, request_id: str
    ) -> JSONResponse:
        # The hook names who acted, not the MR's author: that is the author only when opening.
        opener = event.user.username if event.user and event.object_attributes.action == "open" else ""
        what = f"merge request !{{}} {event.object_attributes.action}"
        return await review_started(
            client, settings, event.review_target(repository, opener), delivery, request_id, what
        )

    async def _review_closed(
        client: Client, event: MergeRequestPayload, repository: str, request_id: str
    ) -> JSONResponse:
        merged = event.event().status == "merged"
        return await review_ended(
            client, event.review_target(repository), merged, request_id, "merge request"
        )
