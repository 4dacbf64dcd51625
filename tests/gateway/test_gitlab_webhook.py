"""POST /webhooks/gitlab against the real Temporal dev server: GitLab's "Merge Request Hook" events
with the right `X-Gitlab-Token` on medic's branches become `pull_request_event` signals to the
incident's workflow, those on people's branches start and feed a `ChangeReviewWorkflow`; anything
else is refused or ignored, with the reason."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from domain.gitops.pull_requests import PullRequestEvent, branch_for
from domain.settings import Settings
from domain.steps.review import PullRequestClosed, ReviewRequest, ReviewTarget, review_workflow_id
from tests.gateway.test_github_webhook import (
    gateway_for,
    number_of_this_test,
    review_history,
    signalled,
    waiting_incident,
)

TOKEN = "gitlab-hook-secret"
PROJECT = "acme/gitops"


def merge_request_event(
    branch: str, *, action: str = "merge", iid: int = 7, last_commit: str = "a" * 40, user: str = "carol"
) -> dict[str, Any]:
    """A "Merge Request Hook" body in GitLab's shape (the fields medic reads, and some it does not)."""
    state = {"merge": "merged", "close": "closed"}.get(action, "opened")
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"id": 3, "name": user.title(), "username": user},
        "project": {"id": 4242, "name": "gitops", "path_with_namespace": PROJECT},
        "object_attributes": {
            "id": 90007,
            "iid": iid,
            "title": "Scale the shop",
            "state": state,
            "action": action,
            "source_branch": branch,
            "target_branch": "main",
            "merge_commit_sha": "c" * 40 if action == "merge" else None,
            "last_commit": {"id": last_commit, "message": "change"},
            "url": f"https://gitlab.example/{PROJECT}/-/merge_requests/{iid}",
        },
        "labels": [],
        "changes": {},
    }


