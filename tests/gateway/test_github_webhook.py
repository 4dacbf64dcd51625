"""POST /webhooks/github against the real Temporal dev server: GitHub's signed `pull_request` events
on medic's branches become `pull_request_event` signals to the incident's workflow, those on
people's branches start and feed a `ChangeReviewWorkflow`; anything else is refused or ignored."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from cli.devserver import free_port
from domain.gitops.pull_requests import PullRequestEvent, branch_for
from domain.incident.model import Incident
from domain.settings import Settings
from domain.steps.remediation import RemediationInput
from domain.steps.review import PullRequestClosed, ReviewRequest, ReviewTarget, review_workflow_id
from gateway.app import create_app
from gateway.github_webhook import signature
from integrations.temporal.converter import DATA_CONVERTER
from workflows.remediation import RemediationWorkflow

SECRET = "whsec-test"
REPOSITORY = "acme/gitops"


def pull_request_event(
    branch: str, *, action: str = "closed", merged: bool = True, number: int = 7
) -> dict[str, Any]:
    """A `pull_request` delivery in GitHub's shape (the fields medic reads, and some it does not)."""
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "url": f"https://api.github.com/repos/{REPOSITORY}/pulls/{number}",
            "number": number,
            "state": "closed" if action == "closed" else "open",
            "title": "medic: set limits memory=512Mi of payments/Deployment/ledger",
            "user": {"login": "medic-bot"},
            "head": {"ref": branch, "sha": "a" * 40},
            "base": {"ref": "main", "sha": "b" * 40},
            "merged": merged,
            "merge_commit_sha": "c" * 40 if merged else None,
            "merged_by": {"login": "carol"} if merged else None,
        },
        "repository": {"full_name": REPOSITORY},
        "sender": {"login": "carol" if merged else "dave"},
    }


def headers(body: bytes, event: str = "pull_request", secret: str = SECRET) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature(secret, body),
        "Content-Type": "application/json",
    }


@pytest.fixture
def settings() -> Settings:
    return Settings(
        temporal_address="unused",
        github_webhook_secret=SECRET,
        github_repository=REPOSITORY,
        task_queue=f"no-worker-{uuid.uuid4()}",
    )


async def gateway_for(settings: Settings, client: Client) -> httpx.AsyncClient:
    async def client_factory() -> Client:
        return client

    app = create_app(settings, client_factory)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest.fixture
async def gateway(settings: Settings, dev_client: Client) -> Any:
    async with await gateway_for(settings, dev_client) as http:
        yield http


async def waiting_incident(client: Client, settings: Settings) -> tuple[WorkflowHandle[Any, Any], str]:
    """A remediation workflow nobody works on (no worker polls its queue): it stays running."""
    workflow_id = f"incident-gh-{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(
        RemediationWorkflow.run,
        RemediationInput(incident=Incident(id=workflow_id, title="test")),
        id=workflow_id,
        task_queue=settings.task_queue,
    )
    run_id = handle.result_run_id or ""
    return handle, f"{workflow_id}.{run_id[:8]}"


async def signalled(handle: WorkflowHandle[Any, Any]) -> list[PullRequestEvent]:
    history = await handle.fetch_history()
    events = []
    for e in history.events:
        if e.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            continue
        attributes = e.workflow_execution_signaled_event_attributes
        assert attributes.signal_name == "pull_request_event"
        (payload,) = DATA_CONVERTER.payload_converter.from_payloads(
            attributes.input.payloads, [PullRequestEvent]
        )
        events.append(payload)
    return events


