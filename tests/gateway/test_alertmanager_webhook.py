"""POST /alerts/alertmanager against the real Temporal dev server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from cli.devserver import DevServer, free_port
from domain.incident.alerts import MAX_ALERTS, MAX_VALUE_CHARS, AlertGroup
from domain.settings import Settings
from gateway.app import create_app
from gateway.ingest import read_notification, redact_group
from tests.conftest import alertmanager_fixture
from tests.gateway.fake_temporal import FakeAlertTemporal

TOKEN = "s3cr3t-token"  # what shared/fixtures/alertmanager/alertmanager.yml sends
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def payload(name: str, receiver: str) -> dict[str, Any]:
    body = alertmanager_fixture(name)
    body["receiver"] = receiver  # a group of this test's own
    return body


@pytest.fixture
def receiver() -> str:
    return f"remediator-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(dev_client: Client) -> Settings:
    # A generous Temporal budget: these tests are about what arrives, not how fast (the outage tests
    # below keep the default).
    return Settings(
        temporal_address="unused",
        webhook_token=TOKEN,
        task_queue=f"no-worker-{uuid.uuid4()}",
        webhook_temporal_timeout_seconds=10,
    )


@pytest.fixture
async def gateway(settings: Settings, dev_client: Client) -> Any:
    async def client_factory() -> Client:
        return dev_client

    app = create_app(settings, client_factory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        yield http


async def executions(client: Client, workflow_id: str) -> list[Any]:
    return [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def signals_received(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


async def test_same_notification_a_hundred_times_makes_one_workflow(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    responses = await asyncio.gather(
        *(gateway.post("/alerts/alertmanager", json=body, headers=AUTH) for _ in range(100))
    )
    assert {r.status_code for r in responses} == {202}
    ids = {tuple(r.json()["workflow_ids"]) for r in responses}
    assert len(ids) == 1
    (workflow_id,) = ids.pop()
    assert len(await executions(dev_client, workflow_id)) == 1
    assert await signals_received(dev_client, workflow_id) == 100
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_repeat_and_resolved_notifications_reach_the_same_workflow(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    first = await gateway.post(
        "/alerts/alertmanager", json=payload("crashloop-firing.json", receiver), headers=AUTH
    )
    repeat = await gateway.post(
        "/alerts/alertmanager", json=payload("crashloop-firing-repeat.json", receiver), headers=AUTH
    )
    resolved = await gateway.post(
        "/alerts/alertmanager", json=payload("crashloop-resolved.json", receiver), headers=AUTH
    )
    assert [r.status_code for r in (first, repeat, resolved)] == [202, 202, 202]
    workflow_id = first.json()["workflow_ids"][0]
    assert repeat.json()["workflow_ids"] == resolved.json()["workflow_ids"] == [workflow_id]
    assert resolved.json()["delivered"] is True
    assert len(await executions(dev_client, workflow_id)) == 1
    assert await signals_received(dev_client, workflow_id) == 3
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_resolved_notification_without_an_open_incident_starts_nothing(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    response = await gateway.post(
        "/alerts/alertmanager", json=payload("crashloop-resolved.json", receiver), headers=AUTH
    )
    assert response.status_code == 200
    assert response.json()["delivered"] is False
    assert await executions(dev_client, response.json()["workflow_ids"][0]) == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
async def test_missing_or_wrong_token_is_401(
    gateway: httpx.AsyncClient, receiver: str, headers: dict[str, str]
) -> None:
    response = await gateway.post(
        "/alerts/alertmanager", json=payload("oomkilled-firing.json", receiver), headers=headers
    )
    assert response.status_code == 401
    assert "token" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"version": "4"}', 422, "groupKey"),
        (
            b'{"version": "3", "groupKey": "k", "status": "firing", "receiver": "r", "alerts": []}',
            422,
            "version",
        ),
    ],
)
async def test_broken_payload_is_4xx_with_the_reason(
    gateway: httpx.AsyncClient, body: bytes, status: int, reason: str
) -> None:
    response = await gateway.post(
        "/alerts/alertmanager", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert reason in response.text


async def test_bad_requests_do_not_disturb_a_running_workflow(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    good = payload("oomkilled-firing.json", receiver)
    started = await gateway.post("/alerts/alertmanager", json=good, headers=AUTH)
    workflow_id = started.json()["workflow_ids"][0]
    broken = dict(good, alerts="nope")
    for attempt in (
        gateway.post("/alerts/alertmanager", json=broken, headers=AUTH),
        gateway.post("/alerts/alertmanager", json=good, headers={"Authorization": "Bearer nope"}),
        gateway.post("/alerts/alertmanager", content=b"\xff\xfe", headers=AUTH),
    ):
        assert (await attempt).status_code in (400, 401, 422)
    description = await dev_client.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert await signals_received(dev_client, workflow_id) == 1
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_temporal_outage_is_503_so_alertmanager_retries(receiver: str) -> None:
    settings = Settings(temporal_address=f"127.0.0.1:{free_port()}", webhook_token=TOKEN, ingest_buffer="off")
    response = await answer_within_a_second(settings, receiver)
    assert response.status_code == 503
    assert response.headers["retry-after"]


async def test_truncated_alerts_are_reported(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    body["truncatedAlerts"] = 3
    response = await gateway.post("/alerts/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 202
    assert response.json()["truncated_alerts"] == 3
    await dev_client.get_workflow_handle(response.json()["workflow_ids"][0]).terminate("test done")


async def test_group_over_the_alert_bound_is_accepted_with_the_rest_counted_as_truncated(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    alert = body["alerts"][0]
    body["truncatedAlerts"] = 2  # Alertmanager's own max_alerts dropped two
    body["alerts"] = [dict(alert, fingerprint=f"{i:016x}") for i in range(MAX_ALERTS + 5)]
    response = await gateway.post("/alerts/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["alerts"] == MAX_ALERTS
    assert response.json()["truncated_alerts"] == 2 + 5
    assert response.json()["clipped"] == {"alerts_dropped": 5}
    await dev_client.get_workflow_handle(response.json()["workflow_ids"][0]).terminate("test done")


# Issue 12, findings 3 and 4: bodies an attacker (or a broken sender) makes, each once answered
# 500 or 503 and so retried by Alertmanager forever, or stalling the whole gateway.


def raw_post(gateway: httpx.AsyncClient, body: bytes) -> Any:
    return gateway.post(
        "/alerts/alertmanager", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )


def fixture_bytes(receiver: str) -> bytes:
    return json.dumps(payload("oomkilled-firing.json", receiver)).encode()


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
@pytest.mark.parametrize("bracket", ["[", '{"a":'])
async def test_json_nested_deeper_than_the_bound_is_400_not_a_recursion_error(
    gateway: httpx.AsyncClient, depth: int, bracket: str
) -> None:
    closing = "]" if bracket == "[" else "}"
    response = await raw_post(gateway, (bracket * depth + "1" + closing * depth).encode())
    assert response.status_code == 400
    assert f"nested {depth} deep" in response.json()["error"]


async def test_deep_nesting_inside_a_payload_field_is_400(gateway: httpx.AsyncClient, receiver: str) -> None:
    body = payload("oomkilled-firing.json", receiver)
    text = json.dumps(body).replace('"truncatedAlerts": 0', '"truncatedAlerts": ' + "[" * 5000 + "]" * 5000)
    response = await raw_post(gateway, text.encode())
    assert response.status_code == 400
    assert "nested 5001 deep" in response.json()["error"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        # escaped lone surrogates in a value, in a key, and a low surrogate alone
        (lambda b: b.replace(b'"critical"', b'"crit\\ud800ical"'), "lone surrogate"),
        (lambda b: b.replace(b'"severity"', b'"sev\\udfffrity"'), "lone surrogate"),
        (lambda b: b.replace(b'"payments"', b'"\\udc00"', 1), "lone surrogate"),
        # the same as raw bytes (CESU-8), and other encodings than UTF-8
        (lambda b: b.replace(b'"critical"', b'"\xed\xa0\x80"'), "not UTF-8"),
        (lambda b: b.replace(b'"critical"', b'"\xff\xfe"'), "not UTF-8"),
        (lambda b: b.decode().encode("utf-16"), "not UTF-8"),
        (lambda b: b.decode().encode("latin-1").replace(b"ledger", b"l\xe9dger"), "not UTF-8"),
    ],
)
async def test_invalid_unicode_is_400_with_the_reason(
    gateway: httpx.AsyncClient, receiver: str, mutate: Any, reason: str
) -> None:
    response = await raw_post(gateway, mutate(fixture_bytes(receiver)))
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [("1" * 5000, "digits"), ("NaN", "NaN"), ("-Infinity", "Infinity"), ("1e99999", "")],
)
async def test_numbers_json_does_not_allow_are_4xx(
    gateway: httpx.AsyncClient, receiver: str, value: str, reason: str
) -> None:
    text = fixture_bytes(receiver).replace(b'"truncatedAlerts": 0', b'"truncatedAlerts": ' + value.encode())
    response = await raw_post(gateway, text)
    assert response.status_code in (400, 422), response.text
    assert reason in response.json()["error"]


async def test_a_megabyte_annotation_is_accepted_clipped_and_fits_temporal(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    body["alerts"][0]["annotations"]["description"] = "x" * 1_000_000
    response = await gateway.post("/alerts/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    assert response.json()["clipped"] == {"values_clipped": 1}
    handle = dev_client.get_workflow_handle(response.json()["workflow_ids"][0])
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    signal = next(
        e.workflow_execution_signaled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )
    sizes = [p.ByteSize() for p in [*started.input.payloads, *signal.input.payloads]]
    assert sum(sizes) < 512 * 1024
    assert b"clipped by medic: 1000000 chars in all" in signal.input.payloads[0].data
    await handle.terminate("test done")


async def test_many_alerts_with_big_annotations_are_fitted_and_counted(
    gateway: httpx.AsyncClient, dev_client: Client, receiver: str
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    alert = body["alerts"][0]
    annotations = {f"note{i}": "y" * 4000 for i in range(2)}
    body["alerts"] = [dict(alert, fingerprint=f"{i:016x}", annotations=annotations) for i in range(100)]
    response = await gateway.post("/alerts/alertmanager", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    kept = response.json()["alerts"]
    assert 0 < kept < 100
    assert response.json()["truncated_alerts"] == 100 - kept
    assert response.json()["clipped"] == {"alerts_dropped": 100 - kept}
    await dev_client.get_workflow_handle(response.json()["workflow_ids"][0]).terminate("test done")


async def test_a_21_mb_body_is_413_from_its_content_length_without_being_read(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(21):
            sent += 1
            yield b" " * (1024 * 1024)

    headers = {**AUTH, "Content-Length": str(21 * 1024 * 1024)}
    response = await gateway.post("/alerts/alertmanager", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert str(settings.webhook_max_body_bytes) in response.json()["error"]
    assert sent <= 1  # the transport may hand over the first chunk; nothing more is read


async def test_a_chunked_body_over_the_limit_is_413_as_soon_as_it_is_counted(
    gateway: httpx.AsyncClient, settings: Settings
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(21 * 16):
            sent += 1
            yield b" " * (64 * 1024)

    response = await gateway.post("/alerts/alertmanager", content=chunks(), headers=AUTH)
    assert response.status_code == 413
    assert str(settings.webhook_max_body_bytes) in response.json()["error"]
    assert sent <= settings.webhook_max_body_bytes // (64 * 1024) + 2


@pytest.fixture
def served_gateway(settings: Settings) -> Iterator[str]:
    """The gateway served by uvicorn on loopback from a thread of its own, as in production."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, FakeAlertTemporal().factory),
            host="127.0.0.1",
            port=free_port(),
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the gateway did not start"
        assert thread.is_alive(), "the gateway stopped"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


