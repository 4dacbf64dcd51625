"""Durable ingest: notifications posted while Temporal is unreachable are answered 202, kept in the
store's outbox (SQLite, PostgreSQL) or a real JetStream stream, and delivered once each, in arrival
order per alert group, when Temporal answers again.

The outage is a Temporal address nobody listens on; "Temporal is back" is the shared dev server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from cli.devserver import free_port
from domain.incident.alerts import AlertGroup
from domain.settings import Settings
from gateway.app import create_app
from gateway.buffer import Buffered, Ingest, JetStreamBuffer
from gateway.ingest import send
from gateway.server import startup_refusal
from integrations.temporal.client import connect
from store import migrate
from tests.conftest import alertmanager_fixture
from tests.store.conftest import postgres_url  # noqa: F401 (a fixture of this module too)

TOKEN = "s3cr3t-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NATS_URL = "nats://127.0.0.1:4222"


class Temporal:
    """The gateway's client factory: a Temporal nobody listens on while `down`, the dev server after."""

    def __init__(self, dev_client: Client) -> None:
        self.dev_client = dev_client
        self.down = True
        self.dead = Settings(temporal_address=f"127.0.0.1:{free_port()}")

    async def factory(self) -> Client:
        if self.down:
            return await connect(self.dead)
        return self.dev_client


def notification(name: str, receiver: str, seq: int) -> dict[str, Any]:
    body = alertmanager_fixture(name)
    body["receiver"] = receiver
    body["commonAnnotations"] = dict(body["commonAnnotations"], medic_test_seq=str(seq))
    return body


async def signalled(client: Client, workflow_id: str) -> list[tuple[str, str]]:
    """(status, seq) of every alert_notification signal the workflow received, in history order."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    seen = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            payload = event.workflow_execution_signaled_event_attributes.input.payloads[0]
            group = json.loads(payload.data)
            seen.append((group["status"], group["commonAnnotations"]["medic_test_seq"]))
    return seen


async def executions(client: Client, workflow_id: str) -> int:
    return len([w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")])


@contextlib.asynccontextmanager
async def jetstream() -> AsyncIterator[dict[str, Any]]:
    """Settings for a stream, subject and consumer of this test's own on the real server; removed after."""
    tag = uuid.uuid4().hex[:10]
    names: dict[str, Any] = {
        "ingest_buffer": "nats",
        "nats_url": NATS_URL,
        "nats_stream": f"MEDIC_TEST_{tag}",
        "nats_subject": f"medic.test.{tag}",
        "nats_consumer": f"gateway-{tag}",
        "nats_ack_wait_seconds": 1.0,
    }
    try:
        yield names
    finally:
        nc = await nats.connect(NATS_URL)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(names["nats_stream"])
        await nc.close()


@pytest.fixture
async def buffer_settings_nats() -> AsyncIterator[dict[str, Any]]:
    async with jetstream() as names:
        yield names


@pytest.fixture
async def buffer_settings(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[dict[str, Any]]:
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'medic.db'}"
        migrate.upgrade(url)
        yield {"ingest_buffer": "store", "database_url": url}
    elif kind == "postgres":
        url = request.getfixturevalue("postgres_url")
        migrate.upgrade(url)
        yield {"ingest_buffer": "store", "database_url": url}
    else:
        async with jetstream() as names:
            yield names


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "nats"]


def gateway_settings(buffer: dict[str, Any], **more: Any) -> Settings:
    return Settings(
        webhook_token=TOKEN,
        task_queue=f"no-worker-{uuid.uuid4()}",
        webhook_temporal_timeout_seconds=0.3,
        ingest_poll_seconds=0.05,
        ingest_backoff_max_seconds=0.2,
        **buffer,
        **more,
    )


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, temporal: Temporal, *, deliver: bool
) -> AsyncIterator[tuple[httpx.AsyncClient, Ingest]]:
    """The gateway in process; with `deliver`, its delivery task runs (the app's lifespan)."""
    app = create_app(settings, temporal.factory)
    ingest: Ingest = app.state.ingest
    lifespan = app.router.lifespan_context(app) if deliver else contextlib.nullcontext()
    async with (
        lifespan,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http,
    ):
        yield http, ingest
    if not deliver:
        await ingest.close()


