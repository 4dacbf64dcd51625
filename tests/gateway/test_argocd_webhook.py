"""POST /webhooks/argocd against the real Temporal dev server: Argo CD Notifications' deploy
notification (medic's template) starts one `DeploymentWatchWorkflow` per (Application, revision);
anything else is refused or ignored, each with its reason. The notification's parsing is tested
here too, from the template's own text."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from cli.devserver import free_port
from domain.deploy.model import deploy_watch_id
from domain.deploy.notification import (
    NOTIFICATION_BODY,
    DeployIgnored,
    NotificationInvalid,
    parse_deploy_notification,
)
from domain.settings import Settings
from gateway.app import create_app
from integrations.temporal.converter import DATA_CONVERTER

TOKEN = "argo-token-test"
SHA = "4f2c9e1b7a3d5c8e9f0a1b2c3d4e5f6a7b8c9d0e"
PREVIOUS = "0123456789abcdef0123456789abcdef01234567"


def rendered(**values: Any) -> dict[str, Any]:
    """`NOTIFICATION_BODY` as Argo CD renders it for a single-source Application (each template
    action replaced by what Go's text/template prints), overridden by `values`."""
    actions = {
        "{{.app.metadata.name}}": "shop",
        "{{.app.metadata.namespace}}": "argocd",
        "{{.app.spec.project}}": "retail",
        "{{.app.status.operationState.syncResult.revision}}": SHA,
        "{{toJson .app.status.operationState.syncResult.revisions}}": "null",
        "{{.app.status.operationState.finishedAt}}": "2026-12-04T10:15:30Z",
        "{{.app.status.operationState.phase}}": "Succeeded",
        "{{.app.status.health.status}}": "Healthy",
    }
    body = NOTIFICATION_BODY
    start = body.index('"previousRevision": "') + len('"previousRevision": "')
    body = body[:start] + PREVIOUS + body[body.index('",', start) :]
    for action, value in actions.items():
        body = body.replace(action, value)
    assert "{{" not in body, body
    document: dict[str, Any] = json.loads(body)
    document.update(values)
    return document


def parse(document: dict[str, Any]) -> Any:
    return parse_deploy_notification(json.dumps(document).encode())


# --- the notification (pure) -----------------------------------------------------------------------


def test_the_template_rendered_is_a_deploy_of_one_revision() -> None:
    notice = parse(rendered())

    assert (notice.application, notice.app_namespace, notice.project) == ("shop", "argocd", "retail")
    assert (notice.revision, notice.previous_revision, notice.health) == (SHA, PREVIOUS, "Healthy")
    assert notice.synced_at is not None and notice.synced_at.isoformat() == "2026-12-04T10:15:30+00:00"
    assert deploy_watch_id(notice.app_namespace, notice.application, notice.revision) == (
        "deploy/argocd/shop/4f2c9e1b7a3d"
    )


def test_a_multi_source_sync_is_the_deploy_of_its_first_git_commit() -> None:
    notice = parse(
        rendered(
            revision="<no value>", revisions=["2.2.3", SHA.upper(), PREVIOUS], previousRevision="<no value>"
        )
    )

    assert notice.revision == SHA and notice.previous_revision == ""


def test_fields_go_templates_print_as_no_value_count_as_absent() -> None:
    notice = parse(rendered(namespace="<no value>", project="<no value>", syncedAt="", health="<no value>"))

    assert (notice.app_namespace, notice.project, notice.synced_at, notice.health) == ("argocd", "", None, "")
    assert deploy_watch_id("", "shop", SHA) == "deploy/argocd/shop/4f2c9e1b7a3d"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"application": ""}, "the notification names no application"),
        ({"application": "<no value>"}, "the notification names no application"),
        ({"application": 7}, "application: Input should be a valid string"),
        ({"application": "Shop_App"}, "application 'Shop_App' is not a Kubernetes name"),
        ({"revision": "main"}, "revision 'main' is not a git commit (7 to 40 hex characters)"),
        ({"revision": "abc12"}, "revision 'abc12' is not a git commit (7 to 40 hex characters)"),
        ({"revision": "a" * 41}, "is not a git commit"),
        ({"revision": "", "revisions": ["1.2.3"]}, "no revision of the sync is a git commit"),
        ({"revision": ""}, "the notification names no revision"),
        ({"syncedAt": "yesterday"}, "syncedAt 'yesterday' is not an RFC 3339 time"),
        ({"syncedAt": "2026-12-04T10:15:30"}, "has no time zone"),
    ],
)
def test_a_notification_medic_cannot_act_on_says_why_in_one_line(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(NotificationInvalid) as raised:
        parse(rendered(**change))
    assert reason in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("phase", ["Running", "Failed", "Error", "", "<no value>"])
def test_a_sync_that_did_not_succeed_is_ignored_even_without_a_revision(phase: str) -> None:
    with pytest.raises(DeployIgnored, match=r"^ignored: the sync of shop is \S+, not Succeeded"):
        parse(rendered(phase=phase, revision=""))


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"shop"', b"\xff"])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(NotificationInvalid, match="body"):
        parse_deploy_notification(body)


# --- the webhook --------------------------------------------------------------------------------------


@workflow.defn(name="DeploymentWatchWorkflow")
class StandInWatch:
    """Stands in for the watch: ends at once, so a later delivery meets a closed watch."""

    @workflow.run
    async def run(self, event: dict[str, Any]) -> str:
        return str(event["revision"])


def settings_for(queue: str, **changes: Any) -> Settings:
    return Settings(
        **{"temporal_address": "unused", "argocd_webhook_token": TOKEN, "task_queue": queue, **changes}
    )


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def gateway_for(settings: Settings, client: Client) -> httpx.AsyncClient:
    async def client_factory() -> Client:
        return client

    app = create_app(settings, client_factory)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest_asyncio.fixture
async def gateway(dev_client: Client) -> AsyncIterator[httpx.AsyncClient]:
    # No worker polls this queue: a started watch stays running.
    async with await gateway_for(settings_for(f"no-worker-{uuid.uuid4()}"), dev_client) as http:
        yield http


def app_name() -> str:
    return f"shop-{uuid.uuid4().hex[:8]}"


async def watch_input(client: Client, watch_id: str) -> dict[str, Any]:
    history = await client.get_workflow_handle(watch_id).fetch_history()
    started = history.events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    attributes = started.workflow_execution_started_event_attributes
    (event,) = DATA_CONVERTER.payload_converter.from_payloads(attributes.input.payloads, [dict])
    assert isinstance(event, dict)
    return event


async def test_a_deploy_starts_its_watch_once(gateway: httpx.AsyncClient, dev_client: Client) -> None:
    app = app_name()
    body = json.dumps(rendered(application=app)).encode()

    first = await gateway.post("/webhooks/argocd", content=body, headers=auth())
    again = await gateway.post("/webhooks/argocd", content=body, headers=auth())

    watch_id = f"deploy/argocd/{app}/{SHA[:12]}"
    assert first.status_code == 202, first.text
    assert first.json()["watch"] == watch_id and first.json()["started"] is True
    assert again.status_code == 200, again.text
    assert again.json() == {
        "watch": watch_id,
        "application": app,
        "revision": SHA,
        "started": False,
        "note": "this deploy is watched already",
    }
    handle = dev_client.get_workflow_handle(watch_id)
    described = await handle.describe()
    assert described.workflow_type == "DeploymentWatchWorkflow"
    assert described.status == WorkflowExecutionStatus.RUNNING and described.run_id == first.json()["run_id"]
    event = await watch_input(dev_client, watch_id)
    delivery = event.pop("delivery")
    assert len(delivery) == 32 and int(delivery, 16) >= 0
    assert event == {
        "application": app,
        "app_namespace": "argocd",
        "project": "retail",
        "revision": SHA,
        "previous_revision": PREVIOUS,
        "synced_at": "2026-12-04T10:15:30+00:00",
        "source": "notification",
    }
    await handle.terminate("test done")


async def test_a_deploy_whose_watch_has_ended_is_not_watched_again(dev_client: Client) -> None:
    queue = f"deploy-watch-{uuid.uuid4().hex[:10]}"
    app = app_name()
    body = json.dumps(rendered(application=app, namespace="apps")).encode()
    async with (
        Worker(
            dev_client,
            task_queue=queue,
            workflows=[StandInWatch],
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
            ),
        ),
        await gateway_for(settings_for(queue), dev_client) as http,
    ):
        first = await http.post("/webhooks/argocd", content=body, headers=auth())
        assert first.status_code == 202, first.text
        watch_id = first.json()["watch"]
        assert watch_id == f"deploy/apps/{app}/{SHA[:12]}"
        assert await dev_client.get_workflow_handle(watch_id).result() == SHA
        again = await http.post("/webhooks/argocd", content=body, headers=auth())

    assert again.status_code == 200 and again.json()["started"] is False


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        ("", auth()),
        (TOKEN, auth("wrong")),
        (TOKEN, {"Content-Type": "application/json"}),
        (TOKEN, {"Authorization": TOKEN}),
    ],
    ids=["no-token-configured", "wrong-token", "no-header", "not-bearer"],
)
async def test_a_delivery_without_the_token_is_refused(
    dev_client: Client, token: str, headers: dict[str, str]
) -> None:
    settings = settings_for("unused", argocd_webhook_token=token)
    async with await gateway_for(settings, dev_client) as http:
        response = await http.post(
            "/webhooks/argocd", content=json.dumps(rendered()).encode(), headers=headers
        )
    assert response.status_code == 401
    error = response.json()["error"]
    assert (
        ("MEDIC_ARGOCD_WEBHOOK_TOKEN" in error) if not token else (error == "missing or invalid bearer token")
    )


