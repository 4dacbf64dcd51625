"""Secrets planted in logs, events, env, annotations, the pod template, container args and
command, a new revision and the alert never reach the model, the store, the workflow history,
the console, the API, notifications or the logs.

The worker is the real one (`workers.main.build_worker`: every activity, the Claude analyzer
against a loopback fake of the Messages API, the SQLite store); the cluster is the sandbox. The
plan raises the memory limit and restarts the Deployment, so the dry-run diff shows the pod
template's annotations; the newest ReplicaSet's args and command differ from the one before it,
so the observation carries its change lines.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import sqlite3
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from pytest_httpserver import HTTPServer
from temporalio.testing import WorkflowEnvironment

from cli.embedded import DEFAULT_SCENARIO, open_policy
from domain.incident.alerts import AlertGroup, group_workflow_id
from domain.policy.approval import DecisionInput
from domain.settings import Settings
from gateway.app import create_app
from gateway.ingest import remediation_input
from sandbox.cluster import SandboxCluster
from sandbox.gitops import seed_bare_repo
from sandbox.scenario import SHARED_SCENARIOS, load_scenario
from sandbox.server import SandboxServer
from store.migrate import upgrade
from tests.conftest import wait_for_step
from tests.domain import redaction_corpus as c
from tests.domain.test_redact import LOG_TEXT
from tests.e2e.test_gitops_loop import (
    GITHUB_TOKEN,
    WEBHOOK_SECRET,
    approve,
    deliver_webhook,
    opened_pull_request,
)
from tests.e2e.test_remediation_loop import post_alert
from tests.fakes.github_api import SandboxGitHub
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
# Issue 12, finding 1: the places the red team found open, each with a value of its own.
TEMPLATE_AWS = c.Planted("aws_access_key_id", "AKIA" + c.fill("tmpl-aws", 16, c.UPPER_DIGITS))
TEMPLATE_VAULT = c.Planted("vault_token", "hv" + "s." + c.fill("tmpl-vault", 40))
TEMPLATE_PG_URL = c.Planted("database_password", "Pg" + c.fill("tmpl-pg", 18))
TEMPLATE_BASIC_URL = c.Planted("url_password", "Bu" + c.fill("tmpl-basic", 18))
TEMPLATE_GITHUB = c.Planted("github_token", "gh" + "p_" + c.fill("tmpl-ghp", 36))
ARGS_DB_PASSWORD = c.Planted("password", "Ar" + c.fill("args-db", 18))
ARGS_SLACK_HOOK = c.Planted(
    "slack_webhook",
    "T" + c.fill("args-wh1", 8, c.UPPER_DIGITS) + "/B" + c.fill("args-wh2", 8) + "/" + c.fill("args-wh3", 24),
)
COMMAND_TOKEN = c.Planted("token", "Cm" + c.fill("cmd-token", 20))
LOG_COOKIE = c.Planted("cookie", "Ck" + c.fill("log-cookie", 10))
LOG_GO_COOKIE = c.Planted("cookie", "Go" + c.fill("log-go-cookie", 12))
LOG_BEARER = c.Planted("bearer_token", c.fill("log-bearer", 32))
LOG_BASIC = c.Planted(
    "basic_auth_header", base64.b64encode(b"cart:" + c.fill("log-basic", 14).encode()).decode()
)
TEMPLATE_SECRETS = (TEMPLATE_AWS, TEMPLATE_VAULT, TEMPLATE_PG_URL, TEMPLATE_BASIC_URL, TEMPLATE_GITHUB)
REVISION_SECRETS = (ARGS_DB_PASSWORD, ARGS_SLACK_HOOK, COMMAND_TOKEN)
HEADER_SECRETS = (LOG_COOKIE, LOG_GO_COOKIE, LOG_BEARER, LOG_BASIC)
HEADER_LINES = f"""\
2026-11-23T18:54:20Z DEBUG upstream request cookie: Cookie: sessionid={LOG_COOKIE.secret}
2026-11-23T18:54:21Z DEBUG upstream request headers Authorization: Bearer {LOG_BEARER.secret}
2026-11-23T18:54:22Z DEBUG proxy said: Authorization: Basic {LOG_BASIC.secret}
2026-11-23T18:54:23Z DEBUG http: request headers map[Accept:[*/*] Cookie:[sessionid={LOG_GO_COOKIE.secret}]]
"""
PLANTED = (
    *LOG_SECRETS,
    *EVENT_SECRETS,
    *ANNOTATION_SECRETS,
    *ENV_SECRETS,
    *ALERT_SECRETS,
    *TEMPLATE_SECRETS,
    *REVISION_SECRETS,
    *HEADER_SECRETS,
)
CONSOLE_TOKEN = "console-token-for-the-secrets-test"
SLACK_PATH = "/slack/hook"
NOTIFY_PATH = "/notify/hook"


def restart_too() -> dict[str, Any]:
    """The model's answer: raise cart's memory, and restart it (which touches the pod template,
    so the dry-run diff shows the template's annotations)."""
    answer = raise_cart_memory()
    target = answer["actions"][0]["target"]
    answer["actions"].append(
        {"kind": "restart", "target": {k: v for k, v in target.items() if k != "container"}, "mode": "direct"}
    )
    return answer


def _plant_in_template(template: dict[str, Any]) -> None:
    template["metadata"]["annotations"] = {
        "example.com/aws-key": TEMPLATE_AWS.secret,
        "example.com/vault": TEMPLATE_VAULT.secret,
        "example.com/database": f"postgresql://cart:{TEMPLATE_PG_URL.secret}@db.shop:5432/cart",
        "example.com/mirror": f"https://mirror:{TEMPLATE_BASIC_URL.secret}@mirror.example.com/simple",
        "example.com/ci": f"cloned with {TEMPLATE_GITHUB.secret}",
    }
    container = template["spec"]["containers"][0]
    container["args"] = [
        "--db-password",
        ARGS_DB_PASSWORD.secret,
        f"--alert-hook=https://hooks.slack.com/services/{ARGS_SLACK_HOOK.secret}",
    ]
    container["command"] = ["/bin/cart", f"--token={COMMAND_TOKEN.secret}"]


def planted_scenario(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    pod = "cart-7d9f8b6c5-x2k4p"
    data["logs"][f"shop/{pod}/cart"] = LOG_TEXT
    deployment = next(o for o in data["cluster"] if o["kind"] == "Deployment")
    deployment["metadata"]["annotations"]["example.com/last-deploy"] = (
        f"by ci with token {c.JWT_GENERIC.secret} (github {c.GITHUB_OAUTH.secret})"
    )
    _plant_in_template(deployment["spec"]["template"])
    # The current ReplicaSet (revision 3) carries the planted template; the one before it did
    # not, so revision 3's change lines show the args and command.
    current = next(o for o in data["cluster"] if o["kind"] == "ReplicaSet")
    previous = copy.deepcopy(current)
    _plant_in_template(current["spec"]["template"])
    previous["metadata"]["name"] = "cart-6c8d7e5f4"
    previous["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "2"}
    previous["metadata"]["labels"]["pod-template-hash"] = "6c8d7e5f4"
    previous["spec"]["selector"]["matchLabels"]["pod-template-hash"] = "6c8d7e5f4"
    previous["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = "6c8d7e5f4"
    previous["spec"]["replicas"] = 0
    previous["status"] = {"replicas": 0}
    data["cluster"].append(previous)
    data["previous_logs"][f"shop/{pod}/cart"] = LOG_TEXT + HEADER_LINES
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


def database_rows(url: str) -> str:
    """Every row of every table, as text (a guard that the dump below reads the real tables)."""
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(
            f"{table}: {row}" for table in tables for row in connection.execute(f'SELECT * FROM "{table}"')
        )
    finally:
        connection.close()


async def console_and_api(settings: Settings, incident_id: str) -> dict[str, str]:
    """Every console page and API response that shows the incident, by path."""
    app = create_app(settings.model_copy(update={"console_token": CONSOLE_TOKEN}))
    bearer = {"Authorization": f"Bearer {CONSOLE_TOKEN}"}
    paths = [
        "/console/",
        f"/console/incidents/{incident_id}",
        f"/console/audit?incident={incident_id}",
        "/console/audit",
        "/api/incidents",
        f"/api/incidents/{incident_id}",
    ]
    bodies: dict[str, str] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        for path in paths:
            response = await http.get(path, headers=bearer)
            assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
            bodies[path] = response.text
    return bodies


def requests_to(httpserver: HTTPServer, path: str) -> list[str]:
    return [request.get_data(as_text=True) for request, _ in httpserver.log if request.path == path]


async def test_planted_secrets_never_reach_the_model_the_store_the_history_the_console_or_the_logs(
    time_skipping_env: WorkflowEnvironment,
    httpserver: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert len({p.kind for p in PLANTED}) >= 20
    path, data = planted_scenario(tmp_path)
    assert not leaks(json.dumps(restart_too()))
    httpserver.expect_request("/v1/messages", method="POST").respond_with_json(
        anthropic_tool_use(restart_too())
    )
    httpserver.expect_request(SLACK_PATH, method="POST").respond_with_data("ok")
    httpserver.expect_request(NOTIFY_PATH, method="POST").respond_with_data("ok")
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
            slack_webhook_url=httpserver.url_for(SLACK_PATH),
            notify_webhook_url=httpserver.url_for(NOTIFY_PATH),
            # the sandbox's policy: a signal's approver counts
            policy_dir=str(open_policy(tmp_path / "policy")),
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
    prompts = requests_to(httpserver, "/v1/messages")
    assert prompts and "[REDACTED:" in prompts[0]
    assert leaks("\n".join(prompts)) == []

    dump, rows = database_dump(database_url), database_rows(database_url)
    # The checks below read the real rows: the dry-run diff of the template and revision 3's
    # change lines are there, redacted.
    assert "template.annotations" in rows and "[REDACTED:vault_token]" in rows
    assert "--db-password" in rows and "[REDACTED:password]" in rows
    assert leaks(dump) == [] and leaks(rows) == []

    payloads = decoded_payloads(history)
    assert "OOMKilled" in payloads and "template.annotations" in payloads and "--db-password" in payloads
    assert leaks(payloads) == []

    pages = await console_and_api(settings, result.incident_id)
    assert "cart" in pages["/api/incidents"]
    assert {path: leaks(body) for path, body in pages.items() if leaks(body)} == {}

    notifications = requests_to(httpserver, SLACK_PATH) + requests_to(httpserver, NOTIFY_PATH)
    assert notifications, "the notification sinks were not reached"
    assert leaks("\n".join(notifications)) == []

    assert caplog.records, "the log check reads the run's real log records"
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {getattr(record, '__dict__', '')}"
        for record in caplog.records
    )
    assert leaks(logged) == []


# --- the GitOps path: what the pull request and its comments say --------------------------------

GITOPS_SCENARIO = SHARED_SCENARIOS / "oom-helm-values.yaml"
GITOPS_PLANTED = (*TEMPLATE_SECRETS, *REVISION_SECRETS, *HEADER_SECRETS)


def planted_gitops_scenario(tmp_path: Path) -> Path:
    data = yaml.safe_load(GITOPS_SCENARIO.read_text())
    deployment = next(o for o in data["cluster"] if o["kind"] == "Deployment")
    _plant_in_template(deployment["spec"]["template"])
    for key in data["previous_logs"]:
        data["previous_logs"][key] += HEADER_LINES
    for key in data["logs"]:
        data["logs"][key] += HEADER_LINES
    path = tmp_path / "planted-gitops.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def test_planted_secrets_never_reach_the_pull_request_of_a_gitops_fix(
    make_stack: Any, tmp_path: Path
) -> None:
    scenario = planted_gitops_scenario(tmp_path)
    home = tmp_path / ".medic-github"
    remote = home / "gitops.git"
    seed_bare_repo(remote, load_scenario(scenario).gitops)
    with SandboxGitHub(remote, token=GITHUB_TOKEN, owner="acme", name="gitops") as github:
        stack = await make_stack(
            scenario,
            home=str(home),
            github_token=GITHUB_TOKEN,
            github_repository=github.full_name,
            github_api_url=github.api_url,
            github_webhook_secret=WEBHOOK_SECRET,
            pr_poll_seconds=3600,
        )
        workflow_id = await post_alert(stack, scenario)
        handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
        await approve(handle, "alice")
        pr = await opened_pull_request(handle, 1)
        pull = github.pulls[pr.number]
        github.merge_as(pr.number, "carol")
        delivered = await deliver_webhook(stack, github, pr.number)
        assert delivered.status_code == 202, delivered.text
        result = await asyncio.wait_for(handle.result(), 120)
        history = (await handle.fetch_history()).to_json()
        log = git_log(stack.settings.gitops_repo_url)

    assert result.outcome == "resolved", result.reason
    pr_text = "\n".join([pull.title, pull.body, *(json.dumps(c) for c in pull.comments)])
    assert "```diff" in pr_text
    assert [p.kind for p in GITOPS_PLANTED for needle in p.search if needle in pr_text + log] == []
    payloads = decoded_payloads(history)
    assert "OOMKilled" in payloads and "[REDACTED:cookie]" in payloads  # the real payloads
    assert [p.kind for p in GITOPS_PLANTED for needle in p.search if needle in payloads] == []
    dump = database_dump(stack.settings.resolved_database_url)
    assert [p.kind for p in GITOPS_PLANTED for needle in p.search if needle in dump] == []


def git_log(repo: str) -> str:
    """Every commit message and patch of every branch of the GitOps remote."""
    return subprocess.run(
        ["git", "--git-dir", repo, "log", "--all", "-p"], capture_output=True, check=True, text=True
    ).stdout