def metric(text: str, name: str, buffer: str) -> float:
    (line,) = (line for line in text.splitlines() if line.startswith(f'{name}{{buffer="{buffer}"}} '))
    return float(line.split()[-1])


async def post(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post("/alerts/alertmanager", json=body, headers=AUTH)


@pytest.mark.parametrize("buffer_settings", BACKENDS, indirect=True)
async def test_an_outage_is_buffered_then_each_group_is_delivered_once_in_arrival_order(
    buffer_settings: dict[str, Any], dev_client: Client
) -> None:
    settings = gateway_settings(buffer_settings)
    temporal = Temporal(dev_client)
    shop, web, late = (f"remediator-{uuid.uuid4().hex[:8]}" for _ in range(3))
    async with serving(settings, temporal, deliver=False) as (http, ingest):
        during = [
            await post(http, notification("crashloop-firing.json", shop, 1)),
            await post(http, notification("oomkilled-firing.json", web, 1)),
            await post(http, notification("crashloop-firing-repeat.json", shop, 2)),
        ]
        assert [r.status_code for r in during] == [202, 202, 202], [r.text for r in during]
        assert all(r.json()["buffered"] == ingest.kind and r.json()["delivered"] is False for r in during)
        shop_id, web_id = during[0].json()["workflow_ids"][0], during[1].json()["workflow_ids"][0]

        temporal.down = False
        # Temporal answers again, but shop's earlier notifications still wait: this one goes behind them.
        behind = await post(http, notification("crashloop-resolved.json", shop, 3))
        assert behind.status_code == 202 and behind.json()["buffered"] == ingest.kind
        assert "earlier notification" in behind.json()["note"]
        # A group with nothing waiting is delivered straight away.
        direct = await post(http, notification("oomkilled-firing.json", late, 1))
        assert direct.status_code == 202 and direct.json()["delivered"] is True
        assert "buffered" not in direct.json()

        state = await ingest.refresh()
        assert state.depth == 4
        assert state.groups == {shop_id, web_id}
        metrics = (await http.get("/metrics")).text
        assert metric(metrics, "medic_ingest_buffered", ingest.kind) == 4
        assert metric(metrics, "medic_ingest_buffer_oldest_age_seconds", ingest.kind) > 0

        assert await ingest.deliver_pending() == 4
        assert (await ingest.refresh()).depth == 0
        assert await ingest.deliver_pending() == 0  # nothing comes back

        assert await signalled(dev_client, shop_id) == [("firing", "1"), ("firing", "2"), ("resolved", "3")]
        assert await signalled(dev_client, web_id) == [("firing", "1")]
        assert await executions(dev_client, shop_id) == await executions(dev_client, web_id) == 1
        metrics = (await http.get("/metrics")).text
        assert metric(metrics, "medic_ingest_buffered", ingest.kind) == 0
        assert metric(metrics, "medic_ingest_buffer_delivered_total", ingest.kind) == 4
    for workflow_id in (shop_id, web_id, direct.json()["workflow_ids"][0]):
        await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_the_delivery_task_keeps_accepting_through_the_outage_and_delivers_when_temporal_is_back(
    dev_client: Client, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    settings = gateway_settings({"ingest_buffer": "store", "database_url": url})
    temporal = Temporal(dev_client)
    receiver = f"remediator-{uuid.uuid4().hex[:8]}"
    async with serving(settings, temporal, deliver=True) as (http, ingest):
        answers = []
        for seq in range(1, 6):
            answers.append(await post(http, notification("crashloop-firing-repeat.json", receiver, seq)))
            # The delivery task tries (and fails) between the posts: the outage spans several of its rounds.
            await asyncio.sleep(0.1)
        assert {r.status_code for r in answers} == {202}
        assert ingest.temporal_up is False
        workflow_id = answers[0].json()["workflow_ids"][0]
        temporal.down = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while ingest.state is None or ingest.state.depth or ingest.delivered_total < 5:
            assert loop.time() < deadline, f"still buffered: {ingest.state}"
            await asyncio.sleep(0.05)
    assert await signalled(dev_client, workflow_id) == [("firing", str(seq)) for seq in range(1, 6)]
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


@pytest.mark.parametrize("buffer_settings", BACKENDS, indirect=True)
async def test_a_notification_delivered_but_not_yet_forgotten_is_not_signalled_twice(
    buffer_settings: dict[str, Any], dev_client: Client
) -> None:
    """The gateway died after Temporal took the notification and before the buffer forgot it: the
    next delivery carries the same request id, and Temporal drops it."""
    settings = gateway_settings(buffer_settings)
    temporal = Temporal(dev_client)
    receiver = f"remediator-{uuid.uuid4().hex[:8]}"
    async with serving(settings, temporal, deliver=False) as (http, ingest):
        first = await post(http, notification("crashloop-firing.json", receiver, 1))
        second = await post(http, notification("crashloop-firing-repeat.json", receiver, 2))
        assert first.json()["buffered"] and second.json()["buffered"]
        workflow_id = first.json()["workflow_ids"][0]
        temporal.down = False
        # What the dead gateway did with the first entry: delivered it, with the entry's id.
        assert ingest.buffer is not None
        taken: list[Buffered] = []

        async def die_after_delivering(entry: Buffered) -> None:
            group = AlertGroup.model_validate_json(entry.body)
            from gateway.buffer import notification_of

            await send(
                dev_client,
                settings,
                notification_of(settings, entry.workflow_id, group),
                request_id=entry.notification_id,
            )
            taken.append(entry)
            raise ConnectionError("the gateway died before forgetting it")

        with pytest.raises(ConnectionError):
            await ingest.buffer.drain(die_after_delivering)
        assert len(taken) == 1
        assert await signalled(dev_client, workflow_id) == [("firing", "1")]
        assert await ingest.deliver_pending() == 2
    assert await signalled(dev_client, workflow_id) == [("firing", "1"), ("firing", "2")]
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_two_replicas_on_postgresql_deliver_each_entry_once_in_group_order(
    postgres_url: str,  # noqa: F811
    dev_client: Client,
) -> None:
    migrate.upgrade(postgres_url)
    settings = gateway_settings({"ingest_buffer": "store", "database_url": postgres_url})
    temporal = Temporal(dev_client)
    receivers = [f"remediator-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    async with (
        serving(settings, temporal, deliver=False) as (http, one),
        serving(settings, temporal, deliver=False) as (
            _,
            other,
        ),
    ):
        ids = set()
        for seq in range(1, 5):
            for receiver in receivers:
                answer = await post(http, notification("crashloop-firing-repeat.json", receiver, seq))
                assert answer.json()["buffered"] == "store"
                ids.add(answer.json()["workflow_ids"][0])
        temporal.down = False
        delivered = await asyncio.gather(one.deliver_pending(), other.deliver_pending())
        delivered_more = await asyncio.gather(one.deliver_pending(), other.deliver_pending())
    assert sum(delivered) + sum(delivered_more) == 16
    for workflow_id in ids:
        assert await signalled(dev_client, workflow_id) == [("firing", str(seq)) for seq in range(1, 5)]
        await dev_client.get_workflow_handle(workflow_id).terminate("test done")


async def test_a_replica_that_dies_holding_a_jetstream_message_leaves_it_to_another(
    buffer_settings_nats: dict[str, Any], dev_client: Client
) -> None:
    settings = gateway_settings(buffer_settings_nats)
    temporal = Temporal(dev_client)
    receiver = f"remediator-{uuid.uuid4().hex[:8]}"
    async with serving(settings, temporal, deliver=False) as (http, ingest):
        answer = await post(http, notification("crashloop-firing.json", receiver, 1))
        assert answer.json()["buffered"] == "nats"
        workflow_id = answer.json()["workflow_ids"][0]
    temporal.down = False
    dying = JetStreamBuffer(settings)
    message = await dying.queue.next(timeout=1)
    assert message is not None and message.key == workflow_id
    await dying.close()  # gone without acknowledging
    async with serving(settings, temporal, deliver=False) as (_, replica):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not await replica.deliver_pending():
            assert loop.time() < deadline, "the message never came back"
    assert await signalled(dev_client, workflow_id) == [("firing", "1")]
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


@pytest.mark.parametrize(
    ("buffer", "says"),
    [
        ({"ingest_buffer": "off"}, "cannot reach Temporal"),
        (
            {"ingest_buffer": "nats", "nats_url": f"nats://127.0.0.1:{free_port()}"},
            "nats ingest buffer cannot take it",
        ),
        (
            {"ingest_buffer": "store", "database_url": "postgresql://postgres@127.0.0.1:1/none"},
            "store ingest buffer",
        ),
        # A store that was never made is not made here (nor its directory).
        ({"ingest_buffer": "store", "database_url": "sqlite:////nonexistent/medic.db"}, "has no database"),
    ],
)
async def test_503_only_when_neither_temporal_nor_the_buffer_can_take_it(
    buffer: dict[str, Any], says: str, dev_client: Client
) -> None:
    settings = gateway_settings(buffer)
    async with serving(settings, Temporal(dev_client), deliver=False) as (http, _):
        answer = await post(http, notification("crashloop-firing.json", f"r-{uuid.uuid4().hex[:8]}", 1))
    assert answer.status_code == 503
    assert says in answer.json()["error"]
    assert "\n" not in answer.json()["error"]
    assert answer.headers["retry-after"]


async def test_while_temporal_answers_the_buffer_is_not_touched(dev_client: Client) -> None:
    """The fast path is the old one: a buffer that cannot even be reached changes nothing."""
    settings = gateway_settings(
        {"ingest_buffer": "store", "database_url": "postgresql://postgres@127.0.0.1:1/none"}
    )
    temporal = Temporal(dev_client)
    temporal.down = False
    async with serving(settings, temporal, deliver=False) as (http, ingest):
        answer = await post(http, notification("crashloop-firing.json", f"r-{uuid.uuid4().hex[:8]}", 1))
        assert answer.status_code == 202 and answer.json()["delivered"] is True, answer.text
        assert ingest.buffered_total == 0 and ingest.state is None
    workflow_id = answer.json()["workflow_ids"][0]
    assert await signalled(dev_client, workflow_id) == [("firing", "1")]
    await dev_client.get_workflow_handle(workflow_id).terminate("test done")


@pytest.mark.parametrize(
    ("buffer", "status", "says"),
    [
        ({"ingest_buffer": "store"}, 200, None),
        (
            {"ingest_buffer": "nats", "nats_url": f"nats://127.0.0.1:{free_port()}"},
            503,
            # Temporal's reason first, then the buffer's.
            "; and the nats ingest buffer cannot take notifications",
        ),
    ],
)
async def test_the_gateway_stays_ready_while_temporal_is_away_if_its_buffer_takes_notifications(
    buffer: dict[str, Any], status: int, says: str | None, tmp_path: Any
) -> None:
    """Its Service keeps sending Alertmanager's notifications to it during a Temporal outage."""
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    settings = gateway_settings({"database_url": url, **buffer}, temporal_address=f"127.0.0.1:{free_port()}")
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        answer = await http.get("/readyz")
    await app.state.ingest.close()
    assert answer.status_code == status, answer.text
    if says is not None:
        (failing,) = answer.json()["failing"]
        assert failing["name"] == "temporal" and says in failing["reason"], failing


async def test_a_gateway_with_a_buffer_starts_while_temporal_is_away(tmp_path: Any) -> None:
    """A replica restarted during an outage comes up and takes notifications; without a buffer, or
    with a buffer that does not answer either, it still refuses to start, saying why."""
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    dead = {"database_url": url, "temporal_address": f"127.0.0.1:{free_port()}"}
    assert startup_refusal(Settings(**dead, ingest_buffer="store"), timeout=0.5) is None
    off = startup_refusal(Settings(**dead, ingest_buffer="off"), timeout=0.5)
    assert off is not None and off.startswith("medic gateway: Temporal at")
    nats_down = startup_refusal(
        Settings(**dead, ingest_buffer="nats", nats_url=f"nats://127.0.0.1:{free_port()}"), timeout=0.5
    )
    assert nats_down is not None
    temporal_line, buffer_line = nats_down.splitlines()
    assert temporal_line.startswith("medic gateway: Temporal at 127.0.0.1:")
    assert buffer_line.startswith("medic gateway: ingest buffer at nats://127.0.0.1:")
