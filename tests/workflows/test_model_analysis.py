"""The analyze step with a real model client against a loopback fake of Anthropic's Messages API.

The workflow runs on the time-skipping server; analyze is the real activity with the real
`anthropic` client; everything else is replaced by name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from pytest_httpserver import HTTPServer
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.analyze import AnalyzeActivities
from domain.incident.model import Incident
from domain.steps.remediation import RemediationInput, RemediationResult, WorkflowStatus
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from tests.integrations.llm.conftest import scenario_case
from tests.integrations.llm.payloads import (
    HOSTILE,
    anthropic_error,
    anthropic_message,
    anthropic_tool_use,
    oom_diagnosis,
)
from tests.workflows.fakes import replaced
from tests.workflows.test_remediation_workflow import Fakes
from workers.main import workflow_runner
from workflows.remediation import RemediationWorkflow

MESSAGES = "/v1/messages"


@pytest.fixture
def analyzer(httpserver: HTTPServer) -> Iterator[AnthropicAnalyzer]:
    model = AnthropicAnalyzer.from_settings(
        api_key="sk-ant-test", model="claude-test", base_url=httpserver.url_for(""), timeout=2.0
    )
    try:
        yield model
    finally:
        model.close()


def overloaded(httpserver: HTTPServer, times: int) -> None:
    for _ in range(times):
        httpserver.expect_ordered_request(MESSAGES, method="POST").respond_with_json(
            anthropic_error("overloaded_error", "Overloaded"), status=529, headers={"retry-after": "7"}
        )


async def run_incident(
    env: WorkflowEnvironment, analyzer: AnthropicAnalyzer
) -> tuple[RemediationResult, WorkflowStatus]:
    incident, observation = scenario_case("oom-helm-values")
    fakes = Fakes(observation=observation)
    activities = replaced(fakes.activities(), AnalyzeActivities(analyzer).analyze_incident)
    queue = f"model-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[RemediationWorkflow],
            workflow_runner=workflow_runner(),
            activities=activities,
            activity_executor=executor,
        ):
            handle = await env.client.start_workflow(
                RemediationWorkflow.run,
                RemediationInput(
                    incident=Incident(**{**incident.model_dump(), "id": f"incident-{uuid.uuid4()}"})
                ),
                id=f"incident-model-{uuid.uuid4()}",
                task_queue=queue,
            )
            result = await handle.result()
            return result, await handle.query(RemediationWorkflow.status)


async def test_overloaded_model_is_retried_by_temporal_then_answers(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, analyzer: AnthropicAnalyzer
) -> None:
    overloaded(httpserver, 2)
    httpserver.expect_ordered_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(oom_diagnosis())
    )
    result, status = await run_incident(time_skipping_env, analyzer)

    assert status.diagnosis is not None and status.diagnosis.analyzer == "anthropic"
    assert len(httpserver.log) == 3  # one request per Temporal attempt: the client itself never retries
    # The model's gitops plan goes to a human: these fakes find no file to change for it.
    assert result.outcome == "needs_review"


async def test_model_down_after_its_retries_hands_over_to_the_offline_rules(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, analyzer: AnthropicAnalyzer
) -> None:
    overloaded(httpserver, 5)
    result, status = await run_incident(time_skipping_env, analyzer)

    assert len(httpserver.log) == 5
    assert status.diagnosis is not None and status.diagnosis.analyzer == "offline"
    assert status.diagnosis.root_cause == "oom"


async def test_output_that_does_not_validate_ends_needs_review(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, analyzer: AnthropicAnalyzer
) -> None:
    httpserver.expect_ordered_request(MESSAGES, method="POST").respond_with_json(
        anthropic_message([{"type": "text", "text": "{not json, and no tool call"}], stop_reason="end_turn")
    )
    result, status = await run_incident(time_skipping_env, analyzer)

    assert result.outcome == "needs_review"
    assert "rejected" in result.reason
    assert status.plan is None and len(httpserver.log) == 1  # final: not retried, not acted on


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_model_answer_never_becomes_an_action(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, analyzer: AnthropicAnalyzer, name: str
) -> None:
    httpserver.expect_ordered_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(HOSTILE[name])
    )
    result, status = await run_incident(time_skipping_env, analyzer)

    assert result.outcome == "needs_review"
    assert status.plan is None