async def test_a_malformed_notification_is_a_400_with_the_reason(gateway: httpx.AsyncClient) -> None:
    bodies = [
        b"{not json",
        b"[]",
        json.dumps(rendered(application="")).encode(),
        json.dumps(rendered(revision="v1.2.3")).encode(),
    ]

    answers = [await gateway.post("/webhooks/argocd", content=body, headers=auth()) for body in bodies]

    assert [a.status_code for a in answers] == [400, 400, 400, 400]
    errors = [a.json()["error"] for a in answers]
    assert errors[0].startswith("body is not JSON")
    assert errors[1] == "not medic's Argo CD deploy notification: body must be a JSON object " + (
        "(medic's Argo CD notification template)"
    )
    assert errors[2] == "not medic's Argo CD deploy notification: the notification names no application"
    assert "revision 'v1.2.3' is not a git commit" in errors[3]


async def test_a_body_over_the_limit_is_refused_before_it_is_read(dev_client: Client) -> None:
    settings = settings_for("unused", webhook_max_body_bytes=64)
    async with await gateway_for(settings, dev_client) as http:
        response = await http.post(
            "/webhooks/argocd", content=json.dumps(rendered()).encode(), headers=auth()
        )
    assert response.status_code == 413


async def test_a_sync_that_did_not_succeed_and_the_watch_off_are_ignored(dev_client: Client) -> None:
    failed = json.dumps(rendered(phase="Failed")).encode()
    deployed = json.dumps(rendered(application=app_name())).encode()
    async with await gateway_for(settings_for("unused", deploy_watch=False), dev_client) as http:
        not_a_deploy = await http.post("/webhooks/argocd", content=failed, headers=auth())
        off = await http.post("/webhooks/argocd", content=deployed, headers=auth())

    assert not_a_deploy.status_code == 202
    assert not_a_deploy.json() == {
        "ignored": "ignored: the sync of shop is Failed, not Succeeded: not a deploy"
    }
    assert off.status_code == 202
    assert off.json()["ignored"] == "ignored: the deploy watch is off (MEDIC_DEPLOY_WATCH=false)"


