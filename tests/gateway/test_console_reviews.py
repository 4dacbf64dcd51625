"""The console's change reviews: the list (newest first, filtered by repository, decision and
state), one review's page (verdict first, findings, cost, rollout, rollback and diffs folded
away, everything from the report escaped), the JSON API beside it, and the same authentication
as every other console page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from activities.review.analysis import report, summary_line
from domain.review.changes import change_set
from domain.review.review import REVERSIBLE, review, with_verdict
from domain.review.verdict import ReviewVerdict
from domain.settings import Settings
from gateway.app import create_app
from gateway.auth import hash_password, upsert_user
from store import migrate
from store.db import make_engine, session_factory, transaction
from store.reviews import ChangeReviewRepository, review_key
from tests.console_fixtures import FakeTemporal
from tests.console_html import Page

TOKEN = "console-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SCRIPT = "<script>alert('review')</script>"
REPO = "acme/gitops"

CART = "review/github/acme/gitops/12"
DNS = "review/local/platform/dns-bump"
OLD = "review/github/acme/gitops/9"


def deployment(cpu: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "cart", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "cart"}},
            "template": {
                "metadata": {"labels": {"app": "cart"}},
                "spec": {
                    "containers": [
                        {
                            "name": "cart",
                            "image": image,
                            "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}},
                        }
                    ]
                },
            },
        },
    }


def cart_report() -> tuple[dict[str, Any], str]:
    """A real review (the pure part: no policy engine), denied by hand, with a finding and a
    denial that carry markup, as a manifest or a policy message could."""
    changes = change_set(
        [deployment("250m", "registry.example/cart:1.0")],
        [deployment("2", "registry.example/cart:1.1")],
        application="shop-cart",
    )
    verdict = ReviewVerdict(
        decision="deny", risk="high", denials=[f"cpu jump {SCRIPT}"], warnings=["image tag moved"]
    )
    found = with_verdict(review(changes), verdict)
    document = report(found)
    document["findings"].append(
        {
            "category": "security",
            "severity": "high",
            "object": {
                "kind": "Deployment",
                "namespace": "shop",
                "name": "cart",
                "ref": "Deployment/shop/cart",
            },
            "field": "spec.template",
            "message": f"injected {SCRIPT}",
        }
    )
    return document, summary_line(found)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    # Every test here only reads: one store, migrated and written once, for the module.
    url = f"sqlite:///{tmp_path_factory.mktemp('reviews') / 'medic.db'}"
    migrate.upgrade(url)
    document, summary = cart_report()
    now = datetime.now(UTC)
    common = {"host": "github", "repository": REPO, "base_sha": "b" * 40}
    with transaction(session_factory(make_engine(url))) as session:
        reviews = ChangeReviewRepository(session)
        reviews.save(
            review_key(OLD, "9" * 40),
            created_at=now - timedelta(days=2),
            workflow_id=OLD,
            number=9,
            head_ref="old",
            head_sha="9" * 40,
            state="superseded",
            **common,
        )
        reviews.save(
            review_key(DNS, "d" * 40),
            created_at=now - timedelta(hours=1),
            workflow_id=DNS,
            host="local",
            repository="platform",
            head_ref="dns-bump",
            head_sha="d" * 40,
            state="reviewed",
            decision="warn",
            risk="medium",
            objects_changed=1,
            summary="risk medium, policy warn",
            report={"rollback": "revert the commit", "comment": ["c"]},
        )
        reviews.save(
            review_key(CART, "c" * 40),
            created_at=now - timedelta(minutes=5),
            workflow_id=CART,
            number=12,
            head_ref="bump-cart",
            head_sha="c" * 40,
            state="reviewed",
            decision="deny",
            risk="high",
            monthly_delta_usd=document["cost"]["monthly_delta_usd"],
            objects_changed=1,
            summary=summary,
            report=document,
            **common,
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


def cart_path() -> str:
    return "/console/reviews/" + quote(review_key(CART, "c" * 40), safe="")


async def page(http: httpx.AsyncClient, path: str, **params: str) -> Page:
    response = await http.get(path, headers=BEARER, params=params or None)
    assert response.status_code == 200, response.text
    return Page(response.text)


def listed(p: Page) -> list[str]:
    return [a.text for a in p.find("a", cls="review-link")]


async def test_reviews_are_listed_newest_first_with_their_columns(console: Any) -> None:
    async with console() as http:
        p = await page(http, "/console/reviews")
    assert listed(p) == ["#12", "dns-bump", "#9"]
    assert p.find("a", cls="review-link")[0].attrs["href"] == cart_path()
    first = p.find("tr")[1].text
    assert REPO in first and "ccccccc" in first and "deny" in first and "high" in first
    assert "+$" in first and "/month" in first and "5m" in first
    assert any(a.attrs.get("href") == "/console/reviews" for a in p.find("a")), "the nav link"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"repository": REPO}, ["#12", "#9"]),
        ({"decision": "warn"}, ["dns-bump"]),
        ({"decision": "allow", "repository": REPO}, ["#9"]),
        ({"state": "superseded"}, ["#9"]),
        ({"limit": "1"}, ["#12"]),
    ],
)
async def test_review_filters(console: Any, params: dict[str, str], expected: list[str]) -> None:
    async with console() as http:
        assert listed(await page(http, "/console/reviews", **params)) == expected
        api = await http.get("/api/reviews", headers=BEARER, params=params)
    assert [r["key"].split("@")[0] for r in api.json()["reviews"]] == [
        {"#12": CART, "dns-bump": DNS, "#9": OLD}[e] for e in expected
    ]


async def test_a_review_page_puts_the_verdict_first_and_folds_the_details(console: Any) -> None:
    async with console() as http:
        p = await page(http, cart_path())
    assert p.find(id="review-decision")[0].text == "deny"
    assert "policy deny" in p.find(id="review-summary")[0].text
    assert "cpu jump" in p.find("ul", cls="denials")[0].text
    assert "image tag moved" in p.find("ul", cls="warnings")[0].text
    # summary before the details, and the details are folded (findings open when denied)
    assert p.html.index('id="review-summary"') < p.html.index('id="findings"') < p.html.index('id="diffs"')
    folded = {d.id: "open" in d.attrs for d in p.find("details") if d.id}
    assert folded == {"findings": True, "cost": False, "rollout": False, "diffs": False}
    high = [r.text for r in p.find("tr", cls="severity-high")]
    assert any("security high Deployment/shop/cart spec.template injected" in f for f in high)
    assert len(p.find("tr", cls="severity-info")) == 1, "the cost finding the review made itself"
    cost = p.find(id="review-cost")[0].text
    assert cost.startswith("+$") and "/month" in cost and "Basis:" in p.find(id="cost")[0].text
    assert p.find(id="review-rollback")[0].text == REVERSIBLE
    line = cart_report()[0]["cost"]["objects"][0]
    assert f"${line['before_usd']:,.2f}" in p.find("table", cls="cost")[0].text
    diff = p.find("pre", cls="diff")[0].text
    assert "cart:1.1" in diff and "cart:1.0" in diff
    assert p.find("span", cls="add") and p.find("span", cls="del")


async def test_text_from_the_report_is_escaped(console: Any) -> None:
    async with console() as http:
        p = await page(http, cart_path())
    assert SCRIPT not in p.html
    assert "&lt;script&gt;" in p.html
    assert not [e for e in p.find("script")]


async def test_a_review_without_a_report_still_renders(console: Any) -> None:
    async with console() as http:
        p = await page(http, "/console/reviews/" + quote(review_key(DNS, "d" * 40), safe=""))
        old = await page(http, "/console/reviews/" + review_key(OLD, "9" * 40))  # unquoted works too
    assert p.find(id="review-rollback")[0].text == "revert the commit"
    assert "No objects changed." in p.find(id="diffs")[0].text
    assert old.find(id="review-decision")[0].text == "allow"


async def test_an_unknown_review_is_404(console: Any) -> None:
    async with console() as http:
        page_ = await http.get("/console/reviews/review%2Fnone%40abc", headers=BEARER)
        api = await http.get("/api/reviews/review%2Fnone%40abc", headers=BEARER)
    assert page_.status_code == 404 and "no change review review/none@abc" in page_.text
    assert api.status_code == 404 and api.json() == {"error": "no change review review/none@abc in the store"}


async def test_reviews_need_a_login_and_any_logged_in_user_may_read_them(console: Any) -> None:
    async with console() as http:
        for path in ("/console/reviews", cart_path()):
            refused = await http.get(path)
            assert refused.status_code == 303, path
            assert refused.headers["location"].startswith("/console/login?next=%2Fconsole%2Freviews")
        for path in ("/api/reviews", "/api/reviews/" + quote(review_key(CART, "c" * 40), safe="")):
            api = await http.get(path)
            assert api.status_code == 401 and "authentication required" in api.json()["error"], path
        wrong = await http.get("/api/reviews", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401
        dev = httpx.BasicAuth("dev", "dev-pw")
        assert (await http.get(cart_path(), auth=dev)).status_code == 200
        assert (await http.get("/api/reviews", auth=dev)).status_code == 200


async def test_the_json_api_gives_the_rows_and_the_report(console: Any) -> None:
    key = review_key(CART, "c" * 40)
    async with console() as http:
        listing = (await http.get("/api/reviews", headers=BEARER)).json()
        detail = await http.get("/api/reviews/" + quote(key, safe=""), headers=BEARER)
    assert listing["limit"] == 50 and len(listing["reviews"]) == 3
    first = listing["reviews"][0]
    assert first["key"] == key and first["url"] == "/console/reviews/" + quote(key, safe="")
    assert first["repository"] == REPO and first["number"] == 12 and first["change"] == "#12"
    assert first["head_short"] == "ccccccc" and first["decision"] == "deny" and first["risk"] == "high"
    assert first["objects_changed"] == 1 and isinstance(first["monthly_delta_usd"], float)
    assert datetime.fromisoformat(first["created_at"])
    assert detail.status_code == 200 and detail.headers["cache-control"] == "no-store"
    body = detail.json()
    assert body["key"] == key and body["policy"]["decision"] == "deny"
    assert body["policy"]["denials"] == [f"cpu jump {SCRIPT}"]
    assert {f["category"] for f in body["findings"]} >= {"security"}
    assert body["cost"]["basis"] and body["rollback"] and isinstance(body["rollout"], list)
    assert body["applications"][0]["name"] == "shop-cart"
    assert "cart:1.1" in body["applications"][0]["objects"][0]["diff"]
    assert "comment" not in body and body["comment_parts"] >= 1
