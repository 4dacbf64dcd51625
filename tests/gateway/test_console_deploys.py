"""The console's deploys: the list (newest first, filtered by Application and state, linking each
watch and its incident), one watch's page at a path holding the watch id's slashes (quoted or
not) — the workloads watched and why, signals before and after, the rules that fired with their
numbers, the commits — everything escaped, behind the same authentication as every console page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.deploy.model import FiredRule, Signals, Verdict, WorkloadFigures, WorkloadRef, deploy_watch_id
from domain.settings import Settings
from gateway.app import create_app
from gateway.auth import hash_password, upsert_user
from gateway.deploy_views import deploy_path
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.deployments import DeploymentRepository
from tests.console_fixtures import FakeTemporal
from tests.console_html import Page

TOKEN = "console-deploys-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SCRIPT = "<script>alert('deploy')</script>"
CART = WorkloadRef(namespace="shop", kind="Deployment", name="cart")
CART_WATCH = deploy_watch_id("argocd", "shop-cart", "4f2c9e1b7a3d" + "0" * 28)
LEDGER_WATCH = deploy_watch_id("argocd", "payments-ledger", "a" * 40)
OLD_WATCH = deploy_watch_id("argocd", "shop-cart", "9" * 40)


def degraded() -> Verdict:
    before = Signals(request_rate=20, error_ratio=0.001, p99_ms=180, restarts=0, ready_ratio=1)
    after = before.model_copy(update={"error_ratio": 0.021})
    return Verdict(
        state="degraded",
        summary="deploy 4f2c9e1 of shop-cart raised the error ratio",
        fired=[
            FiredRule(
                rule="error_ratio",
                workload=CART,
                baseline=0.001,
                observed=0.021,
                threshold="≥3× and ≥1.00%",
                message=f"error ratio 2.10% vs 0.10% before {SCRIPT}",
            )
        ],
        health="Healthy",
        figures=[WorkloadFigures(workload=CART, baseline=before, after=after, state="degraded")],
    )


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('deploys') / 'medic.db'}"
    migrate.upgrade(url)
    now = datetime.now(UTC)
    with transaction(session_factory(make_engine(url))) as session:
        deploys = DeploymentRepository(session)
        deploys.start(
            OLD_WATCH, application="shop-cart", revision="9" * 40, started_at=now - timedelta(days=1)
        )
        deploys.finish(OLD_WATCH, "verified", "deploy 9999999 of shop-cart is healthy", {})
        deploys.start(
            LEDGER_WATCH,
            application="payments-ledger",
            revision="a" * 40,
            source="poll",
            started_at=now - timedelta(minutes=30),
        )
        deploys.start(
            CART_WATCH,
            application="shop-cart",
            project="shop",
            revision="4f2c9e1b7a3d" + "0" * 28,
            previous_revision="9" * 40,
            started_at=now - timedelta(minutes=12),
        )
        deploys.planned(
            CART_WATCH,
            {
                "watch": {
                    "selection": "changed",
                    "changed": {CART.label: [f"its manifest changed {SCRIPT}"]},
                    "others": ["Service shop/cart"],
                    "note": "watching the 1 of 2 workload(s) the revision changed",
                }
            },
        )
        deploys.finish(
            CART_WATCH,
            "degraded",
            f"deploy 4f2c9e1 of shop-cart raised the error ratio {SCRIPT}",
            {
                "commits": [f"4f2c9e1 bump cart {SCRIPT}"],
                "workloads": [CART.label],
                "verdict": degraded().model_dump(mode="json"),
            },
            incident_id="incident-deploy-cart",
        )
    return url


@pytest.fixture
def console(store_url: str, tmp_path: Path) -> Any:
    users = tmp_path / "users"
    upsert_user(users, "dev", hash_password("dev-pw", iterations=1000), ["developers"])

    @asynccontextmanager
    async def make() -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(
            database_url=store_url,
            console_token=TOKEN,
            console_token_groups=("sre",),
            console_users_file=str(users),
        )
        app = create_app(settings, FakeTemporal().factory)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            yield http

    return make


async def page(http: httpx.AsyncClient, path: str, **params: str) -> Page:
    response = await http.get(path, headers=BEARER, params=params or None)
    assert response.status_code == 200, response.text
    return Page(response.text)


def listed(p: Page) -> list[str]:
    return [a.text for a in p.find("a", cls="deploy-link")]


async def test_deploys_are_listed_newest_first_with_their_columns(console: Any) -> None:
    async with console() as http:
        p = await page(http, "/console/deploys")
    assert listed(p) == ["4f2c9e1", "aaaaaaa", "9999999"]
    assert p.find("a", cls="deploy-link")[0].attrs["href"] == deploy_path(CART_WATCH)
    first = p.find("tr")[1].text
    assert "shop-cart" in first and "notification" in first and "degraded" in first and "12m" in first
    assert "raised the error ratio" in first
    (incident,) = p.find("a", cls="incident-link")
    assert incident.attrs["href"] == "/console/incidents/incident-deploy-cart"
    assert "poll" in p.find("tr")[2].text and "watching" in p.find("tr")[2].text
    assert any(a.attrs.get("href") == "/console/deploys" for a in p.find("a")), "the nav link"
    assert SCRIPT not in p.html and "&lt;script&gt;" in p.html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"application": "shop-cart"}, ["4f2c9e1", "9999999"]),
        ({"state": "watching"}, ["aaaaaaa"]),
        ({"application": "shop-cart", "state": "verified", "limit": "5"}, ["9999999"]),
    ],
)
async def test_deploys_are_filtered(console: Any, params: dict[str, str], expected: list[str]) -> None:
    async with console() as http:
        assert listed(await page(http, "/console/deploys", **params)) == expected


@pytest.mark.parametrize("path", [deploy_path(CART_WATCH), f"/console/deploys/{CART_WATCH}"])
async def test_a_watch_page_shows_what_was_watched_and_why_it_was_judged_so(console: Any, path: str) -> None:
    async with console() as http:
        p = await page(http, path)
    assert "raised the error ratio" in p.text("deploy-summary")
    assert "incident-deploy-cart" in p.text("deploy-incident")
    fired = p.text("fired")
    assert "error_ratio" in fired and "0.001" in fired and "0.021" in fired and "≥3× and ≥1.00%" in fired
    watched = p.text("watched")
    assert CART.label in watched and "its manifest changed" in watched and "Service shop/cart" in watched
    assert "watching the 1 of 2 workload(s) the revision changed" in p.text("watch-note")
    figures = p.text("figures")
    assert "0.10%" in figures and "2.10%" in figures and "180 ms" in figures
    assert "4f2c9e1 bump cart" in p.text("commits")
    assert SCRIPT not in p.html


async def test_a_watch_still_running_shows_what_it_has(console: Any) -> None:
    async with console() as http:
        p = await page(http, deploy_path(LEDGER_WATCH))
    assert "still watching" in p.text("deploy-facts") and "No figures yet" in p.text("figures")


async def test_an_unknown_watch_is_404_and_anonymous_callers_are_sent_to_log_in(console: Any) -> None:
    async with console() as http:
        missing = await http.get(deploy_path("deploy/argocd/nope/abc"), headers=BEARER)
        anonymous = await http.get("/console/deploys")
    assert missing.status_code == 404 and "no deploy watch deploy/argocd/nope/abc" in missing.text
    assert anonymous.status_code in (302, 303, 401)
