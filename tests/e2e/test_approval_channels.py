"""One waiting workflow, three approval channels: the console, `medic approve` and
`temporal workflow signal` — each counted once, each recorded with its own approver."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.embedded import DEFAULT_SCENARIO
from policies import POLICY_DIR
from tests.conftest import wait_for_step
from tests.e2e.test_console_approval import approvals
from tests.e2e.test_remediation_loop import post_alert, temporal_signal
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e


def three_approvals_policy(directory: Path) -> Path:
    """The packaged policy, asking three approvals for a medium-risk plan like the demo's."""
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data_file = directory / "data.json"
    data = json.loads(data_file.read_text())
    data["medic"]["config"]["approvals_by_risk"]["medium"] = 3
    data_file.write_text(json.dumps(data))
    return directory


async def approvals_so_far(handle: Any, count: int, timeout: float = 30.0) -> list[tuple[str, str]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await handle.query(RemediationWorkflow.status)
        if len(status.approvals) >= count:
            return [(a.approver, a.via) for a in status.approvals]
        assert loop.time() < deadline, f"only {len(status.approvals)} approvals, expected {count}"
        await asyncio.sleep(0.1)


async def test_console_cli_and_temporal_signal_approve_the_same_workflow(
    make_stack: Any, tmp_path: Path
) -> None:
    stack = await make_stack(
        DEFAULT_SCENARIO,
        policy_dir=str(three_approvals_policy(tmp_path / "policy")),
        console_token_user="carol",
    )
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")
    assert waiting.approvals_required == 3
    incident_id = waiting.incident_id

    # 1. The console's API, as the token's user (the body names no approver: it cannot).
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        answer = await http.post(
            f"/api/incidents/{incident_id}/decide",
            json={"decision": "approve", "reason": "console", "plan_hash": waiting.plan_hash},
            headers={"Authorization": f"Bearer {stack.console_token}"},
        )
    assert answer.status_code == 200, answer.text
    assert await approvals_so_far(handle, 1) == [("carol", "update")]

    # 2. medic's CLI: the `decide` update, as --as names.
    env = {**os.environ, "TEMPORAL_ADDRESS": stack.settings.temporal_address}
    approved = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", "approve", incident_id, "--as", "dave", "--reason", "cli"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert approved.returncode == 0, approved.stderr
    assert "2/3 approvals" in approved.stdout
    assert await approvals_so_far(handle, 2) == [("carol", "update"), ("dave", "update")]

    # 3. The Temporal CLI's signal, as an operator would send it (or the Web UI's "Send a Signal").
    await asyncio.to_thread(
        temporal_signal,
        stack.settings.temporal_address,
        workflow_id,
        "approve",
        {"approver": "erin", "reason": "temporal cli"},
    )
    result = await asyncio.wait_for(handle.result(), 90)

    assert result.outcome == "resolved", result.reason
    assert [(a.approver, a.via) for a in result.approvals] == [
        ("carol", "update"),
        ("dave", "update"),
        ("erin", "signal"),
    ]
    assert approvals(stack, incident_id) == [
        ("carol", "approve", "update", waiting.plan_hash),
        ("dave", "approve", "update", waiting.plan_hash),
        ("erin", "approve", "signal", waiting.plan_hash),
    ]
