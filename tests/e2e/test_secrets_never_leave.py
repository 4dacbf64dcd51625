"""Secrets planted in logs, events, env, annotations and the alert never reach the model, the
store or the workflow history.

The worker is the real one (`workers.main.build_worker`: every activity, the Claude analyzer
against a loopback fake of the Messages API, the SQLite store); the cluster is the sandbox.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from pytest_httpserver import HTTPServer
from temporalio.testing import WorkflowEnvironment

from cli.embedded import DEFAULT_SCENARIO
from domain.incident.alerts import AlertGroup, group_workflow_id
from domain.policy.approval import DecisionInput
from domain.settings import Settings
from gateway.ingest import remediation_input
from sandbox.cluster import SandboxCluster
from sandbox.server import SandboxServer
from store.migrate import upgrade
from tests.conftest import wait_for_step
from tests.domain import redaction_corpus as c
from tests.domain.test_redact import LOG_TEXT
from tests.integrations.llm.payloads import anthropic_tool_use
from tests.workflows.test_memory_in_prompt import raise_cart_memory
from workers.main import ACTIVITY_THREADS, build_worker
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e

EVENT_SECRETS = (c.GITHUB_PAT_CLASSIC, c.GITLAB, c.SLACK_BOT, c.DATADOG)
ANNOTATION_SECRETS = (c.JWT_GENERIC, c.GITHUB_OAUTH)
ENV_SECRETS = (c.PASSWORD_ENV, c.ENV_PAIR)
ALERT_SECRETS = (c.SLACK_WEBHOOK, c.STRIPE_RESTRICTED)
LOG_SECRETS = (
    c.AWS_ACCESS_KEY_ID,
    c.AWS_SECRET,
    c.GITHUB_APP,
    c.STRIPE_LIVE,
    c.ANTHROPIC,
    c.OPENAI_PROJECT,
    c.OPENAI_LEGACY,
    c.BEARER,
    c.POSTGRES_PASSWORD,
    c.REDIS_PASSWORD,
    c.AMQP_PASSWORD,
    c.MYSQL_PASSWORD,
    c.PASSWORD_KV,
    c.VAULT,
    c.AZURE_SAS_SIG,
    c.PRIVATE_KEY_RSA,
    c.CLIENT_SECRET,
    c.TOKEN_JSON,
    c.TWILIO_SID,
    c.SENDGRID,
    c.NPM,
    c.API_KEY,
    c.GCP_API,
    c.HONEYCOMB,
    c.SECRET_KV,
)
PLANTED = (*LOG_SECRETS, *EVENT_SECRETS, *ANNOTATION_SECRETS, *ENV_SECRETS, *ALERT_SECRETS)


def planted_scenario(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    pod = "cart-7d9f8b6c5-x2k4p"
    data["logs"][f"shop/{pod}/cart"] = LOG_TEXT
    data["previous_logs"][f"shop/{pod}/cart"] = LOG_TEXT
    deployment = next(o for o in data["cluster"] if o["kind"] == "Deployment")
    deployment["metadata"]["annotations"]["example.com/last-deploy"] = (
        f"by ci with token {c.JWT_GENERIC.secret} (github {c.GITHUB_OAUTH.secret})"
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": c.PASSWORD_ENV.secret},
        {"name": "ORDERS_API_TOKEN", "value": c.ENV_PAIR.secret},
    ]
    for obj in data["cluster"]:
        if obj["kind"] == "Event":
            obj["message"] += " " + " ".join(
                [
                    f"pull with {c.GITHUB_PAT_CLASSIC.secret}",
                    f"gitlab {c.GITLAB.secret}",
                    f"notify {c.SLACK_BOT.secret}",
                    f"dd api_key={c.DATADOG.secret}",
                ]
            )
    leak = (
        f" Runbook hook https://hooks.slack.com/services/{c.SLACK_WEBHOOK.secret};"
        f" billing key {c.STRIPE_RESTRICTED.secret}"
    )
    for alert in data["alert"]["alerts"]:
        alert["annotations"]["description"] += leak
    data["alert"]["commonAnnotations"]["description"] += leak
    path = tmp_path / "planted.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, data


def leaks(text: str) -> list[str]:
    return [p.kind for p in PLANTED for needle in p.search if needle in text]


def decoded_payloads(history_json: str) -> str:
    """Every payload of a workflow history, decoded (the JSON form keeps them base64-encoded)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "metadata" in node and isinstance(node.get("data"), str):
                found.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return "\n".join(found)


def database_dump(url: str) -> str:
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


async def test_planted_secrets_never_reach_the_model_the_store_or_the_history(
    time_skipping_env: WorkflowEnvironment,
    httpserver: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len({p.kind for p in PLANTED}) >= 20
    path, data = planted_scenario(tmp_path)
    assert not leaks(json.dumps(raise_cart_memory()))
    httpserver.expect_request("/v1/messages", method="POST").respond_with_json(
        anthropic_tool_use(raise_cart_memory())
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("MEDIC_ANTHROPIC_MODEL", "claude-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", httpserver.url_for(""))
    database_url = f"sqlite:///{tmp_path / 'medic.db'}"
    upgrade(database_url)
    group = AlertGroup.model_validate(data["alert"])
    workflow_id = group_workflow_id(group.receiver, f"{group.groupKey}-{uuid.uuid4().hex[:6]}")

    cluster = SandboxCluster.from_file(path)
    with SandboxServer(cluster) as sandbox, ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        settings = Settings(
            home=str(tmp_path / ".medic"),
            database_url=database_url,
            kube_api_url=sandbox.url,
            task_queue=f"secrets-{uuid.uuid4()}",
            analyzer="anthropic",
            verify_interval_seconds=1,
            snapshot_keys=Fernet.generate_key().decode(),
            search_attributes=False,  # the time-skipping server has no custom search attributes
        )
        async with build_worker(time_skipping_env.client, settings, executor):
            handle = await time_skipping_env.client.start_workflow(
                RemediationWorkflow.run,
                remediation_input(settings, group, workflow_id),
                id=workflow_id,
                task_queue=settings.task_queue,
            )
            await wait_for_step(handle, "awaiting_approval")
            await handle.signal(RemediationWorkflow.approve, DecisionInput(approver="alice"))
            result = await handle.result()
            history = (await handle.fetch_history()).to_json()

    assert result.outcome == "resolved", result.reason
    prompts = [request.get_data(as_text=True) for request, _ in httpserver.log]
    assert prompts and "[REDACTED:" in prompts[0]
    assert leaks("\n".join(prompts)) == []
    assert leaks(database_dump(database_url)) == []
    payloads = decoded_payloads(history)
    assert "OOMKilled" in payloads  # the check below reads the real payloads
    assert leaks(payloads) == []
