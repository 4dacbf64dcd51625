"""A second incident like a resolved one recalls it, and the model is shown it with its outcome.

Real store (SQLite, migrated), real record and memory activities, the real analyze activity with
the real `anthropic` client against a loopback fake; the cluster-facing steps are replaced by name.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.analyze import AnalyzeActivities
from activities.approve import ApproveActivities
from activities.memory import MemoryActivities
from activities.observe import build_observation
from activities.record import RecordActivities
from cli.embedded import DEFAULT_SCENARIO
from domain.incident.alerts import AlertGroup
from domain.incident.model import Incident, incident_from_group
from domain.kube.observation import Observation
from domain.policy.approval import DecisionInput
from domain.steps.remediation import RemediationInput
from integrations.kubernetes import KubeClient
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from sandbox.cluster import SandboxCluster
from sandbox.scenario import load_scenario
from sandbox.server import SandboxServer
from store.db import make_engine, session_factory
from store.migrate import upgrade
from tests.conftest import wait_for_step
from tests.integrations.llm.payloads import anthropic_tool_use
from tests.workflows.fakes import replaced
from tests.workflows.test_remediation_workflow import Fakes, policy
from workers.main import workflow_runner
from workflows.remediation import RemediationWorkflow

CART = {"namespace": "shop", "kind": "Deployment", "name": "cart", "container": "cart"}


def cart_case() -> tuple[AlertGroup, Observation]:
    scenario = load_scenario(DEFAULT_SCENARIO)
    group = AlertGroup.model_validate(scenario.alert)
    with SandboxServer(SandboxCluster(scenario)) as server:
        kube = KubeClient.from_settings(server.url)
        try:
            observation = build_observation(kube, incident_from_group("wf-cart", group))
        finally:
            kube.close()
    return group, observation


def raise_cart_memory() -> dict[str, Any]:
    return {
        "root_cause": "oom",
        "summary": "cart is OOMKilled at its 128Mi limit; raise it to 256Mi.",
        "explanation": "The previous container ended OOMKilled with exit code 137.",
        "confidence": 0.8,
        "evidence": [{"item_id": "workload/shop/Deployment/cart", "note": "memory limit 128Mi"}],
        "actions": [
            {"kind": "set_resources", "target": dict(CART), "mode": "direct", "limits": {"memory": "256Mi"}}
        ],
        "expected_impact": "cart stops being OOMKilled.",
        "rollback": "restore the memory limit to 128Mi",
    }


def user_text(body: bytes) -> str:
    """The user message of a Messages API request, as the model reads it."""
    request = json.loads(body)
    content = request["messages"][0]["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    upgrade(url)
    return url


async def test_second_incident_recalls_the_resolved_one_in_the_prompt(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, database_url: str
) -> None:
    group, observation = cart_case()
    httpserver.expect_request("/v1/messages", method="POST").respond_with_json(
        anthropic_tool_use(raise_cart_memory())
    )
    model = AnthropicAnalyzer.from_settings(
        api_key="sk-ant-test", model="claude-test", base_url=httpserver.url_for(""), timeout=2.0
    )
    sessions = session_factory(make_engine(database_url))
    fakes = Fakes(decision=policy("medium"), observation=observation)
    record, memory = RecordActivities(sessions), MemoryActivities(sessions)
    activities = replaced(
        fakes.activities(),
        AnalyzeActivities(model).analyze_incident,
        record.record_incident,
        record.record_audit,
        ApproveActivities(sessions).record_approval,
        memory.recall_similar_incidents,
        memory.remember_incident,
    )
    queue = f"memory-{uuid.uuid4()}"

    async def incident(workflow_id: str) -> str:
        start = Incident(**{**incident_from_group(workflow_id, group).model_dump()})
        handle = await time_skipping_env.client.start_workflow(
            RemediationWorkflow.run, RemediationInput(incident=start), id=workflow_id, task_queue=queue
        )
        await wait_for_step(handle, "awaiting_approval")
        await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
        result = await handle.result()
        assert result.outcome == "resolved", result.reason
        return result.incident_id

    try:
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(
                time_skipping_env.client,
                task_queue=queue,
                workflows=[RemediationWorkflow],
                workflow_runner=workflow_runner(),
                activities=activities,
                activity_executor=executor,
            ):
                first = await incident(f"incident-first-{uuid.uuid4().hex[:6]}")
                second = await incident(f"incident-second-{uuid.uuid4().hex[:6]}")
    finally:
        model.close()

    first_prompt, second_prompt = (user_text(request.get_data()) for request, _ in httpserver.log)
    assert "Past similar incidents" not in first_prompt  # nothing to recall yet
    past = second_prompt.split("## Past similar incidents", 1)[1]
    assert "outcome resolved" in past
    assert f'id="{first}"' in past
    assert second != first
