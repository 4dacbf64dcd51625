"""The console's pages: incidents, one incident (alert, diagnosis and evidence, plan diff, policy,
approvals, timeline, observation), decisions through the `decide` update, the audit trail; and
why first: the incident's one-line reason at the top of its page and in the list, what an open
incident is retrying, and a banner on every page while the model is unusable."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.testing import ActivityEnvironment

from activities.observe import ObserveActivities, ObserveInput
from cli.devserver import free_port
from cli.embedded import DEFAULT_SCENARIO
from domain.incident.alerts import AlertGroup
from domain.incident.model import incident_from_group
from domain.settings import Settings
from gateway.app import create_app
from gateway.auth import Principal, hash_password, upsert_user
from integrations.kubernetes import KubeClient
from sandbox.cluster import SandboxCluster
from sandbox.scenario import Scenario
from sandbox.server import SandboxServer
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.models import utcnow
from store.repositories import IncidentRepository
from tests.console_fixtures import (
    DENIED,
    DENIED_REASON,
    EVENT_ID,
    LOG_ID,
    METRIC_ID,
    PENDING,
    PLAN_HASH,
    POD_ID,
    RESOLVED,
    SCRIPT,
    FakeTemporal,
    console_login,
    seed,
)
from tests.console_html import Page
from tests.domain import redaction_corpus as c

TOKEN = "console-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    seed(url)
    return url


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    upsert_user(path, "sam", hash_password("sam-pw", iterations=1000), ["sre"])
    upsert_user(path, "dev", hash_password("dev-pw", iterations=1000), ["developers"])
    return path


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
def console(store_url: str, users_file: Path, temporal: FakeTemporal) -> Any:
    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(
            database_url=store_url,
            console_token=TOKEN,
            console_token_groups=("sre",),
            console_users_file=str(users_file),
            temporal_ui_url="http://temporal-ui.example:8080/",
            temporal_namespace="prod",
        ).model_copy(update=overrides)
        app = create_app(settings, temporal.factory)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            yield http

    return make


async def page(http: httpx.AsyncClient, path: str, headers: dict[str, str] = BEARER, **params: str) -> Page:
    # Only given params: httpx replaces a URL's own query with `params` (even an empty one).
    response = await http.get(path, headers=headers, params=params or None)
    assert response.status_code == 200, response.text
    return Page(response.text)


def listed(p: Page) -> list[str]:
    return [a.text for a in p.find("a", cls="incident-link")]


# ---- the incidents list ---------------------------------------------------------------------------


async def test_incidents_are_listed_newest_first_with_their_columns(console: Any) -> None:
    async with console() as http:
        p = await page(http, "/console/")
    assert listed(p) == [PENDING, RESOLVED, DENIED]
    link = p.find("a", cls="incident-link")[0]
    assert link.attrs["href"] == f"/console/incidents/{PENDING}"
    rows = [r.text for r in p.find("tr")]
    assert "awaiting_approval" in rows[1] and "shop/Deployment/cart" in rows[1] and "oom" in rows[1]
    assert "5m" in rows[1], "age"
    assert p.find("span", cls="risk-medium") and p.find("span", cls="risk-high")
    assert SCRIPT not in p.html and "&lt;script&gt;" in p.html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "awaiting_approval"}, [PENDING]),
        ({"status": "resolved"}, [RESOLVED]),
        ({"namespace": "shop"}, [PENDING, DENIED]),
        ({"risk": "high"}, [DENIED]),
        ({"namespace": "shop", "risk": "medium"}, [PENDING]),
        ({"namespace": "nowhere"}, []),
        ({"status": "", "namespace": "", "risk": ""}, [PENDING, RESOLVED, DENIED]),
    ],
)
async def test_incident_filters(console: Any, params: dict[str, str], expected: list[str]) -> None:
    async with console() as http:
        p = await page(http, "/console/", **params)
    assert listed(p) == expected
    if not expected:
        assert p.by_id("no-incidents") is not None
    for name, value in params.items():
        if value and name != "namespace":
            (selected,) = [o for o in p.find("option") if "selected" in o.attrs]
            assert selected.attrs["value"] == value


async def test_incidents_page_through(console: Any) -> None:
    async with console() as http:
        first = await page(http, "/console/", limit="2", namespace="")
        assert listed(first) == [PENDING, RESOLVED]
        older = first.by_id("older")
        assert older is not None and first.by_id("newer") is None
        second = await page(http, str(older.attrs["href"]))
    assert listed(second) == [DENIED]
    assert second.by_id("older") is None and second.by_id("newer") is not None


# ---- one incident -----------------------------------------------------------------------------------


async def test_incident_page_shows_alert_diagnosis_plan_policy_and_timeline(console: Any) -> None:
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}")
    assert p.text("incident-status") == "awaiting_approval"
    assert p.text("plan-hash") == PLAN_HASH
    assert p.one("a", id="temporal-link").attrs["href"] == (
        "http://temporal-ui.example:8080/namespaces/prod/workflows/incident-alert-aaaaaaaaaaaaaaaaaaaa"
    )
    alert = p.text("alert-0")
    assert "KubeContainerOOMKilled" in alert and "namespace shop" in alert and "cart was OOMKilled" in alert
    assert SCRIPT in alert, "shown as text"
    diagnosis = p.text("diagnosis")
    assert "oom" in diagnosis and "memory limit is too low" in diagnosis and "90%" in diagnosis
    assert "offline" in diagnosis and "OOMKilled (exit 137) 4 times" in diagnosis
    # The plan as a diff of the target's YAML: the current limit against the proposed one.
    diff = p.one("div", id="action-0")
    assert "set_resources" in diff.text and "shop/Deployment/cart:cart" in diff.text
    assert [d.text for d in p.find("span", cls="del")] == ["- memory: 128Mi"]
    assert [a.text for a in p.find("span", cls="add")] == ["+ memory: 256Mi"]
    assert "memory limit 128Mi → 256Mi" in diff.text
    policy = p.text("policy")
    assert "set_resources is medium risk" in policy and "medium" in policy
    assert p.text("approvals-required") == "1"
    assert p.text("approvers") == "group:sre, user:carol"
    timeline = p.text("timeline")
    assert "observing completed medic 1.2 s" in timeline and "analyzing completed medic 35 ms" in timeline


async def test_alert_and_cluster_text_is_escaped(console: Any) -> None:
    async with console() as http:
        response = await http.get(f"/console/incidents/{PENDING}", headers=BEARER)
    assert SCRIPT not in response.text
    assert (
        response.text.count("&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;") == 3
    )  # title, alert, event
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_every_evidence_link_points_at_an_item_of_the_observation(console: Any) -> None:
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}")
    links = p.find("a", cls="evidence-link")
    assert [a.text for a in links] == [POD_ID, EVENT_ID, LOG_ID, METRIC_ID]
    ids = p.ids()
    observation = p.by_id("observation")
    assert observation is not None
    for link in links:
        href = str(link.attrs["href"])
        assert href == f"#item-{link.text}"
        assert href[1:] in ids
    assert "CrashLoopBackOff" in p.text(f"item-{POD_ID}")
    assert "Back-off restarting" in p.text(f"item-{EVENT_ID}")
    assert "last 0.99" in p.text(f"item-{METRIC_ID}")
    assert p.find("polyline"), "a sparkline of the series"
    assert "no Argo CD Application manages it" in observation.text


async def test_approvals_so_far_are_listed(console: Any) -> None:
    async with console() as http:
        p = await page(http, f"/console/incidents/{RESOLVED}")
    (row,) = p.find("tr", cls="approval")
    assert row.text.startswith("alice approve looks right update")
    assert p.text("incident-status") == "resolved"
    assert p.by_id("approve") is None and p.by_id("decide") is None, "nothing to decide once closed"


async def test_unknown_incident_is_404(console: Any) -> None:
    async with console() as http:
        response = await http.get("/console/incidents/incident-alert-nope.00000000", headers=BEARER)
    assert response.status_code == 404


# ---- deciding -------------------------------------------------------------------------------------


async def test_an_allowed_user_sees_enabled_buttons(console: Any) -> None:
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}", headers=basic("sam", "sam-pw"))
    assert not p.one("button", id="approve").disabled and not p.one("button", id="reject").disabled
    assert not p.one("textarea", name="reason").disabled
    assert p.by_id("decide-refusal") is None
    assert p.value("plan_hash") == PLAN_HASH and p.value("csrf")


async def test_the_decision_shows_the_plans_impact_beside_it(console: Any) -> None:
    # Recorded before validate kept impacts: the page reviews the stored plan and observation.
    expected = (
        "Impact: +$0.00/month (OpenCost default list prices (GCP us-central1)); "
        "downtime: none found (rollout strategy not observed)"
    )
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}", headers=basic("sam", "sam-pw"))
        detail = (await http.get(f"/api/incidents/{PENDING}", headers=BEARER)).json()
    assert p.text("plan-impact") == expected
    # Beside the buttons, the same in two rows.
    assert p.text("decide-cost") == "+$0.00/month (OpenCost default list prices (GCP us-central1))"
    assert p.text("decide-downtime") == "none found (rollout strategy not observed)"
    assert "Impact: " + detail["impact"]["summary"] == expected


async def test_a_user_outside_the_approvers_sees_disabled_buttons_with_the_reason(console: Any) -> None:
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}", headers=basic("dev", "dev-pw"))
    assert p.one("button", id="approve").disabled and p.one("button", id="reject").disabled
    assert p.text("decide-refusal") == (
        "You cannot decide: dev is not allowed to decide on this plan; "
        "the policy allows: group:sre, user:carol"
    )


async def test_approve_calls_decide_as_the_logged_in_user(console: Any, temporal: FakeTemporal) -> None:
    temporal.moves_to = "dry_run"
    async with console() as http:
        await console_login(http, username="sam", password="sam-pw")
        form = await page(http, f"/console/incidents/{PENDING}", headers={})
        response = await http.post(
            f"/console/incidents/{PENDING}/decide",
            data={
                "csrf": form.value("csrf"),
                "plan_hash": form.value("plan_hash"),
                "decision": "approve",
                "reason": "limit is clearly too low",
                "approver": "mallory",  # ignored: the approver is whoever is logged in
                "groups": "admins",
            },
        )
    # Post/redirect/get: the browser is sent to the incident's page, which says what was decided.
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/console/incidents/{PENDING}?decided=approve"
    (decision,) = temporal.decisions
    assert decision.approver == "sam" and decision.groups == ["sre"]
    assert decision.channel == "console", "the gateway vouches for the logged-in user"
    assert (decision.decision, decision.reason, decision.plan_hash) == (
        "approve",
        "limit is clearly too low",
        PLAN_HASH,
    )
    # The form's page queries the status and asks what is being retried (describe); the
    # decision queries, updates and queries until the step moves on.
    assert temporal.workflow_ids == ["incident-alert-aaaaaaaaaaaaaaaaaaaa"] * 5
    async with console() as http:
        await console_login(http, username="sam", password="sam-pw")
        after = await page(http, response.headers["location"], headers={})
    result = after.one(id="decision-result")
    assert result.has_class("ok")
    assert (
        result.text
        == f"approve recorded for {PENDING} (plan {PLAN_HASH}) by sam; 1/1 approvals; step: dry_run"
    )
    # The step the workflow went on to, not the store's awaiting_approval; nothing left to decide.
    assert after.text("incident-status") == "dry_run"
    assert after.by_id("decide") is None and after.by_id("approve") is None
    assert "sam approve limit is clearly too low" in after.text("approvals")
    (refresh,) = [m for m in after.find("meta") if m.attrs.get("http-equiv") == "refresh"]
    assert refresh.attrs["content"] == "5", "the page follows the workflow while nobody waits on it"


async def test_reject_through_a_bearer_token(console: Any, temporal: FakeTemporal) -> None:
    async with console() as http:
        form = await page(http, f"/console/incidents/{PENDING}")
        response = await http.post(
            f"/console/incidents/{PENDING}/decide",
            headers=BEARER,
            data={"csrf": form.value("csrf"), "plan_hash": PLAN_HASH, "decision": "reject", "reason": "no"},
        )
    assert response.status_code == 303
    assert [(d.approver, d.decision) for d in temporal.decisions] == [("admin", "reject")]


async def test_refusal_by_the_workflow_is_shown_with_its_reason(console: Any, temporal: FakeTemporal) -> None:
    temporal.refuse = "dev is not allowed to decide on this plan; the policy allows: group:sre, user:carol"
    async with console() as http:
        headers = basic("dev", "dev-pw")
        form = await page(http, f"/console/incidents/{PENDING}", headers=headers)
        response = await http.post(
            f"/console/incidents/{PENDING}/decide",
            headers=headers,
            data={"csrf": form.value("csrf"), "plan_hash": PLAN_HASH, "decision": "approve"},
        )
    assert response.status_code == 409
    result = Page(response.text).one(id="decision-result")
    assert result.has_class("refused")
    assert result.text == f"refused: {temporal.refuse}"
    assert [d.groups for d in temporal.decisions] == [["developers"]]


async def test_decision_on_a_closed_run_is_refused(console: Any, temporal: FakeTemporal) -> None:
    temporal.incident_id = "incident-alert-aaaaaaaaaaaaaaaaaaaa.99999999"
    async with console() as http:
        form = await page(http, f"/console/incidents/{PENDING}")
        response = await http.post(
            f"/console/incidents/{PENDING}/decide",
            headers=BEARER,
            data={"csrf": form.value("csrf"), "plan_hash": PLAN_HASH, "decision": "approve"},
        )
    assert response.status_code == 409
    assert "is closed; its alert group's incident now is" in Page(response.text).text("decision-result")
    assert temporal.decisions == []


@pytest.mark.parametrize("csrf", [None, "", "forged", "other-session"])
async def test_decide_without_the_right_csrf_token_is_403_and_decides_nothing(
    console: Any, temporal: FakeTemporal, csrf: str | None
) -> None:
    async with console() as http:
        await console_login(http, username="sam", password="sam-pw")
        if csrf == "other-session":
            # A valid token of another session (a token login) is not this session's.
            async with console() as other:
                await console_login(other, token=TOKEN)
                csrf = (await page(other, "/console/", headers={})).value("csrf")
        data = {"plan_hash": PLAN_HASH, "decision": "approve"} | ({"csrf": csrf} if csrf is not None else {})
        response = await http.post(f"/console/incidents/{PENDING}/decide", data=data)
    assert response.status_code == 403
    assert "nothing was decided" in response.text
    assert temporal.decisions == [] and temporal.workflow_ids == []


async def test_an_unknown_decision_is_400(console: Any, temporal: FakeTemporal) -> None:
    async with console() as http:
        form = await page(http, f"/console/incidents/{PENDING}")
        response = await http.post(
            f"/console/incidents/{PENDING}/decide",
            headers=BEARER,
            data={"csrf": form.value("csrf"), "decision": "maybe"},
        )
    assert response.status_code == 400 and temporal.decisions == []


async def test_decide_when_temporal_is_down_is_503(console: Any, store_url: str) -> None:
    async def unreachable() -> Any:
        raise RuntimeError("connection refused")

    app = create_app(Settings(database_url=store_url, console_token=TOKEN), unreachable)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        form = await page(http, f"/console/incidents/{PENDING}")
        response = await http.post(
            f"/console/incidents/{PENDING}/decide",
            headers=BEARER,
            data={"csrf": form.value("csrf"), "decision": "approve"},
        )
    assert response.status_code == 503
    assert "cannot reach Temporal" in Page(response.text).text("decision-result")


# ---- the audit trail ------------------------------------------------------------------------------


async def test_audit_trail_newest_first_with_filters(console: Any) -> None:
    async with console() as http:
        everything = await page(http, "/console/audit")
        steps = [e.text for e in everything.find("td", cls="step")]
        assert len(steps) == 9
        assert steps[0] == "awaiting_approval" and steps[-1] == "closed", "newest first"
        incidents = [a.text for a in everything.find("a", cls="incident-link")]
        assert incidents[0] == PENDING and incidents[-1] == DENIED

        by_incident = await page(http, "/console/audit", incident=RESOLVED, order="incident")
        assert [e.text for e in by_incident.find("td", cls="step")] == ["received", "decision", "closed"]

        by_actor = await page(http, "/console/audit", actor="alice")
        assert [e.text for e in by_actor.find("td", cls="step")] == ["decision"]

        by_step = await page(http, "/console/audit", step="closed")
        assert [e.text for e in by_step.find("td", cls="status")] == ["resolved", "needs_review"]

        by_status = await page(http, "/console/audit", status="completed", incident=PENDING)
        assert len(by_status.find("td", cls="step")) == 4

        limited = await page(http, "/console/audit", limit="2")
        assert len(limited.find("td", cls="step")) == 2

        nothing = await page(http, "/console/audit", actor="nobody")
        assert nothing.by_id("no-events") is not None


# ---- the stored observation is the redacted one --------------------------------------------------


async def test_the_page_shows_the_redacted_observation_observe_stored(
    tmp_path: Path, users_file: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'observed.db'}"
    migrate.upgrade(url)
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    planted = f"starting with {c.VAULT.secret} and aws_secret_access_key = {c.AWS_SECRET.secret}"
    data["previous_logs"]["shop/cart-7d9f8b6c5-x2k4p/cart"] = planted
    incident = incident_from_group("incident-alert-observed", AlertGroup.model_validate(data["alert"]))
    incident = incident.model_copy(update={"id": "incident-alert-observed.0a0b0c0d"})
    sessions = session_factory(make_engine(url))
    with transaction(sessions) as session:
        IncidentRepository(session).upsert(incident.id, title="observed", status="observing")

    with SandboxServer(SandboxCluster(Scenario.model_validate(data))) as server:
        kube = KubeClient.from_settings(server.url)
        try:
            activities = ObserveActivities(kube, sessions=sessions)
            returned = ActivityEnvironment().run(activities.observe_incident, ObserveInput(incident=incident))
            # A retried attempt writes again, idempotently.
            ActivityEnvironment().run(activities.observe_incident, ObserveInput(incident=incident))
        finally:
            kube.close()

    with transaction(sessions) as session:
        stored = IncidentRepository(session).get(incident.id)
        assert stored is not None and stored.status == "observing", "only the observation was written"
        assert stored.observation == returned.model_dump(mode="json")

    app = create_app(Settings(database_url=url, console_token=TOKEN), FakeTemporal().factory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        response = await http.get(f"/console/incidents/{incident.id}", headers=BEARER)
    assert response.status_code == 200
    p = Page(response.text)
    log = p.text("item-log-previous/shop/cart-7d9f8b6c5-x2k4p/cart")
    assert "[REDACTED:" in log
    assert c.VAULT.secret not in response.text and c.AWS_SECRET.secret not in response.text
    assert p.by_id("item-workload/shop/Deployment/cart") is not None


# ---- why, first ----------------------------------------------------------------------------------

REFUSED = (
    "model unusable: anthropic refused the API key (HTTP 401 authentication_error: invalid x-api-key); "
    "diagnosed by the offline rules"
)
DEAD_API = "observe: the Kubernetes API at https://10.0.0.1:6443 refused the connection"


def add_incident(url: str, incident_id: str, ago: timedelta, **fields: Any) -> None:
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            IncidentRepository(session).upsert(incident_id, created_at=utcnow() - ago, **fields)
    finally:
        engine.dispose()


def position(p: Page, **kwargs: str) -> int:
    (element,) = p.find(**kwargs)
    return p.elements.index(element)


async def test_the_reason_is_the_first_thing_under_the_incidents_heading(console: Any) -> None:
    async with console() as http:
        p = await page(http, f"/console/incidents/{DENIED}")
    assert p.text("incident-reason") == f"needs_review: {DENIED_REASON}"
    assert p.one(id="incident-reason").has_class("status-needs_review")
    # Before the title, the summary table and everything else.
    assert position(p, tag="h1") < position(p, id="incident-reason") < position(p, cls="title")
    assert position(p, id="incident-reason") < position(p, tag="table", cls="summary")


async def test_the_list_shows_each_incidents_reason(console: Any) -> None:
    async with console() as http:
        p = await page(http, "/console/")
    reasons = {
        row_id: cell.text
        for row_id, cell in zip(
            [a.text for a in p.find("a", cls="incident-link")], p.find("td", cls="reason"), strict=True
        )
    }
    assert reasons == {PENDING: "", RESOLVED: "verification passed", DENIED: DENIED_REASON}


async def test_the_api_carries_the_reason(console: Any) -> None:
    async with console() as http:
        detail = (await http.get(f"/api/incidents/{DENIED}", headers=BEARER)).json()
        listed = (await http.get("/api/incidents", headers=BEARER)).json()["incidents"]
    assert detail["reason"] == DENIED_REASON and detail["model_unusable"] is None
    assert {i["id"]: i["reason"] for i in listed}[RESOLVED] == "verification passed"


async def test_an_open_incident_shows_what_it_is_retrying_and_why(
    console: Any, temporal: FakeTemporal
) -> None:
    temporal.retrying = DEAD_API
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}")
    assert p.text("incident-retrying") == (
        "awaiting_approval, still open: retrying observe_incident (attempt 4); "
        f"the last attempt failed: {DEAD_API}"
    )
    assert position(p, id="incident-retrying") < position(p, cls="title")


async def test_nothing_retried_shows_no_retrying_line_and_a_closed_incident_asks_nothing(
    console: Any, temporal: FakeTemporal
) -> None:
    async with console() as http:
        open_page = await page(http, f"/console/incidents/{PENDING}")
        asked = len(temporal.workflow_ids)
        closed_page = await page(http, f"/console/incidents/{DENIED}")
    assert open_page.by_id("incident-retrying") is None and asked == 2, "status and describe"
    assert closed_page.by_id("incident-retrying") is None and len(temporal.workflow_ids) == asked


async def test_an_open_incident_with_temporal_down_says_so_and_the_page_still_works(
    console: Any, temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable() -> Any:
        raise RuntimeError("Failed client connect: connection refused")

    monkeypatch.setattr(temporal, "factory", unreachable)
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}")
    assert p.text("incident-retrying") == (
        "awaiting_approval, still open: unknown: cannot reach Temporal: "
        "Failed client connect: connection refused"
    )


async def test_every_page_shows_the_banner_while_the_latest_analysis_found_the_model_unusable(
    console: Any, store_url: str
) -> None:
    add_incident(
        store_url,
        "incident-alert-fallback.0badc0de",
        timedelta(minutes=1),
        status="needs_review",
        diagnosis={"root_cause": "oom", "summary": "s", "analyzer": "offline"},
        model_unusable=REFUSED,
    )
    async with console() as http:
        pages = [
            await page(http, "/console/"),
            await page(http, "/console/audit"),
            await page(http, f"/console/incidents/{DENIED}"),
        ]
        fallback = await page(http, "/console/incidents/incident-alert-fallback.0badc0de")
    for p in pages:
        banner = p.one(id="model-unusable-banner")
        assert REFUSED in banner.text and "incident-alert-fallback.0badc0de" in banner.text
        assert position(p, id="model-unusable-banner") < position(p, tag="h1")
    assert fallback.text("incident-model-unusable") == f"model: {REFUSED}"


async def test_the_banner_goes_once_the_model_answers_again_or_the_window_passes(
    console: Any, store_url: str
) -> None:
    offline = {"root_cause": "oom", "summary": "s", "analyzer": "offline"}
    add_incident(
        store_url,
        "incident-alert-old.0badc0de",
        timedelta(hours=2),
        diagnosis=offline,
        model_unusable=REFUSED,
    )
    async with console() as http:
        assert (await page(http, "/console/")).by_id("model-unusable-banner") is None
    add_incident(
        store_url,
        "incident-alert-new.0badc0de",
        timedelta(minutes=3),
        diagnosis=offline,
        model_unusable=REFUSED,
    )
    add_incident(
        store_url,
        "incident-alert-back.0badc0de",
        timedelta(minutes=1),
        diagnosis={"root_cause": "oom", "summary": "s", "analyzer": "anthropic"},
    )
    async with console() as http:
        assert (await page(http, "/console/")).by_id("model-unusable-banner") is None


# ---- what to do next ------------------------------------------------------------------------------

NEEDS_REVIEW = "incident-alert-cccccccccccccccccccc.0123abcd"
STEPS = [
    "Read the kubelet's message: `kubectl -n shop describe pod cart-7d9f8b6c5-x2k4p` (Events).",
    f"Create the missing key in ConfigMap cart-env {SCRIPT}; the pods start on their own.",
]


def _seed_needs_review(url: str, diagnosis: dict[str, Any]) -> None:
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            IncidentRepository(session).upsert(
                NEEDS_REVIEW,
                title="cart CreateContainerConfigError",
                status="needs_review",
                outcome="needs_review",
                root_cause="config_error",
                namespace="shop",
                target="shop/Deployment/cart",
                reason="no automatic fix for config_error",
                diagnosis=diagnosis,
            )
    finally:
        engine.dispose()


async def test_incident_page_says_what_to_do_next_above_the_evidence(console: Any, store_url: str) -> None:
    _seed_needs_review(
        store_url,
        {
            "root_cause": "config_error",
            "summary": "cart's containers cannot be created",
            "explanation": "couldn't find key DATABASE_URL in ConfigMap shop/cart-env\"",
            "evidence": [{"item_id": POD_ID, "note": "CreateContainerConfigError"}],
            "next_steps": STEPS,
        },
    )
    async with console() as http:
        response = await http.get(f"/console/incidents/{NEEDS_REVIEW}", headers=BEARER)
    assert response.status_code == 200
    p = Page(response.text)
    listed = [e for e in p.find("li") if "kubelet's message" in e.text or "missing key" in e.text]
    assert [e.text for e in listed] == [
        "Read the kubelet's message: kubectl -n shop describe pod cart-7d9f8b6c5-x2k4p (Events).",
        f"Create the missing key in ConfigMap cart-env {SCRIPT}; the pods start on their own.",
    ]
    assert p.one("section", id="next-steps").text.startswith("What to do next")
    html = response.text
    # near the top: after the reason line, before the alert, the diagnosis and its evidence
    assert html.index('id="incident-reason"') < html.index('id="next-steps"') < html.index('id="alert"')
    assert html.index('id="next-steps"') < html.index('id="evidence"')
    assert "<code>kubectl -n shop describe pod cart-7d9f8b6c5-x2k4p</code>" in html
    assert SCRIPT not in html and "&lt;script&gt;" in html  # the rest of a step is escaped


async def test_an_incident_recorded_without_next_steps_still_renders(console: Any, store_url: str) -> None:
    _seed_needs_review(store_url, {"root_cause": "config_error", "summary": "recorded before next steps"})
    async with console() as http:
        p = await page(http, f"/console/incidents/{NEEDS_REVIEW}")
        pending = await page(http, f"/console/incidents/{PENDING}")
    assert p.by_id("next-steps") is None and "recorded before next steps" in p.text("diagnosis")
    assert pending.by_id("next-steps") is None


@pytest.mark.parametrize("temporal", ["silent", "refusing"])
async def test_a_decision_while_temporal_is_unreachable_is_a_fast_503_with_the_reason(
    store_url: str, temporal: str
) -> None:
    """Console form and JSON API alike: answered within the gateway's Temporal budget, not after the
    client's own ~10 s of retries, with the reason in one line and a Retry-After."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        port = silent.getsockname()[1] if temporal == "silent" else free_port()
        settings = Settings(
            database_url=store_url,
            console_token=TOKEN,
            console_token_groups=("sre",),
            temporal_address=f"127.0.0.1:{port}",
            webhook_temporal_timeout_seconds=0.5,
        )
        app = create_app(settings)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            # The token the incident page's form carries (that page would ask Temporal for 2 s first).
            csrf = app.state.console_auth.csrf_token(Principal(name="admin", groups=("sre",), via="token"))
            started = time.monotonic()
            from_form = await http.post(
                f"/console/incidents/{PENDING}/decide",
                headers=BEARER,
                data={"csrf": csrf, "decision": "approve"},
            )
            form_took = time.monotonic() - started
            started = time.monotonic()
            from_api = await http.post(
                f"/api/incidents/{PENDING}/decide", headers=BEARER, json={"decision": "approve"}
            )
            api_took = time.monotonic() - started
    assert (from_form.status_code, from_api.status_code) == (503, 503)
    # Well under the client's own ~10 s, with room for a loaded machine.
    assert form_took < 2.5 and api_took < 2.5, (form_took, api_took)
    assert from_form.headers["retry-after"] == from_api.headers["retry-after"] == "5"
    reason = from_api.json()["error"]
    assert Page(from_form.text).text("decision-result").endswith(reason)
    assert ("within 0.5 s" in reason) if temporal == "silent" else ("Temporal" in reason)
    assert "\n" not in reason