@pytest.mark.parametrize("temporal", ["silent", "refusing"])
async def test_a_deploy_while_temporal_is_unreachable_is_a_fast_503_with_the_reason(temporal: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        port = silent.getsockname()[1] if temporal == "silent" else free_port()
        settings = Settings(
            temporal_address=f"127.0.0.1:{port}",
            argocd_webhook_token=TOKEN,
            webhook_temporal_timeout_seconds=0.5,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://gateway"
        ) as http:
            started = time.monotonic()
            response = await http.post(
                "/webhooks/argocd", content=json.dumps(rendered()).encode(), headers=auth()
            )
            took = time.monotonic() - started
    assert response.status_code == 503
    assert took < 2.5, f"answered after {took:.2f} s"
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert ("within 0.5 s" in error) if temporal == "silent" else ("Temporal" in error)
    assert "\n" not in error


async def test_each_clusters_medic_starts_a_watch_of_its_own(dev_client: Client) -> None:
    # README "Clusters": one Argo CD notifies the medics of two clusters sharing a namespace; each
    # starts its own watch (the Application's cluster decides which one watches anything)
    app = app_name()
    body = json.dumps(rendered(application=app)).encode()
    started = []
    for cluster in ("east", "west"):
        settings = settings_for(f"no-worker-{uuid.uuid4()}", cluster_name=cluster)
        async with await gateway_for(settings, dev_client) as http:
            response = await http.post("/webhooks/argocd", content=body, headers=auth())
        assert response.status_code == 202, response.text
        assert response.json()["watch"] == f"deploy-{cluster}/argocd/{app}/{SHA[:12]}"
        started.append(response.json()["watch"])
        assert (await watch_input(dev_client, response.json()["watch"]))["cluster"] == cluster
    for watch_id in started:
        await dev_client.get_workflow_handle(watch_id).terminate("test done")
