"""A real Alertmanager (Debian's prometheus-alertmanager 0.25) posting its webhooks to the gateway.

The fixtures under shared/fixtures/alertmanager were captured from this Alertmanager; this test
closes the loop on the wire: an alert pushed into Alertmanager's API becomes one incident, its
repeats reach the same workflow, and its resolution ends the incident as `no_action`.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.api.enums.v1 import EventType

from cli.devserver import free_port
from cli.embedded import DEFAULT_SCENARIO, Stack
from domain.incident.alerts import group_workflow_id
from domain.steps.remediation import RemediationResult
from tests.conftest import in_ci, wait_for_step

pytestmark = pytest.mark.e2e

ALERTMANAGER = "prometheus-alertmanager"


def _alertmanager_binary() -> str:
    found = shutil.which(ALERTMANAGER)
    if found is None:
        reason = f"{ALERTMANAGER} is missing (apt-get install prometheus-alertmanager)"
        if in_ci():
            pytest.fail(f"CI requires a real Alertmanager: {reason}", pytrace=False)
        pytest.skip(reason)
    return found


class RealAlertmanager:
    def __init__(self, url: str) -> None:
        self.url = url

    async def push(
        self, labels: dict[str, str], annotations: dict[str, str], *, ends: datetime | None
    ) -> None:
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        }
        if ends is not None:
            alert["endsAt"] = ends.isoformat()
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{self.url}/api/v2/alerts", json=[alert])
        assert response.status_code == 200, response.text


@pytest.fixture
def alertmanager_for(tmp_path: Path) -> Iterator[Any]:
    """Starts Alertmanager with the captured fixture's routing, sending to a given gateway."""
    binary = _alertmanager_binary()
    processes: list[subprocess.Popen[bytes]] = []

    def start(gateway_url: str, token: str, receiver: str) -> RealAlertmanager:
        port = free_port()
        config = {
            "route": {
                "receiver": receiver,
                "group_by": ["alertname", "namespace"],
                "group_wait": "1s",
                "group_interval": "2s",
                "repeat_interval": "3s",
            },
            "receivers": [
                {
                    "name": receiver,
                    "webhook_configs": [
                        {
                            "url": f"{gateway_url}/alerts/alertmanager",
                            "send_resolved": True,
                            "max_alerts": 0,
                            "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                        }
                    ],
                }
            ],
        }
        path = tmp_path / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config))
        with (tmp_path / "alertmanager.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={path}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",  # no gossip: a single, private instance
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while True:
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert datetime.now(UTC) < deadline, "Alertmanager did not become ready"
            time.sleep(0.1)
        return RealAlertmanager(url)

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _signals(handle: Any) -> int:
    count = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            count += 1
    return count


async def test_alertmanager_alert_repeats_and_resolution_reach_one_workflow(
    make_stack: Any, alertmanager_for: Any
) -> None:
    stack: Stack = await make_stack(DEFAULT_SCENARIO)
    receiver = f"medic-{uuid.uuid4().hex[:8]}"
    alertmanager: RealAlertmanager = alertmanager_for(
        stack.gateway_url, stack.settings.webhook_token, receiver
    )
    alert = yaml.safe_load(DEFAULT_SCENARIO.read_text())["alert"]["alerts"][0]
    labels = dict(alert["labels"])
    await alertmanager.push(labels, alert["annotations"], ends=None)

    # Alertmanager's group key for group_by [alertname, namespace], as in the captured fixtures.
    group_key = f'{{}}:{{alertname="{labels["alertname"]}", namespace="{labels["namespace"]}"}}'
    handle = stack.client.get_workflow_handle(
        group_workflow_id(receiver, group_key), result_type=RemediationResult
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        try:
            await handle.describe()
            break
        except Exception:  # not started yet: Alertmanager waits group_wait before sending
            assert loop.time() < deadline, "Alertmanager's notification never started the workflow"
            await asyncio.sleep(0.2)
    status = await wait_for_step(handle, "awaiting_approval", timeout=60)
    assert status.diagnosis is not None and status.diagnosis.root_cause == "oom"

    # Repeats (repeat_interval 3s) reach the same workflow as signals, never a second workflow.
    deadline = loop.time() + 30
    while await _signals(handle) < 2:
        assert loop.time() < deadline, "no repeated notification reached the workflow"
        await asyncio.sleep(0.5)
    description = await handle.describe()
    first_run = description.run_id

    await alertmanager.push(labels, alert["annotations"], ends=datetime.now(UTC))
    result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.outcome == "no_action"
    assert "resolved" in result.reason
    assert (await handle.describe()).run_id == first_run
