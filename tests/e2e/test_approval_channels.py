"""One waiting workflow, four approval channels: the console's API, `medic approve` and
`temporal workflow signal`. Each decision is recorded with its approver and its channel; where a
plan needs two approvals, only the channels that prove who decides (the console, the API) count,
so one person cannot fake the second pair of eyes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.embedded import DEFAULT_SCENARIO, open_policy
from gateway.auth import hash_password, user_line
from policies import POLICY_DIR
from tests.conftest import wait_for_step
from tests.e2e.test_console_approval import approvals
from tests.e2e.test_remediation_loop import post_alert, temporal_signal
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e


def policy_with(directory: Path, **config: Any) -> Path:
    """The packaged policy as the sandbox runs it (auto mode, open approvers), its data's config
    changed by `config` (merged one level deep)."""
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    open_policy(directory)
    data_file = directory / "data.json"
    data = json.loads(data_file.read_text())
    for key, value in config.items():
        current = data["medic"]["config"].get(key)
        data["medic"]["config"][key] = {**current, **value} if isinstance(current, dict) else value
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


async def refused_so_far(handle: Any, count: int, timeout: float = 30.0) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await handle.query(RemediationWorkflow.status)
        if len(status.refused) >= count:
            return list(status.refused)
        assert loop.time() < deadline, f"only {len(status.refused)} refused signals, expected {count}"
        await asyncio.sleep(0.1)


async def api_decide(stack: Any, incident_id: str, plan_hash: str, authorization: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        return await http.post(
            f"/api/incidents/{incident_id}/decide",
            json={"decision": "approve", "reason": "reviewed", "plan_hash": plan_hash},
            headers={"Authorization": authorization},
        )


def medic_approve(stack: Any, incident_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEMPORAL_ADDRESS": stack.settings.temporal_address}
    return subprocess.run(
        [sys.executable, "-m", "cli", "approve", incident_id, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_policy_that_trusts_every_channel_counts_the_console_the_cli_and_a_signal(
    make_stack: Any, tmp_path: Path
) -> None:
    # An estate that leaves identity to Temporal's own access control says so in its policy data.
    directory = policy_with(
        tmp_path / "policy",
        approvals_by_risk={"medium": 3},
        verified_channels=["console", "api", "cli", "signal"],
    )
    stack = await make_stack(DEFAULT_SCENARIO, policy_dir=str(directory), console_token_user="carol")
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")
    assert waiting.approvals_required == 3
    incident_id = waiting.incident_id

    # 1. The console's API, as the token's user (the body names no approver: it cannot).
    answer = await api_decide(stack, incident_id, waiting.plan_hash, f"Bearer {stack.console_token}")
    assert answer.status_code == 200, answer.text
    assert await approvals_so_far(handle, 1) == [("carol", "update")]

    # 2. medic's CLI: the `decide` update, as --as names.
    approved = await asyncio.to_thread(medic_approve, stack, incident_id, "--as", "dave", "--reason", "cli")
    assert approved.returncode == 0, approved.stderr
    assert "2/3 approvals" in approved.stdout

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
    assert [(a.approver, a.via, a.channel) for a in result.approvals] == [
        ("carol", "update", "api"),
        ("dave", "update", "cli"),
        ("erin", "signal", "signal"),
    ]
    assert approvals(stack, incident_id) == [
        ("carol", "approve", "update", waiting.plan_hash),
        ("dave", "approve", "update", waiting.plan_hash),
        ("erin", "approve", "signal", waiting.plan_hash),
    ]


async def test_one_person_cannot_be_both_approvers_of_a_four_eyes_plan(
    make_stack: Any, tmp_path: Path
) -> None:
    """The attack: carol approves in the console, then approves again under another spelling of
    her name and a claimed group, through `medic approve` and a signal; then names someone else."""
    directory = policy_with(tmp_path / "policy", approvals_by_risk={"medium": 2})
    users = tmp_path / "console-users"
    users.write_text(user_line("dave", hash_password("dave-pw", iterations=1000), ["sre"]) + "\n")
    stack = await make_stack(
        DEFAULT_SCENARIO,
        policy_dir=str(directory),
        console_token="carol-token",
        console_token_user="carol",
        console_users_file=str(users),
    )
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")
    assert waiting.approvals_required == 2 and waiting.policy is not None
    assert waiting.policy.self_asserted_counts is False
    incident_id = waiting.incident_id

    answer = await api_decide(stack, incident_id, waiting.plan_hash, "Bearer carol-token")
    assert answer.status_code == 200, answer.text

    again = await asyncio.to_thread(medic_approve, stack, incident_id, "--as", " Carol ", "--group", "sre")
    assert again.returncode == 2
    assert "refused:  Carol  has already decided on this plan (as carol)" in again.stderr
    someone = await asyncio.to_thread(medic_approve, stack, incident_id, "--as", "dave")
    assert someone.returncode == 2
    assert "an approval through cli is self-asserted and does not count" in someone.stderr

    address = stack.settings.temporal_address
    await asyncio.to_thread(
        temporal_signal, address, workflow_id, "approve", {"approver": "ＣＡＲＯＬ", "groups": ["sre"]}
    )
    await asyncio.to_thread(
        temporal_signal, address, workflow_id, "approve", {"approver": "erin", "channel": "console"}
    )
    refused = await refused_so_far(handle, 2)
    assert refused == [
        "approve by ＣＡＲＯＬ: ＣＡＲＯＬ has already decided on this plan (as carol)",
        "approve by erin: an approval through signal is self-asserted and does not count for a plan that "
        "needs 2 approvals; approve through api or console or mcp or slack",
    ]
    assert await approvals_so_far(handle, 1) == [("carol", "update")]
    assert (await handle.query(RemediationWorkflow.status)).step == "awaiting_approval"

    # A second person the gateway authenticates is the second pair of eyes.
    basic = "Basic " + base64.b64encode(b"dave:dave-pw").decode()
    answer = await api_decide(stack, incident_id, waiting.plan_hash, basic)
    assert answer.status_code == 200, answer.text
    result = await asyncio.wait_for(handle.result(), 90)

    assert result.outcome == "resolved", result.reason
    assert [(a.approver, a.channel) for a in result.approvals] == [("carol", "api"), ("dave", "api")]
    assert [a[0] for a in approvals(stack, incident_id)] == ["carol", "dave"]