def headers(token: str = TOKEN, event: str = "Merge Request Hook") -> dict[str, str]:
    return {
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": token,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }


@pytest.fixture
def settings() -> Settings:
    return Settings(
        temporal_address="unused",
        gitlab_webhook_token=TOKEN,
        gitlab_project=PROJECT,
        task_queue=f"no-worker-{uuid.uuid4()}",
    )


@pytest.fixture
async def gateway(settings: Settings, dev_client: Client) -> Any:
    async with await gateway_for(settings, dev_client) as http:
        yield http


async def post(http: httpx.AsyncClient, payload: Any, **kwargs: Any) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await http.post("/webhooks/gitlab", content=body, headers=headers(**kwargs))


async def test_a_merged_merge_request_signals_the_incident_workflow(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    handle, incident_id = await waiting_incident(dev_client, settings)

    response = await post(gateway, merge_request_event(branch_for(incident_id)))

    assert response.status_code == 202, response.text
    assert response.json()["delivered"] is True and response.json()["incident_id"] == incident_id
    assert await signalled(handle) == [
        PullRequestEvent(number=7, status="merged", merge_commit="c" * 40, actor="carol")
    ]
    await handle.terminate("test done")


async def test_a_closed_revert_merge_request_signals_closed_by_its_closer(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    handle, incident_id = await waiting_incident(dev_client, settings)
    event = merge_request_event(branch_for(incident_id, "revert"), action="close", iid=8, user="dave")

    response = await post(gateway, event)

    assert response.status_code == 202, response.text
    assert await signalled(handle) == [PullRequestEvent(number=8, status="closed", actor="dave")]
    await handle.terminate("test done")


async def test_an_event_for_an_incident_no_longer_running_is_answered_but_not_delivered(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    handle, incident_id = await waiting_incident(dev_client, settings)
    await handle.terminate("closed before the merge")
    response = await post(gateway, merge_request_event(branch_for(incident_id)))
    assert response.status_code == 200 and response.json()["delivered"] is False


async def test_a_wrong_or_missing_token_is_refused_with_the_reason(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    handle, incident_id = await waiting_incident(dev_client, settings)
    event = merge_request_event(branch_for(incident_id))

    wrong = await post(gateway, event, token="guessed")
    missing = await gateway.post(
        "/webhooks/gitlab",
        content=json.dumps(event).encode(),
        headers={"X-Gitlab-Event": "Merge Request Hook"},
    )

    assert [r.status_code for r in (wrong, missing)] == [401, 401]
    assert "X-Gitlab-Token" in wrong.json()["error"]
    assert await signalled(handle) == [], "nothing reached the workflow"
    await handle.terminate("test done")


async def test_without_a_configured_token_every_delivery_is_refused(dev_client: Client) -> None:
    async with await gateway_for(Settings(temporal_address="unused"), dev_client) as http:
        response = await post(http, merge_request_event("medic/incident-x.0123abcd"), token="")
    assert response.status_code == 401
    assert "MEDIC_GITLAB_WEBHOOK_TOKEN" in response.json()["error"]


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        ("Push Hook", {"object_kind": "push", "ref": "refs/heads/main"}, "event 'Push Hook'"),
        (
            "Merge Request Hook",
            merge_request_event("medic/incident-x.0123abcd", action="approved"),
            "action 'approved'",
        ),
        (
            "Merge Request Hook",
            merge_request_event("feature/x", action="update") | {"changes": {"title": {}}},
            "action 'update'",
        ),
        (
            "Merge Request Hook",
            merge_request_event("medic/incident-x.0123abcd", action="open"),
            "medic's own branch",
        ),
        (
            "Merge Request Hook",
            {
                **merge_request_event("medic/incident-x.0123abcd"),
                "project": {"path_with_namespace": "evil/fork"},
            },
            "evil/fork",
        ),
    ],
    ids=["other-event", "approval", "edit-without-commits", "medic-branch-opened", "other-project"],
)
async def test_events_medic_does_not_act_on_are_ignored_with_the_reason(
    gateway: httpx.AsyncClient, event: str, payload: dict[str, Any], reason: str
) -> None:
    response = await post(gateway, payload, event=event)
    assert response.status_code == 202, response.text
    assert reason in response.json()["ignored"]


async def test_malformed_bodies_are_refused_with_the_reason(gateway: httpx.AsyncClient) -> None:
    no_attributes = {"object_kind": "merge_request", "project": {"path_with_namespace": PROJECT}}
    wrong_kind = {**merge_request_event("medic/incident-x.0123abcd"), "object_kind": "note"}

    answers = [await post(gateway, body) for body in (b"{not json", b"[1, 2]", no_attributes, wrong_kind)]

    assert [a.status_code for a in answers] == [400, 400, 422, 422]
    assert "not JSON" in answers[0].json()["error"]
    assert answers[2].json()["details"][0]["loc"] == ["object_attributes"]
    assert "object_kind 'note'" in answers[3].json()["error"]


def review_of(iid: int, head_sha: str = "d" * 40, author: str = "dave") -> ReviewTarget:
    return ReviewTarget(
        host="gitlab",
        repository=PROJECT,
        number=iid,
        base_ref="main",
        head_ref="feature/scale-shop",
        head_sha=head_sha,
        title="Scale the shop",
        author=author,
    )


async def test_an_opened_merge_request_starts_its_review_and_a_push_signals_the_next(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    iid = number_of_this_test()
    opened = merge_request_event(
        "feature/scale-shop", action="open", iid=iid, last_commit="d" * 40, user="dave"
    )
    first = headers()
    response = await gateway.post("/webhooks/gitlab", content=json.dumps(opened).encode(), headers=first)

    assert response.status_code == 202, response.text
    workflow_id = review_workflow_id(review_of(iid))
    assert response.json()["workflow_id"] == workflow_id
    described = await dev_client.get_workflow_handle(workflow_id).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
    request = ReviewRequest(target=review_of(iid), delivery=first["X-Gitlab-Event-UUID"])
    started, _ = await review_history(dev_client, workflow_id)
    assert started == ("ChangeReviewWorkflow", settings.task_queue, request)

    pushed = merge_request_event("feature/scale-shop", action="update", iid=iid, last_commit="e" * 40)
    pushed["object_attributes"]["oldrev"] = "d" * 40
    second = headers()
    push = await gateway.post("/webhooks/gitlab", content=json.dumps(pushed).encode(), headers=second)
    closed = await post(gateway, merge_request_event("feature/scale-shop", action="merge", iid=iid))

    assert push.status_code == 202 and push.json()["run_id"] == described.run_id
    assert closed.status_code == 202 and closed.json()["merged"] is True
    _, signals = await review_history(dev_client, workflow_id)
    assert signals == [
        ("head_pushed", request),
        (
            "head_pushed",
            ReviewRequest(target=review_of(iid, "e" * 40, author=""), delivery=second["X-Gitlab-Event-UUID"]),
        ),
        ("pull_request_closed", PullRequestClosed(number=iid, head_ref="feature/scale-shop", merged=True)),
    ]
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")
