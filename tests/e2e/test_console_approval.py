"""The console on the embedded stack: log in over HTTP, open the waiting incident of the demo
scenario, decide through the console's form, and see the outcome and the recorded approval."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.embedded import DEFAULT_SCENARIO, Stack, describe
from gateway.auth import hash_password, upsert_user
from policies import POLICY_DIR
from store.db import make_engine, session_factory, transaction
from store.repositories import ApprovalRepository
from tests.conftest import wait_for_step
from tests.console_fixtures import console_login
from tests.console_html import Page
from tests.e2e.test_remediation_loop import post_alert
from workflows.remediation import RemediationWorkflow

pytestmark = pytest.mark.e2e


async def incident_page(http: httpx.AsyncClient, incident_id: str, **headers: str) -> Page:
    response = await http.get(f"/console/incidents/{incident_id}", headers=headers)
    assert response.status_code == 200, response.text
    return Page(response.text)


async def wait_for_status(
    http: httpx.AsyncClient, incident_id: str, status: str, timeout: float = 60.0, **headers: str
) -> Page:
    """Reload the incident's page until `#incident-status` reads `status`, with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        page = await incident_page(http, incident_id, **headers)
        if page.text("incident-status") == status:
            return page
        assert loop.time() < deadline, f"incident stayed {page.text('incident-status')}, expected {status}"
        await asyncio.sleep(0.2)


async def decide(
    http: httpx.AsyncClient, page: Page, incident_id: str, decision: str, reason: str
) -> httpx.Response:
    return await http.post(
        f"/console/incidents/{incident_id}/decide",
        data={
            "csrf": page.value("csrf"),
            "plan_hash": page.value("plan_hash"),
            "decision": decision,
            "reason": reason,
        },
    )


def approvals(stack: Stack, incident_id: str) -> list[tuple[str, str, str, str]]:
    sessions = session_factory(make_engine(stack.settings.resolved_database_url))
    with transaction(sessions) as session:
        return [
            (a.approver, a.decision, a.via, a.plan_hash)
            for a in ApprovalRepository(session).list(incident_id)
        ]


async def test_token_login_and_approval_in_the_console_resolve_the_demo_incident(make_stack: Any) -> None:
    stack = await make_stack(DEFAULT_SCENARIO)
    token_file = Path(stack.console_token_file)
    assert stack.console_token and token_file.read_text().strip() == stack.console_token
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert any(
        f"{stack.gateway_url}/console/" in line and str(token_file) in line for line in describe(stack)
    )

    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")
    incident_id = waiting.incident_id

    async with httpx.AsyncClient(base_url=stack.gateway_url) as http:
        assert (await http.get("/console/")).status_code == 303, "the console needs a login"
        login = await console_login(http, token=stack.console_token)
        assert login.status_code == 303, login.text

        listing = Page((await http.get("/console/")).text)
        assert incident_id in [a.text for a in listing.find("a", cls="incident-link")]

        page = await wait_for_status(http, incident_id, "awaiting_approval")
        assert page.value("plan_hash") == waiting.plan_hash
        assert not page.one("button", id="approve").disabled
        # The evidence points at what observe stored for this incident.
        links = page.find("a", cls="evidence-link")
        assert links and all(str(a.attrs["href"])[1:] in page.ids() for a in links)
        assert "- memory: 128Mi" in page.text("action-0") and "+ memory: 256Mi" in page.text("action-0")

        answer = await decide(http, page, incident_id, "approve", "the limit is too low")
        assert answer.status_code == 303, answer.text
        after = await http.get(answer.headers["location"])
        result = Page(after.text).one(id="decision-result")
        assert result.has_class("ok") and "1/1 approvals" in result.text

        outcome = await asyncio.wait_for(handle.result(), 90)
        assert outcome.outcome == "resolved", outcome.reason
        await wait_for_status(http, incident_id, "resolved")

    assert approvals(stack, incident_id) == [("admin", "approve", "update", waiting.plan_hash)]


def sre_only_policy(directory: Path) -> Path:
    """The packaged policy, with approver rules that let only the group sre decide."""
    shutil.copytree(POLICY_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data_file = directory / "data.json"
    data = json.loads(data_file.read_text())
    data["medic"]["config"]["approvers"] = [
        {"principals": ["group:sre"], "namespaces": ["*"], "max_risk": "high"}
    ]
    data_file.write_text(json.dumps(data))
    return directory


async def test_only_the_policys_approvers_may_decide_in_the_console(make_stack: Any, tmp_path: Path) -> None:
    users = tmp_path / "users"
    upsert_user(users, "dev", hash_password("dev-pw", iterations=1000), ["developers"])
    upsert_user(users, "sam", hash_password("sam-pw", iterations=1000), ["sre"])
    stack = await make_stack(
        DEFAULT_SCENARIO, policy_dir=str(sre_only_policy(tmp_path / "policy")), console_users_file=str(users)
    )
    assert stack.console_token == "", "a users file is configured: no token is made"
    workflow_id = await post_alert(stack, DEFAULT_SCENARIO)
    handle = stack.client.get_workflow_handle_for(RemediationWorkflow.run, workflow_id)
    waiting = await wait_for_step(handle, "awaiting_approval")
    incident_id = waiting.incident_id
    assert waiting.policy is not None and waiting.policy.approvers == ["group:sre"]

    async with httpx.AsyncClient(base_url=stack.gateway_url) as dev:
        assert (await console_login(dev, username="dev", password="dev-pw")).status_code == 303
        page = await wait_for_status(dev, incident_id, "awaiting_approval")
        assert page.one("button", id="approve").disabled and page.one("button", id="reject").disabled
        reason = "dev is not allowed to decide on this plan; the policy allows: group:sre"
        assert page.text("decide-refusal") == f"You cannot decide: {reason}"
        # Past the disabled button, the workflow's own validator refuses it.
        refused = await decide(dev, page, incident_id, "approve", "let me")
        assert refused.status_code == 409
        result = Page(refused.text).one(id="decision-result")
        assert result.has_class("refused") and result.text == f"refused: {reason}"

    async with httpx.AsyncClient(base_url=stack.gateway_url) as sam:
        assert (await console_login(sam, username="sam", password="sam-pw")).status_code == 303
        page = await incident_page(sam, incident_id)
        assert not page.one("button", id="approve").disabled
        approved = await decide(sam, page, incident_id, "approve", "sre says yes")
        assert approved.status_code == 303, approved.text
        outcome = await asyncio.wait_for(handle.result(), 90)
        assert outcome.outcome == "resolved", outcome.reason

    assert approvals(stack, incident_id) == [("sam", "approve", "update", waiting.plan_hash)]
