"""Operators filter incidents in the Temporal UI and CLI by medic's search attributes."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cli.devserver import temporal_binary
from cli.embedded import DEFAULT_SCENARIO
from tests.conftest import REPO, wait_for_step
from tests.e2e.test_remediation_loop import post_alert

pytestmark = pytest.mark.e2e

HIGH_RISK = REPO / "tests" / "scenarios" / "bad-release-env-change.yaml"


def workflow_list(address: str, query: str) -> list[dict[str, Any]]:
    """`temporal workflow list --query ...`, exactly as an operator types it."""
    out = subprocess.run(
        [temporal_binary(), "workflow", "list", "--address", address, "--query", query, "--output", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return (
        [json.loads(line) for line in out.splitlines() if line.strip()]
        if not out.startswith("[")
        else json.loads(out)
    )


async def listed_ids(address: str, query: str, expected: set[str], timeout: float = 20.0) -> set[str]:
    """The workflow ids the query returns, polled until `expected` shows (visibility lags a little)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = {w["execution"]["workflowId"] for w in await asyncio.to_thread(workflow_list, address, query)}
        if expected <= found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_incidents_are_found_by_risk_status_and_namespace(make_stack: Any, tmp_path: Path) -> None:
    medium_stack = await make_stack(DEFAULT_SCENARIO)
    high_stack = await make_stack(HIGH_RISK)
    medium = await post_alert(medium_stack, DEFAULT_SCENARIO)
    high = await post_alert(high_stack, HIGH_RISK)
    for stack, workflow_id in ((medium_stack, medium), (high_stack, high)):
        await wait_for_step(stack.client.get_workflow_handle(workflow_id), "awaiting_approval")
    address = medium_stack.settings.temporal_address

    assert high in await listed_ids(address, "MedicRisk='high'", {high})
    assert medium not in await listed_ids(address, "MedicRisk='high'", set(), timeout=0)
    assert medium in await listed_ids(address, "MedicRisk='medium' AND MedicNamespace='shop'", {medium})
    both = await listed_ids(address, "MedicStatus='awaiting_approval'", {medium, high})
    assert {medium, high} <= both

    description = await medium_stack.client.get_workflow_handle(medium).describe()
    summary = await description.memo_value("summary")
    assert "awaiting_approval" in summary and "cart" in summary
    for stack, workflow_id in ((medium_stack, medium), (high_stack, high)):
        await stack.client.get_workflow_handle(workflow_id).terminate("test done")
