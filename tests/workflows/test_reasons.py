"""The one-line reason on the incident, on the time-skipping server: a dead dependency names itself
and what it did, while it is still retried and once the step gives up; every closed incident
carries its reason; a model that cannot be used is said so (audit, incident row, notification),
not hidden behind the offline rules.

The Kubernetes API and the model are real clients against loopback addresses: a port nothing
listens on, and a fake of Anthropic's Messages API answering as the real one does.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from pytest_httpserver import HTTPServer
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.analyze import AnalyzeActivities
from activities.observe import ObserveActivities
from domain.incident.model import Incident
from domain.policy.decision import Violation
from domain.steps.remediation import RemediationInput, RemediationResult
from integrations.kubernetes import KubeClient
from integrations.llm.anthropic_analyzer import AnthropicAnalyzer
from integrations.temporal.incidents import retrying_step
from tests.conftest import keep_history
from tests.integrations.llm.conftest import scenario_case
from tests.integrations.llm.payloads import anthropic_error, anthropic_tool_use, oom_diagnosis
from tests.workflows.fakes import Sent, replaced
from tests.workflows.test_notifications import patch_markers
from tests.workflows.test_remediation_workflow import Fakes, Harness, policy, run_with_worker
from workers.main import workflow_runner
from workflows.remediation import RemediationWorkflow
from workflows.remediation.patches import PATCH_MODEL_UNUSABLE

MESSAGES = "/v1/messages"


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_dead_kubernetes_api_is_named_while_observe_retries_and_when_it_gives_up(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    api = f"http://127.0.0.1:{dead_port()}"
    kube = KubeClient.from_settings(api, timeout=(1.0, 1.0))
    observe = ObserveActivities(kube)
    harness = Harness(time_skipping_env, fakes)
    said = f"the Kubernetes API at {api} refused the connection"
    try:
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(
                time_skipping_env.client,
                task_queue=harness.queue,
                workflows=[RemediationWorkflow],
                workflow_runner=workflow_runner(),
                activities=replaced(fakes.activities(), observe.observe_incident),
                activity_executor=executor,
            ):
                handle = await harness.start()
                # Still open: Temporal keeps each attempt's failure, and the client reads it.
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 30
                while (retrying := await retrying_step(time_skipping_env.client, handle.id)) is None:
                    assert loop.time() < deadline, "observe's failed attempt never showed"
                    await asyncio.sleep(0.1)
                result = await handle.result()
    finally:
        kube.close()

    assert retrying.startswith("retrying observe_incident (attempt ")
    assert retrying.endswith(f"; the last attempt failed: observe: {said}")
    assert result.outcome == "failed"
    assert result.reason == f"observe failed: {said} (gave up after 10 attempts)"
    # Written on the incident row when it closes, with its outcome.
    assert fakes.incident["reason"] == result.reason and fakes.incident["status"] == "failed"
    closed = fakes.audit[-1]
    assert (closed.step, closed.status, closed.detail["reason"]) == ("closed", "failed", result.reason)
    # Closed: nothing is being retried any more.
    assert await retrying_step(time_skipping_env.client, handle.id) is None


async def test_a_plan_the_policy_denies_ends_needs_review_with_its_reason_on_the_row(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    fakes.decision = fakes.decision.model_copy(
        update={
            "allowed": False,
            "risk": "deny",
            "violations": [Violation(rule="protected", message="payments is a protected namespace")],
        }
    )

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    assert result.outcome == "needs_review"
    assert result.reason == "policy denied the plan: payments is a protected namespace"
    assert fakes.incident["reason"] == result.reason and fakes.incident["outcome"] == "needs_review"


async def test_every_reason_on_the_row_is_one_line_the_audit_keeps_it_whole(
    time_skipping_env: WorkflowEnvironment, fakes: Fakes
) -> None:
    long = "line one of a long refusal\n" + "and more detail " * 40
    fakes.decision = policy("deny", allowed=False).model_copy(
        update={"violations": [Violation(rule="r", message=long)]}
    )

    async def scenario(h: Harness) -> RemediationResult:
        return await (await h.start()).result()

    result = await run_with_worker(time_skipping_env, fakes, scenario)
    reason = fakes.incident["reason"]
    assert "\n" not in reason and len(reason) <= 200 and reason.endswith("…")
    assert reason.startswith("policy denied the plan: line one of a long refusal and more detail")
    assert result.reason == reason
    assert fakes.audit[-1].detail["reason"] == f"policy denied the plan: {long}"


# ---- a model that cannot be used -----------------------------------------------------------------


async def run_with_model(
    env: WorkflowEnvironment,
    httpserver: HTTPServer,
    fakes: Fakes,
    sent: Sent,
    *,
    notify: bool = True,
    history: str = "",
) -> tuple[RemediationResult, WorkflowHistory]:
    incident, observation = scenario_case("oom-helm-values")
    fakes.observation = observation
    analyzer = AnthropicAnalyzer.from_settings(
        api_key="sk-ant-test", model="claude-test", base_url=httpserver.url_for(""), timeout=2.0
    )
    queue = f"model-unusable-{uuid.uuid4()}"
    activities = replaced(fakes.activities(), AnalyzeActivities(analyzer).analyze_incident)
    try:
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(
                env.client,
                task_queue=queue,
                workflows=[RemediationWorkflow],
                workflow_runner=workflow_runner(),
                activities=[*activities, sent.activity()],
                activity_executor=executor,
            ):
                workflow_id = f"incident-history-{history}" if history else f"incident-model-{uuid.uuid4()}"
                handle = await env.client.start_workflow(
                    RemediationWorkflow.run,
                    RemediationInput(
                        incident=Incident(**{**incident.model_dump(), "id": workflow_id}), notify=notify
                    ),
                    id=workflow_id,
                    task_queue=queue,
                )
                result = await handle.result()
                kept = await keep_history(handle, f"remediation-{history}") if history else None
                return result, kept or await handle.fetch_history()
    finally:
        analyzer.close()


def refuse_the_key(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(MESSAGES, method="POST").respond_with_json(
        anthropic_error("authentication_error", "invalid x-api-key"), status=401
    )


REFUSED_KEY = (
    "model unusable: anthropic refused the API key (HTTP 401 authentication_error: invalid x-api-key); "
    "diagnosed by the offline rules"
)


async def test_a_refused_api_key_is_reported_on_the_audit_the_incident_and_in_a_notification(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, fakes: Fakes
) -> None:
    refuse_the_key(httpserver)
    sent = Sent()
    result, history = await run_with_model(
        time_skipping_env, httpserver, fakes, sent, history="model-unusable"
    )

    assert len(httpserver.log) == 1  # a refusal is final: not retried
    analyzing = [e for e in fakes.audit if e.step == "analyzing"]
    assert [(e.status, e.detail.get("type")) for e in analyzing] == [
        ("failed", "ModelRefused"),
        ("completed", None),
    ]
    assert analyzing[1].detail["analyzer"] == "offline"
    assert analyzing[1].detail["model_unusable"] == REFUSED_KEY
    assert fakes.incident["model_unusable"] == REFUSED_KEY
    # The offline rules' diagnosis carried on: the incident closes as it would have.
    assert fakes.incident["reason"] == result.reason
    assert sent.events()[0] == "model_unusable" and sent.events()[-1] == "outcome"
    (told,) = [n for n in sent.notifications if n.event == "model_unusable"]
    assert told.reason == REFUSED_KEY
    assert told.summary and told.incident_id == result.incident_id
    assert any(PATCH_MODEL_UNUSABLE.encode() in m for m in patch_markers(history))


async def test_a_model_down_after_its_retries_is_reported_with_the_attempts(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, fakes: Fakes
) -> None:
    for _ in range(5):
        httpserver.expect_ordered_request(MESSAGES, method="POST").respond_with_json(
            anthropic_error("rate_limit_error", "quota exhausted"), status=429, headers={"retry-after": "3"}
        )
    await run_with_model(time_skipping_env, httpserver, fakes, Sent(), notify=False)

    assert len(httpserver.log) == 5
    assert fakes.incident["model_unusable"] == (
        "model unusable: anthropic rate limit or quota exhausted "
        "(HTTP 429 rate_limit_error: quota exhausted) (retry after 3s) after 5 attempts; "
        "diagnosed by the offline rules"
    )


async def test_without_notifications_an_unusable_model_asks_no_patch(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, fakes: Fakes
) -> None:
    refuse_the_key(httpserver)
    sent = Sent()
    _, history = await run_with_model(time_skipping_env, httpserver, fakes, sent, notify=False)

    assert sent.notifications == []
    assert fakes.incident["model_unusable"] == REFUSED_KEY
    assert not any(PATCH_MODEL_UNUSABLE.encode() in m for m in patch_markers(history))


async def test_a_model_that_answers_leaves_nothing_to_report(
    time_skipping_env: WorkflowEnvironment, httpserver: HTTPServer, fakes: Fakes
) -> None:
    httpserver.expect_ordered_request(MESSAGES, method="POST").respond_with_json(
        anthropic_tool_use(oom_diagnosis())
    )
    sent = Sent()
    await run_with_model(time_skipping_env, httpserver, fakes, sent)

    assert "model_unusable" not in fakes.incident
    assert "model_unusable" not in sent.events()
    assert all("model_unusable" not in e.detail for e in fakes.audit)
