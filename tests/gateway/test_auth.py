"""Who may use the console and its API: token, Basic users, sessions, trusted proxies, CSRF."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.settings import Settings, settings_from_mapping
from gateway.app import create_app
from gateway.auth import (
    LOGIN_FAILED,
    SESSION_COOKIE,
    Authenticator,
    Principal,
    hash_password,
    parse_users,
    secrets_equal,
    upsert_user,
    verify_password,
)
from store import migrate
from store.db import make_engine
from tests.console_fixtures import PENDING, FakeTemporal, console_login, seed
from tests.console_html import Page

TOKEN = "console-test-token"
# Few iterations: the tests check the scheme, not its cost.
FAST = 1000


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    seed(url)
    return url


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    upsert_user(path, "alice", hash_password("alice-pw", iterations=FAST), ["sre", "oncall"])
    upsert_user(path, "bob", hash_password("bob-pw", iterations=FAST), [])
    return path


@pytest.fixture
def gateway(store_url: str) -> Any:
    @asynccontextmanager
    async def make(
        peer: str = "127.0.0.1", base_url: str = "http://gateway", **settings: object
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(Settings(database_url=store_url, **settings), FakeTemporal().factory)
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield http

    return make


# ---- passwords and the users file ------------------------------------------------------------------


def test_password_hash_is_pbkdf2_sha256_and_verifies() -> None:
    encoded = hash_password("correct horse", iterations=FAST)
    algorithm, iterations, salt, digest = encoded.split("$")
    assert (algorithm, iterations) == ("pbkdf2_sha256", str(FAST))
    assert salt and digest
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert hash_password("correct horse", iterations=FAST) != encoded, "each hash has its own salt"


@pytest.mark.parametrize(
    "encoded", ["", "plain", "md5$1$abc$def", "pbkdf2_sha256$x$abc$def", "pbkdf2_sha256$0$a$b"]
)
def test_malformed_hash_never_verifies(encoded: str) -> None:
    assert not verify_password("anything", encoded)


def test_users_file_is_written_0600_and_a_user_replaced_in_place(users_file: Path) -> None:
    assert stat.S_IMODE(os.stat(users_file).st_mode) == 0o600
    assert upsert_user(users_file, "alice", hash_password("new-pw", iterations=FAST), ["sre"])
    users = parse_users(users_file.read_text())
    assert list(users) == ["alice", "bob"]
    assert users["alice"].groups == ("sre",) and verify_password("new-pw", users["alice"].password_hash)
    assert users["bob"].groups == ()


@pytest.mark.parametrize("line", ["alice", "alice:secret:sre", ":pbkdf2_sha256$1$a$b:sre"])
def test_malformed_users_line_is_refused_with_its_number(line: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_users(f"# console users\n{line}\n")


@pytest.mark.parametrize("name", ["al:ice", "al ice", "a,b", ""])
def test_user_names_that_would_break_the_file_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        upsert_user(tmp_path / "users", name, hash_password("pw", iterations=FAST), [])


def test_console_settings_come_from_the_environment() -> None:
    s = settings_from_mapping(
        {
            "MEDIC_CONSOLE_TOKEN": "t",
            "MEDIC_CONSOLE_TOKEN_USER": "ops",
            "MEDIC_CONSOLE_TOKEN_GROUPS": "sre, oncall,",
            "MEDIC_CONSOLE_USERS_FILE": "/etc/medic/users",
            "MEDIC_CONSOLE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1/32",
            "MEDIC_CONSOLE_USER_HEADER": "X-Auth-User",
            "MEDIC_CONSOLE_GROUPS_HEADER": "X-Auth-Groups",
            "MEDIC_CONSOLE_SECRET": "k",
        }
    )
    assert (s.console_token, s.console_token_user, s.console_token_groups) == ("t", "ops", ("sre", "oncall"))
    assert s.console_users_file == "/etc/medic/users"
    assert s.console_trusted_proxies == ("10.0.0.0/8", "127.0.0.1/32")
    assert (s.console_user_header, s.console_groups_header, s.console_secret) == (
        "X-Auth-User",
        "X-Auth-Groups",
        "k",
    )
    assert "console_token=" not in repr(s) and "console_secret=" not in repr(s)


# ---- nothing configured ----------------------------------------------------------------------------


async def test_nothing_configured_refuses_every_request_naming_the_settings(gateway: Any) -> None:
    async with gateway() as http:
        for path in ("/console/", "/console/login", f"/console/incidents/{PENDING}", "/console/audit"):
            response = await http.get(path, headers=BEARER)
            assert response.status_code == 401, path
            assert "MEDIC_CONSOLE_TOKEN" in response.text and "MEDIC_CONSOLE_USERS_FILE" in response.text
        api = await http.get("/api/incidents", headers=BEARER)
        assert api.status_code == 401
        assert "MEDIC_CONSOLE_TRUSTED_PROXIES" in api.json()["error"]
        decide = await http.post(
            f"/api/incidents/{PENDING}/decide", json={"decision": "approve"}, headers=BEARER
        )
        assert decide.status_code == 401


# ---- token and Basic ---------------------------------------------------------------------------


async def test_unauthenticated_page_redirects_to_login_and_api_is_401(gateway: Any) -> None:
    async with gateway(console_token=TOKEN) as http:
        page = await http.get(f"/console/incidents/{PENDING}?x=1")
        assert page.status_code == 303
        assert (
            page.headers["location"] == "/console/login?next=%2Fconsole%2Fincidents%2F" + PENDING + "%3Fx%3D1"
        )
        api = await http.get("/api/incidents")
        assert api.status_code == 401 and api.headers["www-authenticate"] == 'Bearer realm="medic"'


async def test_bearer_token_opens_pages_and_api(gateway: Any) -> None:
    async with gateway(console_token=TOKEN, console_token_groups=("sre",)) as http:
        page = await http.get("/console/", headers=BEARER)
        assert page.status_code == 200
        assert Page(page.text).text("principal-name") == "admin"
        api = await http.get("/api/incidents", headers=BEARER)
        assert api.status_code == 200 and api.json()["incidents"]


@pytest.mark.parametrize(
    "header", ["Bearer wrong", "Bearer ", f"Bearer {TOKEN}x", "Token " + TOKEN, "Basic !!!"]
)
async def test_wrong_token_is_401(gateway: Any, header: str) -> None:
    async with gateway(console_token=TOKEN) as http:
        page = await http.get("/console/", headers={"Authorization": header})
        assert page.status_code == 401
        api = await http.get("/api/incidents", headers={"Authorization": header})
        assert api.status_code == 401 and api.json()["error"] == "invalid credentials"


async def test_basic_auth_user_with_groups(gateway: Any, users_file: Path) -> None:
    async with gateway(console_users_file=str(users_file)) as http:
        page = await http.get("/console/", headers=basic("alice", "alice-pw"))
        assert page.status_code == 200
        assert Page(page.text).text("principal-name") == "alice"
        assert "sre, oncall" in page.text
        api = await http.get("/api/incidents", headers=basic("alice", "alice-pw"))
        assert api.status_code == 200
        unauthenticated = await http.get("/api/incidents")
        assert unauthenticated.headers["www-authenticate"] == 'Basic realm="medic"'


@pytest.mark.parametrize(("name", "password"), [("alice", "wrong"), ("mallory", "alice-pw"), ("alice", "")])
async def test_wrong_password_or_unknown_user_is_401(
    gateway: Any, users_file: Path, name: str, password: str
) -> None:
    async with gateway(console_users_file=str(users_file)) as http:
        api = await http.get("/api/incidents", headers=basic(name, password))
        assert api.status_code == 401 and api.json()["error"] == "invalid credentials"


async def test_a_user_added_while_running_can_log_in(gateway: Any, users_file: Path) -> None:
    async with gateway(console_users_file=str(users_file)) as http:
        assert (await http.get("/api/incidents", headers=basic("carol", "carol-pw"))).status_code == 401
        upsert_user(users_file, "carol", hash_password("carol-pw", iterations=FAST), ["sre"])
        assert (await http.get("/api/incidents", headers=basic("carol", "carol-pw"))).status_code == 200


# ---- the login page and sessions --------------------------------------------------------------------


async def test_login_with_token_sets_a_session_cookie_that_then_works(gateway: Any) -> None:
    async with gateway(console_token=TOKEN) as http:
        response = await console_login(http, next_url=f"/console/incidents/{PENDING}", token=TOKEN)
        assert response.status_code == 303
        assert response.headers["location"] == f"/console/incidents/{PENDING}"
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
        assert {"httponly", "path", "max-age"} <= attributes and "secure" not in attributes
        assert "samesite=lax" in cookie.lower()
        page = await http.get(f"/console/incidents/{PENDING}")
        assert page.status_code == 200
        assert "via session" in page.text
        assert (await http.get("/api/incidents")).status_code == 200, "a session may read the API"


async def test_session_cookie_is_secure_over_https(gateway: Any) -> None:
    async with gateway(base_url="https://gateway", console_token=TOKEN) as http:
        response = await console_login(http, token=TOKEN)
        cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
        assert "secure" in cookie.lower()


async def test_login_with_password_keeps_the_users_groups(gateway: Any, users_file: Path) -> None:
    async with gateway(console_users_file=str(users_file)) as http:
        response = await console_login(http, username="alice", password="alice-pw")
        assert response.status_code == 303
        page = Page((await http.get("/console/")).text)
        assert page.text("principal-name") == "alice" and "sre, oncall" in page.html


async def test_failed_logins_are_401_and_do_not_say_which_users_exist(gateway: Any, users_file: Path) -> None:
    async with gateway(console_token=TOKEN, console_users_file=str(users_file)) as http:
        answers = [
            await console_login(http, username="alice", password="wrong"),
            await console_login(http, username="nobody", password="wrong"),
            await console_login(http, token="wrong-token"),
        ]
        for answer in answers:
            assert answer.status_code == 401
            assert Page(answer.text).text("login-error") == LOGIN_FAILED
            assert SESSION_COOKIE not in answer.cookies


async def test_login_post_without_the_forms_nonce_is_refused(gateway: Any) -> None:
    async with gateway(console_token=TOKEN) as http:
        forged = await http.post("/console/login", data={"token": TOKEN, "csrf": "x", "next": "/console/"})
        assert forged.status_code == 403 and SESSION_COOKIE not in forged.cookies


async def test_login_never_redirects_off_the_console(gateway: Any) -> None:
    async with gateway(console_token=TOKEN) as http:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/api/incidents"):
            response = await console_login(http, next_url=target, token=TOKEN)
            assert response.headers["location"] == "/console/", target


async def test_tampered_session_cookie_is_refused(gateway: Any) -> None:
    async with gateway(console_token=TOKEN) as http:
        await console_login(http, token=TOKEN)
        value = http.cookies[SESSION_COOKIE]
        version, body, signature = value.split(".")
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b'"admin"', b'"root!"')
        forged_body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        for forged in (f"{version}.{forged_body}.{signature}", value[:-2] + "AA", "v1.e30.AAAA", "garbage"):
            http.cookies.clear()
            http.cookies.set(SESSION_COOKIE, forged)
            page = await http.get("/console/")
            assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
            assert f"{SESSION_COOKIE}=" in page.headers["set-cookie"], "the bad cookie is cleared"
            assert (await http.get("/api/incidents")).status_code == 401


def test_expired_session_is_refused() -> None:
    auth = Authenticator(Settings(console_token=TOKEN, console_secret="k"))
    principal = Principal(name="admin", via="token")
    fresh = auth.issue_session(principal)
    assert auth.read_session(fresh) is not None
    stale = auth.issue_session(principal, now=time.time() - 12 * 3600 - 1)
    assert auth.read_session(stale) is None
    assert auth.read_session(fresh, now=time.time() + 12 * 3600 + 1) is None


async def test_expired_cookie_sends_the_browser_to_login(gateway: Any) -> None:
    auth = Authenticator(Settings(console_token=TOKEN, console_secret="shared"))
    stale = auth.issue_session(Principal(name="admin", via="token"), now=time.time() - 13 * 3600)
    async with gateway(console_token=TOKEN, console_secret="shared") as http:
        http.cookies.set(SESSION_COOKIE, stale)
        page = await http.get("/console/")
        assert page.status_code == 303 and page.headers["location"].startswith("/console/login")


def test_sessions_outlive_a_restart_with_the_secret_and_end_when_the_token_changes() -> None:
    first = Authenticator(Settings(console_token=TOKEN, console_secret="k"))
    cookie = first.issue_session(Principal(name="admin", via="token"))
    assert Authenticator(Settings(console_token=TOKEN, console_secret="k")).read_session(cookie) is not None
    assert Authenticator(Settings(console_token=TOKEN)).read_session(cookie) is None, "random secret"
    assert Authenticator(Settings(console_token="rotated", console_secret="k")).read_session(cookie) is None


def test_a_password_change_ends_the_users_sessions(users_file: Path) -> None:
    auth = Authenticator(Settings(console_users_file=str(users_file), console_secret="k"))
    principal = auth.check_password("bob", "bob-pw")
    assert principal is not None
    cookie = auth.issue_session(principal)
    session = auth.read_session(cookie)
    assert session is not None and session.name == "bob" and session.via == "session"
    upsert_user(users_file, "bob", hash_password("bob-new-pw", iterations=FAST), [])
    assert auth.read_session(cookie) is None


async def test_logout_needs_the_csrf_token_and_ends_the_session(gateway: Any) -> None:
    async with gateway(console_token=TOKEN) as http:
        await console_login(http, token=TOKEN)
        page = Page((await http.get("/console/")).text)
        refused = await http.post("/console/logout", data={"csrf": "wrong"})
        assert refused.status_code == 403
        assert (await http.get("/console/")).status_code == 200
        out = await http.post("/console/logout", data={"csrf": page.value("csrf")})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        assert (await http.get("/console/")).status_code == 303


async def _logout(http: httpx.AsyncClient) -> None:
    page = Page((await http.get("/console/")).text)
    out = await http.post("/console/logout", data={"csrf": page.value("csrf")})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"


async def _replayed(http: httpx.AsyncClient, cookie: str) -> tuple[httpx.Response, httpx.Response]:
    http.cookies.clear()
    http.cookies.set(SESSION_COOKIE, cookie)
    return await http.get("/console/"), await http.get("/api/incidents")


@pytest.mark.parametrize(
    ("settings", "login"),
    [
        ({"console_token": TOKEN}, {"token": TOKEN}),
        ({}, {"username": "alice", "password": "alice-pw"}),
    ],
    ids=["token", "password"],
)
async def test_a_session_cookie_copied_before_logout_is_refused_after_it(
    gateway: Any, users_file: Path, settings: dict[str, str], login: dict[str, str]
) -> None:
    # The attack: copy the cookie (a shared machine, a proxy log), wait for the user to log out,
    # then replay it within its 12 hours.
    async with gateway(console_users_file=str(users_file), **settings) as http:
        assert (await console_login(http, **login)).status_code == 303
        copied = http.cookies[SESSION_COOKIE]
        assert (await http.get("/console/")).status_code == 200
        await _logout(http)
        page, api = await _replayed(http, copied)
        assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
        assert api.status_code == 401


async def test_a_logout_on_one_replica_ends_the_session_on_every_other(gateway: Any) -> None:
    async with (
        gateway(console_token=TOKEN, console_secret="shared") as first,
        gateway(console_token=TOKEN, console_secret="shared") as second,
    ):
        await console_login(first, token=TOKEN)
        copied = first.cookies[SESSION_COOKIE]
        second.cookies.set(SESSION_COOKIE, copied)
        assert (await second.get("/console/")).status_code == 200
        await _logout(first)
        page, api = await _replayed(second, copied)
        assert page.status_code == 303 and api.status_code == 401


async def test_after_a_logout_the_user_can_log_in_again_and_others_stay_logged_in(
    gateway: Any, users_file: Path
) -> None:
    async with (
        gateway(console_users_file=str(users_file)) as alice,
        gateway(console_users_file=str(users_file)) as bob,
    ):
        await console_login(alice, username="alice", password="alice-pw")
        await console_login(bob, username="bob", password="bob-pw")
        await _logout(alice)
        assert (await bob.get("/console/")).status_code == 200, "bob's session is not alice's"
        await console_login(alice, username="alice", password="alice-pw")
        assert (await alice.get("/console/")).status_code == 200


def test_a_cookie_without_a_generation_is_refused() -> None:
    auth = Authenticator(Settings(console_token=TOKEN, console_secret="k"))
    cookie = auth.issue_session(Principal(name="admin", via="token"))
    version, body, _ = cookie.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    del payload["g"]
    legacy = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    signature = (
        base64.urlsafe_b64encode(hmac.new(b"k", f"session\x00{legacy}".encode(), hashlib.sha256).digest())
        .rstrip(b"=")
        .decode()
    )
    assert auth.read_session(f"{version}.{body}.{_}") is not None
    assert auth.read_session(f"{version}.{legacy}.{signature}") is None


async def test_sessions_are_refused_with_the_reason_while_the_store_is_broken(
    gateway: Any, store_url: str
) -> None:
    async with gateway(console_token=TOKEN) as http:
        await console_login(http, token=TOKEN)
        # The generations table is gone (the incident table, which a token's request reads, stays).
        engine = make_engine(store_url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE console_session_generation")
        finally:
            engine.dispose()
        page = await http.get("/console/")
        assert page.status_code == 503 and "sessions cannot be checked: the store failed" in page.text
        api = await http.get("/api/incidents")
        assert api.status_code == 503 and api.json()["error"].startswith("sessions cannot be checked")
        assert (await http.get("/api/incidents", headers=BEARER)).status_code != 503, "a token needs no store"


async def test_a_session_cookie_alone_cannot_post_to_the_api(gateway: Any) -> None:
    async with gateway(console_token=TOKEN) as http:
        await console_login(http, token=TOKEN)
        refused = await http.post(f"/api/incidents/{PENDING}/decide", json={"decision": "approve"})
        assert refused.status_code == 403 and "Authorization" in refused.json()["error"]


# ---- one-click token login -------------------------------------------------------------------------


async def test_token_in_the_url_logs_in_from_loopback_only(gateway: Any) -> None:
    async with gateway(console_token=TOKEN) as http:
        response = await http.get("/console/login", params={"token": TOKEN})
        assert response.status_code == 303 and SESSION_COOKIE in response.cookies
        wrong = await http.get("/console/login", params={"token": "nope"})
        assert wrong.status_code == 401
    async with gateway(peer="192.0.2.10", console_token=TOKEN) as http:
        remote = await http.get("/console/login", params={"token": TOKEN})
        assert remote.status_code == 403 and SESSION_COOKIE not in remote.cookies
    async with gateway(console_token=TOKEN) as http:
        proxied = await http.get(
            "/console/login", params={"token": TOKEN}, headers={"X-Forwarded-For": "192.0.2.10"}
        )
        assert proxied.status_code == 403


# ---- trusted proxies -------------------------------------------------------------------------------

PROXY_HEADERS = {"X-Forwarded-User": "dana", "X-Forwarded-Groups": "sre,platform"}


async def test_proxy_identity_headers_are_honoured_from_a_trusted_peer(gateway: Any) -> None:
    async with gateway(peer="10.1.2.3", console_trusted_proxies=("10.0.0.0/8",)) as http:
        page = await http.get("/console/", headers=PROXY_HEADERS)
        assert page.status_code == 200
        parsed = Page(page.text)
        assert (
            parsed.text("principal-name") == "dana"
            and "sre, platform" in page.text
            and "via proxy" in page.text
        )
        api = await http.get("/api/incidents", headers=PROXY_HEADERS)
        assert api.status_code == 200
        email = await http.get("/console/", headers={"X-Forwarded-Email": "erin@example.com"})
        assert Page(email.text).text("principal-name") == "erin@example.com"
        nobody = await http.get("/console/")
        assert nobody.status_code == 303


async def test_proxy_identity_headers_are_ignored_from_any_other_peer(gateway: Any) -> None:
    async with gateway(peer="192.0.2.10", console_trusted_proxies=("10.0.0.0/8",)) as http:
        page = await http.get("/console/", headers=PROXY_HEADERS)
        assert page.status_code == 303
        api = await http.get("/api/incidents", headers=PROXY_HEADERS)
        assert api.status_code == 401


async def test_custom_proxy_headers(gateway: Any) -> None:
    async with gateway(
        peer="127.0.0.1",
        console_trusted_proxies=("127.0.0.1/32",),
        console_user_header="X-Auth-Request-User",
        console_groups_header="X-Auth-Request-Groups",
    ) as http:
        page = await http.get(
            "/console/", headers={"X-Auth-Request-User": "frank", "X-Auth-Request-Groups": "dev"}
        )
        assert Page(page.text).text("principal-name") == "frank" and "(dev)" in page.text


async def test_https_through_a_trusted_proxy_makes_cookies_secure(gateway: Any) -> None:
    https = {"X-Forwarded-Proto": "https"}
    trusted = {"console_token": TOKEN, "console_trusted_proxies": ("10.0.0.0/8",)}
    async with gateway(peer="10.1.2.3", **trusted) as http:
        form = await http.get("/console/login", headers=https)
        assert "secure" in form.headers["set-cookie"].lower()
    async with gateway(peer="192.0.2.10", **trusted) as http:
        form = await http.get("/console/login", headers=https)
        assert "secure" not in form.headers["set-cookie"].lower(), (
            "an untrusted peer's header is not believed"
        )


# ---- comparing secrets, and what is served without authentication -----------------------------------


def test_secrets_equal_is_true_only_for_the_same_secret() -> None:
    assert secrets_equal("s3cret-token", "s3cret-token")
    assert secrets_equal(b"s3cret-token", "s3cret-token")
    for guess in ("", "s", "s3cret-toke", "s3cret-token ", "S3cret-token", "x" * 4096):
        assert not secrets_equal(guess, "s3cret-token"), guess


def test_secrets_equal_compares_digests_of_one_length_whatever_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for guess in ("", "s", "s3cret-token", "x" * 4096):
        secrets_equal(guess, "s3cret-token")
    assert compared and set(compared) == {(32, 32)}


async def test_every_secret_the_gateway_checks_is_compared_as_fixed_length_digests(
    gateway: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The attack: guesses of every length against each secret, timing the comparison to learn the
    # secret's length (compare_digest returns early when the lengths differ).
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with gateway(
        console_token=TOKEN, webhook_token="hook-token", github_webhook_secret="gh-secret", console_secret="k"
    ) as http:
        for guess in ("x", "hook-token-but-longer", "x" * 500):
            alert = await http.post(
                "/alerts/alertmanager", json={}, headers={"Authorization": f"Bearer {guess}"}
            )
            assert alert.status_code == 401
            api = await http.get("/api/incidents", headers={"Authorization": f"Bearer {guess}"})
            assert api.status_code == 401
            hook = await http.post(
                "/webhooks/github",
                content=b"{}",
                headers={"X-Hub-Signature-256": f"sha256={guess}", "X-GitHub-Event": "ping"},
            )
            assert hook.status_code == 401
            http.cookies.set(SESSION_COOKIE, f"v1.e30.{guess}")
            assert (await http.get("/api/incidents")).status_code == 401
            http.cookies.clear()
    assert compared and set(compared) == {(32, 32)}


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"])
async def test_api_description_and_docs_pages_are_not_served(gateway: Any, path: str) -> None:
    async with gateway(console_token=TOKEN) as http:
        assert (await http.get(path)).status_code == 404
        assert (await http.get(path, headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 404
