"""The worker's metrics endpoint: the Temporal SDK's own metrics, in Prometheus format."""

from __future__ import annotations

import asyncio
import socket
import uuid

import httpx
import pytest
from temporalio.worker import Worker

from cli.devserver import DevServer, free_port
from domain.settings import Settings, settings_from_mapping
from integrations.temporal.client import connect
from workers.main import WorkerConfigError, metrics_runtime
from workflows.remediation import RemediationWorkflow


async def test_a_polling_worker_serves_temporal_sdk_metrics(dev_server: DevServer) -> None:
    address = f"127.0.0.1:{free_port()}"
    settings = Settings(temporal_address=dev_server.address, worker_metrics_address=address)
    runtime = metrics_runtime(settings)
    assert runtime is not None
    client = await connect(settings, runtime)
    worker = Worker(client, task_queue=f"metrics-{uuid.uuid4()}", workflows=[RemediationWorkflow])
    async with worker, httpx.AsyncClient() as http:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            text = (await http.get(f"http://{address}/metrics")).text
            if "temporal_num_pollers" in text or "temporal_long_request" in text:
                break
            assert asyncio.get_running_loop().time() < deadline, f"no poller metrics in:\n{text[:2000]}"
            await asyncio.sleep(0.2)
    assert "# TYPE temporal_" in text


def test_an_address_in_use_refuses_with_what_to_set() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        host, port = taken.getsockname()
        with pytest.raises(WorkerConfigError, match="MEDIC_WORKER_METRICS_ADDRESS"):
            metrics_runtime(Settings(worker_metrics_address=f"{host}:{port}"))


def test_an_empty_address_turns_worker_metrics_off() -> None:
    settings = settings_from_mapping({"MEDIC_WORKER_METRICS_ADDRESS": ""})
    assert settings.worker_metrics_address == ""
    assert metrics_runtime(settings) is None
    assert settings_from_mapping({}).worker_metrics_address == "127.0.0.1:9464"