async def test_merged_pull_request_signals_the_incident_workflow(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    handle, incident_id = await waiting_incident(dev_client, settings)
    body = json.dumps(pull_request_event(branch_for(incident_id))).encode()

    response = await gateway.post("/webhooks/github", content=body, headers=headers(body))

    assert response.status_code == 202, response.text
    assert response.json()["delivered"] is True and response.json()["incident_id"] == incident_id
    assert await signalled(handle) == [
        PullRequestEvent(number=7, status="merged", merge_commit="c" * 40, actor="carol")
    ]
    await handle.terminate("test done")


async def test_closed_revert_pull_request_signals_closed_by_the_sender(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    handle, incident_id = await waiting_incident(dev_client, settings)
    body = json.dumps(pull_request_event(branch_for(incident_id, "revert"), merged=False, number=8)).encode()

    response = await gateway.post("/webhooks/github", content=body, headers=headers(body))

    assert response.status_code == 202, response.text
    assert await signalled(handle) == [PullRequestEvent(number=8, status="closed", actor="dave")]
    await handle.terminate("test done")


async def test_an_event_for_an_incident_no_longer_running_is_answered_but_not_delivered(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    handle, incident_id = await waiting_incident(dev_client, settings)
    await handle.terminate("closed before the merge")
    body = json.dumps(pull_request_event(branch_for(incident_id))).encode()

    response = await gateway.post("/webhooks/github", content=body, headers=headers(body))

    assert response.status_code == 200 and response.json()["delivered"] is False
    body = json.dumps(pull_request_event(branch_for("incident-never-was.0123abcd"))).encode()
    response = await gateway.post("/webhooks/github", content=body, headers=headers(body))
    assert response.status_code == 200 and response.json()["delivered"] is False


async def test_wrong_or_missing_signature_is_refused(gateway: httpx.AsyncClient) -> None:
    body = json.dumps(pull_request_event(branch_for("incident-x.0123abcd"))).encode()

    forged = await gateway.post("/webhooks/github", content=body, headers=headers(body, secret="guessed"))
    unsigned = await gateway.post(
        "/webhooks/github", content=body, headers={"X-GitHub-Event": "pull_request"}
    )
    tampered = await gateway.post(
        "/webhooks/github", content=body.replace(b"carol", b"mallo"), headers=headers(body)
    )

    assert [r.status_code for r in (forged, unsigned, tampered)] == [401, 401, 401]
    assert "X-Hub-Signature-256".lower() in forged.json()["error"]


async def test_without_a_configured_secret_every_delivery_is_refused(dev_client: Client) -> None:
    settings = Settings(temporal_address="unused")
    body = b'{"zen": "Keep it logically awesome."}'
    async with await gateway_for(settings, dev_client) as http:
        response = await http.post(
            "/webhooks/github", content=body, headers=headers(body, "ping", secret="x")
        )
    assert response.status_code == 401
    assert "MEDIC_GITHUB_WEBHOOK_SECRET" in response.json()["error"]


async def test_ping_is_answered(gateway: httpx.AsyncClient) -> None:
    body = json.dumps({"zen": "Design for failure.", "hook_id": 42}).encode()
    response = await gateway.post("/webhooks/github", content=body, headers=headers(body, "ping"))
    assert response.status_code == 200 and response.json() == {"pong": True, "hook_id": 42}


@pytest.mark.parametrize(
    ("event", "payload", "reason"),
    [
        ("push", {"ref": "refs/heads/main"}, "event 'push'"),
        ("pull_request", pull_request_event("medic/incident-x.0123abcd", action="opened"), "action 'opened'"),
        (
            "pull_request",
            {**pull_request_event("medic/incident-x.0123abcd"), "repository": {"full_name": "evil/fork"}},
            "evil/fork",
        ),
    ],
    ids=["other-event", "medic-branch-opened", "other-repository"],
)
async def test_events_medic_does_not_act_on_are_ignored_with_the_reason(
    gateway: httpx.AsyncClient, event: str, payload: dict[str, Any], reason: str
) -> None:
    body = json.dumps(payload).encode()
    response = await gateway.post("/webhooks/github", content=body, headers=headers(body, event))
    assert response.status_code == 202
    assert reason in response.json()["ignored"]


async def test_malformed_bodies_are_refused_with_the_reason(gateway: httpx.AsyncClient) -> None:
    not_json = b"{not json"
    not_object = b"[1, 2]"
    no_pull = json.dumps({"action": "closed", "number": 3}).encode()

    answers = [
        await gateway.post("/webhooks/github", content=body, headers=headers(body))
        for body in (not_json, not_object, no_pull)
    ]

    assert [a.status_code for a in answers] == [400, 400, 422]
    assert "not JSON" in answers[0].json()["error"]
    assert answers[2].json()["details"][0]["loc"] == ["pull_request"]


@pytest.mark.parametrize("temporal", ["silent", "refusing"])
async def test_an_event_while_temporal_is_unreachable_is_a_fast_503_with_the_reason(temporal: str) -> None:
    """Not after the Temporal client's own ~10 s of retries: GitHub's delivery is answered within the
    gateway's Temporal budget, and can be redelivered."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        port = silent.getsockname()[1] if temporal == "silent" else free_port()
        settings = Settings(
            temporal_address=f"127.0.0.1:{port}",
            github_webhook_secret=SECRET,
            github_repository=REPOSITORY,
            webhook_temporal_timeout_seconds=0.5,
        )
        app = create_app(settings)
        body = json.dumps(pull_request_event(branch_for("incident-alert-0123.0123abcd"))).encode()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            started = time.monotonic()
            response = await http.post("/webhooks/github", content=body, headers=headers(body))
            took = time.monotonic() - started
    assert response.status_code == 503
    assert took < 2.5, f"answered after {took:.2f} s"  # the client alone retries for ~10 s
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert ("within 0.5 s" in error) if temporal == "silent" else ("Temporal" in error)
    assert "\n" not in error


# --- change reviews ------------------------------------------------------------------------------


def person_event(
    action: str, *, number: int, head_sha: str = "d" * 40, merged: bool = False
) -> dict[str, Any]:
    """A `pull_request` delivery about a person's branch, as GitHub sends it."""
    event = pull_request_event("feature/scale-shop", action=action, merged=merged, number=number)
    event["pull_request"].update(
        {
            "title": "Scale the shop",
            "user": {"login": "dave"},
            "head": {"ref": "feature/scale-shop", "sha": head_sha},
        }
    )
    return event


def review_of(number: int, head_sha: str = "d" * 40) -> ReviewTarget:
    return ReviewTarget(
        host="github",
        repository=REPOSITORY,
        number=number,
        base_ref="main",
        head_ref="feature/scale-shop",
        head_sha=head_sha,
        base_sha="b" * 40,
        title="Scale the shop",
        author="dave",
    )


async def review_history(client: Client, workflow_id: str) -> tuple[Any, list[tuple[str, Any]]]:
    """The started event's attributes (input decoded) and the signals, decoded, in order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started: Any = None
    signals: list[tuple[str, Any]] = []
    converter = DATA_CONVERTER.payload_converter
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            start = e.workflow_execution_started_event_attributes
            (request,) = converter.from_payloads(start.input.payloads, [ReviewRequest])
            started = (start.workflow_type.name, start.task_queue.name, request)
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signal = e.workflow_execution_signaled_event_attributes
            kind = ReviewRequest if signal.signal_name == "head_pushed" else PullRequestClosed
            (payload,) = converter.from_payloads(signal.input.payloads, [kind])
            signals.append((signal.signal_name, payload))
    return started, signals


def number_of_this_test() -> int:
    # The dev server is shared by the session: each test reviews a PR number of its own.
    return 100_000 + uuid.uuid4().int % 800_000


async def test_an_opened_pr_starts_its_review_with_the_head_and_a_push_signals_the_next(
    gateway: httpx.AsyncClient, dev_client: Client, settings: Settings
) -> None:
    number = number_of_this_test()
    opened = json.dumps(person_event("opened", number=number)).encode()
    first = headers(opened)

    response = await gateway.post("/webhooks/github", content=opened, headers=first)

    assert response.status_code == 202, response.text
    workflow_id = review_workflow_id(review_of(number))
    assert response.json()["workflow_id"] == workflow_id and response.json()["head_sha"] == "d" * 40
    described = await dev_client.get_workflow_handle(workflow_id).describe()
    assert (
        described.status == WorkflowExecutionStatus.RUNNING
        and described.workflow_type == "ChangeReviewWorkflow"
    )
    request = ReviewRequest(target=review_of(number), delivery=first["X-GitHub-Delivery"])
    started, signals = await review_history(dev_client, workflow_id)
    assert started == ("ChangeReviewWorkflow", settings.task_queue, request)
    assert signals == [("head_pushed", request)]

    # GitHub redelivers the same delivery: applied once. A push is a new delivery: a second signal.
    again = await gateway.post("/webhooks/github", content=opened, headers=first)
    pushed = json.dumps(person_event("synchronize", number=number, head_sha="e" * 40)).encode()
    second = headers(pushed)
    push = await gateway.post("/webhooks/github", content=pushed, headers=second)

    assert again.status_code == 202 and push.status_code == 202
    assert again.json()["run_id"] == push.json()["run_id"] == described.run_id
    _, signals = await review_history(dev_client, workflow_id)
    assert signals == [
        ("head_pushed", request),
        (
            "head_pushed",
            ReviewRequest(target=review_of(number, "e" * 40), delivery=second["X-GitHub-Delivery"]),
        ),
    ]
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_closing_a_reviewed_pr_signals_its_review_and_an_unreviewed_one_is_answered(
    gateway: httpx.AsyncClient, dev_client: Client
) -> None:
    number = number_of_this_test()
    opened = json.dumps(person_event("reopened", number=number)).encode()
    assert (
        await gateway.post("/webhooks/github", content=opened, headers=headers(opened))
    ).status_code == 202
    closed = json.dumps(person_event("closed", number=number, merged=True)).encode()

    response = await gateway.post("/webhooks/github", content=closed, headers=headers(closed))

    assert response.status_code == 202 and response.json()["delivered"] is True
    workflow_id = review_workflow_id(review_of(number))
    _, signals = await review_history(dev_client, workflow_id)
    assert signals[-1] == (
        "pull_request_closed",
        PullRequestClosed(number=number, head_ref="feature/scale-shop", merged=True),
    )
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")

    never = json.dumps(person_event("closed", number=number_of_this_test())).encode()
    response = await gateway.post("/webhooks/github", content=never, headers=headers(never))
    assert response.status_code == 200 and response.json()["delivered"] is False


async def test_reviews_can_be_turned_off_and_medics_own_branches_are_not_reviewed(dev_client: Client) -> None:
    settings = Settings(
        temporal_address="unused",
        github_webhook_secret=SECRET,
        github_repository=REPOSITORY,
        review_pull_requests=False,
    )
    opened = json.dumps(person_event("ready_for_review", number=number_of_this_test())).encode()
    medic = json.dumps(pull_request_event(branch_for("incident-x.0123abcd"), action="synchronize")).encode()
    async with await gateway_for(settings, dev_client) as http:
        off = await http.post("/webhooks/github", content=opened, headers=headers(opened))
        own = await http.post("/webhooks/github", content=medic, headers=headers(medic))
    assert off.status_code == 202 and "MEDIC_REVIEW_PULL_REQUESTS" in off.json()["ignored"]
    assert own.status_code == 202 and "medic's own branch" in own.json()["ignored"]


async def test_a_review_event_without_a_head_sha_is_refused(gateway: httpx.AsyncClient) -> None:
    event = person_event("opened", number=3)
    event["pull_request"]["head"] = {"ref": "feature/x"}
    body = json.dumps(event).encode()
    response = await gateway.post("/webhooks/github", content=body, headers=headers(body))
    assert response.status_code == 422 and "head sha" in response.json()["error"]
