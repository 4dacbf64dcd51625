"""A real `medic gateway` process takes notifications while Temporal is unreachable, is killed with
SIGKILL before it could deliver them, and another gateway replica delivers each of them once, in
arrival order per group, when Temporal is back.

The gateways reach the dev server through a loopback TCP proxy: closing it is the outage (every
connection dropped, nothing listening), opening it again on the same port is Temporal's return.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from cli.devserver import DevServer, free_port
from domain.settings import settings_from_mapping
from gateway.app import create_app
from gateway.buffer import Ingest
from store import migrate
from tests.gateway.test_durable_ingest import AUTH, TOKEN, notification, signalled

MEDIC = str(Path(sys.executable).parent / "medic")


class Gateway:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [MEDIC, "gateway", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"the gateway exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)


class Proxy:
    """Forwards 127.0.0.1:<port> to `upstream` while open; closed, nothing listens there."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        if self._listener is not None:
            # shutdown first: a bare close leaves the socket listening while accept() blocks on it.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def temporal(dev_server: DevServer) -> Iterator[Proxy]:
    proxy = Proxy(("127.0.0.1", dev_server.port))
    proxy.open()
    yield proxy
    proxy.close()


async def test_a_gateway_killed_before_delivering_loses_nothing(
    temporal: Proxy, dev_client: Client, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(database)
    env = {
        **os.environ,
        "MEDIC_HOME": str(tmp_path / "home"),
        "DATABASE_URL": database,
        "TEMPORAL_ADDRESS": temporal.address,
        "MEDIC_WEBHOOK_TOKEN": TOKEN,
        "MEDIC_TASK_QUEUE": f"no-worker-{uuid.uuid4()}",
        "MEDIC_WEBHOOK_TEMPORAL_TIMEOUT_SECONDS": "0.3",
        "MEDIC_INGEST_BUFFER": "store",
        "MEDIC_INGEST_POLL_SECONDS": "0.1",
        "MEDIC_INGEST_BACKOFF_MAX_SECONDS": "0.3",
        "MEDIC_LOG_FORMAT": "json",
    }
    log = tmp_path / "gateway.log"
    first = Gateway(env, log)
    try:
        first.wait_ready()
        temporal.close()
        shop, web = (f"remediator-{uuid.uuid4().hex[:8]}" for _ in range(2))
        bodies: list[dict[str, Any]] = [
            notification("crashloop-firing.json", shop, 1),
            notification("oomkilled-firing.json", web, 1),
            notification("crashloop-firing-repeat.json", shop, 2),
            notification("crashloop-resolved.json", shop, 3),
        ]
        async with httpx.AsyncClient(base_url=first.url, timeout=5) as http:
            answers = [await http.post("/alerts/alertmanager", json=body, headers=AUTH) for body in bodies]
        assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
        assert {a.json().get("buffered") for a in answers} == {"store"}, [a.text for a in answers]
        first.stop(signal.SIGKILL)
    finally:
        first.stop(signal.SIGKILL)

    temporal.open()
    # Another replica (the same settings, its own process state) takes over what the dead one accepted.
    replica = create_app(settings_from_mapping(env))
    ingest: Ingest = replica.state.ingest
    shop_id, web_id = answers[0].json()["workflow_ids"][0], answers[1].json()["workflow_ids"][0]
    async with replica.router.lifespan_context(replica):
        deadline = time.monotonic() + 15
        while ingest.delivered_total < 4 or ingest.state is None or ingest.state.depth:
            assert time.monotonic() < deadline, f"delivered {ingest.delivered_total}, waiting: {ingest.state}"
            await asyncio.sleep(0.05)
    assert (await signalled(dev_client, shop_id), await signalled(dev_client, web_id)) == (
        [("firing", "1"), ("firing", "2"), ("resolved", "3")],
        [("firing", "1")],
    )
    for workflow_id in (shop_id, web_id):
        await dev_client.get_workflow_handle(workflow_id).terminate("test done")
    # The dead gateway logged each notification it kept, as JSON lines naming the incident.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    kept = [line for line in lines if line["msg"].startswith("buffered the notification")]
    assert [line["incident"] for line in kept] == [shop_id, web_id, shop_id, shop_id]