async def test_healthz_answers_while_a_maximum_size_body_is_processed(
    served_gateway: str, receiver: str, settings: Settings
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    # Secret-like text is the redactor's slowest input; spread over many values and alerts, each
    # value its own (a value seen twice in one notification is redacted once).
    filler = "db_password: hunter2\npostgres://u:p@h:5432/db "
    alerts = [
        dict(
            body["alerts"][0],
            fingerprint=f"{i:016x}",
            annotations={f"n{j}": f"{i}.{j} " + filler * 40 for j in range(8)},
        )
        for i in range(1000)
    ]
    limit = settings.webhook_max_body_bytes
    count = len(alerts) * limit // len(json.dumps(dict(body, alerts=alerts))) - 1
    raw = json.dumps(dict(body, alerts=alerts[:count])).encode()
    assert limit * 0.9 < len(raw) <= limit
    async with httpx.AsyncClient(base_url=served_gateway, timeout=60) as http:
        posted = time.monotonic()
        post = asyncio.ensure_future(
            http.post(
                "/alerts/alertmanager", content=raw, headers={**AUTH, "Content-Type": "application/json"}
            )
        )
        latencies: list[float] = []
        while not post.done():
            started = time.monotonic()
            response = await http.get("/healthz")
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
        answer = await post
        processing = time.monotonic() - posted
    assert answer.status_code == 202, answer.text
    # 100 ms on a quiet machine. On a loaded one the processing thread can be descheduled while it
    # holds the interpreter, so the bound grows with the processing: a blocked event loop would
    # answer /healthz only once the whole body was processed.
    bound = max(0.1, processing / 4)
    assert max(latencies) < bound, f"/healthz took {max(latencies):.3f} s at worst of {processing:.3f} s"
    assert len(latencies) >= 5, "the body was processed too fast to measure anything"


async def answer_within_a_second(settings: Settings, receiver: str) -> httpx.Response:
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        started = time.monotonic()
        response = await http.post(
            "/alerts/alertmanager", json=payload("oomkilled-firing.json", receiver), headers=AUTH
        )
        assert time.monotonic() - started < 1.5
    return response


async def test_temporal_that_never_answers_is_503_within_a_second(receiver: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        response = await answer_within_a_second(
            Settings(temporal_address=address, webhook_token=TOKEN, ingest_buffer="off"), receiver
        )
    assert response.status_code == 503
    assert "within 1 s" in response.json()["error"]
    assert response.headers["retry-after"]


@pytest.fixture
def stopped_temporal() -> Iterator[DevServer]:
    server = DevServer(port=free_port(), ui_port=None)
    with server:
        yield server


async def test_temporal_going_down_after_the_gateway_connected_is_503_within_a_second(
    stopped_temporal: DevServer, receiver: str
) -> None:
    settings = Settings(
        temporal_address=stopped_temporal.address,
        webhook_token=TOKEN,
        task_queue=f"no-worker-{uuid.uuid4()}",
        ingest_buffer="off",
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        first = await http.post(
            "/alerts/alertmanager", json=payload("oomkilled-firing.json", receiver), headers=AUTH
        )
        assert first.status_code == 202
        stopped_temporal.stop()
        started = time.monotonic()
        response = await http.post(
            "/alerts/alertmanager", json=payload("crashloop-firing.json", receiver), headers=AUTH
        )
        assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    assert "Temporal is unavailable" in response.json()["error"]


GHP = "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password=hunter2hunter2", "hunter2hunter2"),
        (GHP, GHP),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwx", "abcdefghijklmnopqrstuvwx"),
    ],
)
@pytest.mark.parametrize("offset", [40, 20, 10, 2])
def test_a_secret_across_the_clip_is_redacted_not_cut_in_half(
    text: str, secret: str, offset: int, receiver: str
) -> None:
    body = payload("oomkilled-firing.json", receiver)
    head = "x" * (MAX_VALUE_CHARS - offset)
    body["alerts"][0]["annotations"]["description"] = f"{head} {text} tail"
    notification = read_notification(Settings(), json.dumps(body).encode())
    clipped = notification.group.alerts[0].annotations["description"]
    assert secret[:4] not in clipped.removeprefix(head)
    assert notification.start is not None
    assert secret not in notification.start.model_dump_json()


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_21_mb_body_over_http_is_413_at_once_and_the_gateway_stays_up(
    served_gateway: str, chunked: bool
) -> None:
    size = 21 * 1024 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(size // (64 * 1024)):
            yield b" " * (64 * 1024)

    async with httpx.AsyncClient(base_url=served_gateway, timeout=30) as http:
        started = time.monotonic()
        response = await http.post(
            "/alerts/alertmanager", content=chunks() if chunked else b" " * size, headers=AUTH
        )
        assert time.monotonic() - started < 2
        assert response.status_code == 413
        assert "1048576 bytes" in response.json()["error"]
        assert (await http.get("/healthz")).status_code == 200


def test_a_group_redaction_leaves_alone_is_kept_and_one_it_changes_is_validated_again() -> None:
    plain = AlertGroup.model_validate(alertmanager_fixture("oomkilled-firing.json"))
    assert redact_group(plain) is plain
    leaky = plain.model_copy(update={"commonAnnotations": {"description": "password=hunter2hunter2"}})
    redacted = redact_group(leaky)
    assert redacted is not leaky
    assert "hunter2" not in redacted.model_dump_json()
    assert redacted.alerts == plain.alerts