# ---- the decision view ------------------------------------------------------------------------------


async def test_the_decision_panel_says_what_is_approved_beside_the_buttons_above_the_evidence(
    console: Any,
) -> None:
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}", headers=basic("sam", "sam-pw"))
    panel = p.one("section", id="decide")
    assert p.text("plan-sentence") == (
        "Change memory limit 128Mi → 256Mi of shop/Deployment/cart (container cart), directly in the cluster."
    )
    assert "- memory: 128Mi" in p.text("decide-diff") and "+ memory: 256Mi" in p.text("decide-diff")
    assert p.text("decide-risk") == "medium set_resources is medium risk"
    assert p.text("decide-approvals") == "0 of 1"
    assert p.text("decide-approvers") == "group:sre, user:carol (1 more needed)"
    assert p.text("decide-plan-hash") == PLAN_HASH
    # In reading order: the sentence, the diff, risk, approvals, the form; all before the evidence.
    order = ["plan-sentence", "decide-diff", "decide-risk", "decide-approvals", "decide-form", "evidence"]
    assert [position(p, id=i) for i in order] == sorted(position(p, id=i) for i in order)
    assert position(p, tag="h1") < p.elements.index(panel) < position(p, id="incident-summary")
    # The diff is shown once, in the panel; the rest of the page is folded.
    assert len(p.find("span", cls="add")) == 1
    folded = p.find("details", cls="section")
    assert len(folded) == 7 and not any("open" in d.attrs for d in folded)
    assert p.one("textarea", id="decide-reason").attrs["name"] == "reason"
    assert [label.attrs.get("for") for label in p.find("label")] == ["decide-reason"]
    assert not [m for m in p.find("meta") if m.attrs.get("http-equiv") == "refresh"], (
        "nobody waits on a reload"
    )


