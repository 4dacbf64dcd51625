"""/healthz says alive, /readyz says whether Temporal and the store answer: on the gateway against
the real dev server and a real PostgreSQL, each made to go away, and on the worker's own health
server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from cli.devserver import DevServer, free_port
from domain.settings import Settings
from gateway.app import create_app
from health.readiness import NotReady, Readiness
from health.server import HealthAddressError, serve_health
from store import migrate
from tests.store.conftest import postgres_url

__all__ = ["postgres_url"]


class Gate:
    """A TCP forwarder on loopback to `target`, that can be closed (the store goes away)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.streams: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.streams |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for stream in self.streams:
            stream.close()
        await self.server.wait_closed()


@contextlib.asynccontextmanager
async def gate_to(url: str) -> AsyncIterator[tuple[Gate, str]]:
    parsed = make_url(url)
    gate = Gate(parsed.host or "127.0.0.1", parsed.port or 5432)
    port = await gate.start()
    try:
        yield gate, parsed.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(Exception):
            await gate.close()


async def readyz_until(client: httpx.AsyncClient, status: int, timeout: float = 15.0) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await client.get("/readyz")
        if response.status_code == status or loop.time() > deadline:
            return response
        await asyncio.sleep(0.1)


@pytest.mark.postgres
async def test_the_gateway_is_ready_then_not_when_the_store_goes_away(
    dev_server: DevServer, postgres_url: str
) -> None:
    async with gate_to(postgres_url) as (gate, through_gate):
        app = create_app(Settings(temporal_address=dev_server.address, database_url=through_gate))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            ready = await readyz_until(client, 200)
            assert ready.status_code == 200 and ready.json() == {"status": "ready"}, ready.text
            await gate.close()
            unready = await readyz_until(client, 503)
            assert unready.status_code == 503, unready.text
            body = unready.json()
            assert body["status"] == "unready"
            assert [f["name"] for f in body["failing"]] == ["store"]
            reason = body["failing"][0]["reason"]
            assert reason.startswith("database at postgresql://") and "connection refused" in reason, reason
            assert "\n" not in reason
            alive = await client.get("/healthz")
            assert alive.status_code == 200 and alive.json() == {"status": "ok"}


async def test_the_worker_health_server_answers_polling_at_once_and_probes_cached() -> None:
    polling = False
    probed = 0

    async def store() -> None:
        nonlocal probed
        probed += 1
        if probed > 2:
            raise NotReady("database at sqlite:///x.db: unable to open database file")

    readiness = Readiness(
        {"store": store},
        states={"worker": lambda: None if polling else "the worker is not polling its task queue yet"},
        cache_seconds=60,
    )
    async with (
        serve_health("127.0.0.1:0", readiness) as url,
        httpx.AsyncClient(base_url=str(url)) as client,
    ):
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        waiting = await client.get("/readyz")
        assert waiting.status_code == 503
        assert waiting.json()["failing"] == [
            {"name": "worker", "reason": "the worker is not polling its task queue yet"}
        ]
        polling = True
        assert (await client.get("/readyz")).status_code == 200  # at once: states are not cached
        assert probed == 1  # the store's answer is kept for `cache_seconds`
        polling = False
        assert (await client.get("/readyz")).status_code == 503


async def test_a_failing_probe_is_named_with_its_reason_and_bounded_in_time() -> None:
    async def hangs() -> None:
        await asyncio.sleep(30)

    async def refuses() -> None:
        raise NotReady("Temporal at 127.0.0.1:1: connection refused")

    readiness = Readiness({"temporal": refuses, "store": hangs}, timeout=0.2)
    status, body = await asyncio.wait_for(readiness.body(), 5)
    assert status == 503
    assert body["failing"] == [
        {"name": "temporal", "reason": "Temporal at 127.0.0.1:1: connection refused"},
        {"name": "store", "reason": "no answer within 0.2 s"},
    ]


async def test_a_health_address_that_cannot_be_used_is_one_line() -> None:
    readiness = Readiness({})
    with pytest.raises(HealthAddressError, match="is not host:port"):
        async with serve_health("8081", readiness):
            pass
    port = free_port()
    async with serve_health(f"127.0.0.1:{port}", readiness):
        with pytest.raises(HealthAddressError, match=f"cannot serve worker health on 127.0.0.1:{port}"):
            async with serve_health(f"127.0.0.1:{port}", readiness):
                pass
    async with serve_health("", readiness) as url:
        assert url is None


async def test_the_gateway_says_why_when_temporal_goes_away(dev_server: DevServer, tmp_path: Path) -> None:
    """With Temporal gone and no ingest buffer the gateway is not ready, naming Temporal; with the
    store as the ingest buffer it stays ready: notifications are still taken, and kept."""
    store_url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(store_url)
    host, port = dev_server.address.rsplit(":", 1)
    gate = Gate(host, int(port))
    through_gate = f"127.0.0.1:{await gate.start()}"
    unbuffered = create_app(
        Settings(temporal_address=through_gate, database_url=store_url, ingest_buffer="off")
    )
    buffered = create_app(Settings(temporal_address=through_gate, database_url=store_url))
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=unbuffered), base_url="http://a") as plain,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=buffered), base_url="http://b") as safe,
        ):
            for client in (plain, safe):
                ready = await readyz_until(client, 200)
                assert ready.status_code == 200, ready.text
            await gate.close()
            unready = await readyz_until(plain, 503)
            assert unready.status_code == 503, unready.text
            failing = unready.json()["failing"]
            assert [f["name"] for f in failing] == ["temporal"], failing
            reason = failing[0]["reason"]
            assert reason.startswith(f"Temporal at {through_gate}"), reason
            assert "\n" not in reason
            still = await safe.get("/readyz")
            assert still.status_code == 200, still.text
    finally:
        with contextlib.suppress(Exception):
            await gate.close()