async def test_a_failed_incident_says_why_at_the_top_with_the_details_folded(
    console: Any, store_url: str
) -> None:
    failed = "incident-alert-dddddddddddddddddddd.0f0f0f0f"
    reason = "execute failed: the Kubernetes API refused the patch (gave up after 5 attempts)"
    add_incident(
        store_url,
        failed,
        timedelta(minutes=30),
        title="KubeContainerOOMKilled",
        status="failed",
        outcome="failed",
        reason=reason,
        diagnosis=diagnosis_document(),
    )
    async with console() as http:
        p = await page(http, f"/console/incidents/{failed}")
        review = await page(http, f"/console/incidents/{DENIED}")
    assert p.text("incident-reason") == f"failed: {reason}"
    assert p.one(id="incident-reason").has_class("status-failed")
    assert position(p, tag="h1") < position(p, id="incident-reason") < position(p, cls="title")
    assert position(p, id="incident-reason") < position(p, id="incident-summary")
    assert position(p, id="incident-reason") < position(p, id="evidence")
    assert p.by_id("decide") is None
    assert review.text("incident-reason") == f"needs_review: {DENIED_REASON}"
    assert position(review, id="incident-reason") < position(review, id="diagnosis")


async def test_the_decision_waits_briefly_for_the_workflow_to_move_on(
    console: Any, temporal: FakeTemporal
) -> None:
    # The workflow records the decision before it leaves awaiting_approval: three queries still
    # show it waiting, with the round complete.
    temporal.moves_to, temporal.settles_after = "executing", 3
    async with console() as http:
        form = await page(http, f"/console/incidents/{PENDING}")
        response = await http.post(
            f"/console/incidents/{PENDING}/decide",
            headers=BEARER,
            data={"csrf": form.value("csrf"), "plan_hash": PLAN_HASH, "decision": "approve"},
        )
        assert response.status_code == 303
        after = await page(http, response.headers["location"])
    assert temporal.queries_after_decision == 5, "three waiting, the one that moved, the page's"
    assert after.text("incident-status") == "executing"
    assert after.text("decision-result").endswith("1/1 approvals; step: executing")


async def test_a_decided_link_without_a_decision_says_nothing(console: Any) -> None:
    async with console() as http:
        p = await page(http, f"/console/incidents/{PENDING}", decided="approve")
    assert p.by_id("decision-result") is None, "the query parameter alone proves nothing"
    assert p.by_id("decide") is not None


def diagnosis_document() -> dict[str, Any]:
    from tests.console_fixtures import diagnosis

    return diagnosis().model_dump(mode="json")
