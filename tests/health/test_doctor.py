"""`medic doctor`: every configured dependency checked against real parts and loopback fakes; all ok
on the embedded stack, and each dependency broken in turn is named, with its fix."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cli.embedded import DEFAULT_SCENARIO, Stack
from cli.main import CHECK_NAMES
from domain.settings import Settings
from health.checks import NAMES, Check, render_text, run_checks
from integrations.git import PUSH_PROBE_BRANCH
from integrations.pull_requests import PR_HOST_FIX
from sandbox.cluster import SandboxCluster
from sandbox.server import SandboxServer
from store import migrate
from store.db import make_engine, session_factory
from store.outbox import OutboxRepository
from tests.fakes.github_api import SandboxGitHub
from tests.fakes.gitlab_api import SandboxGitLab
from tests.fakes.opencost import SandboxOpenCost
from tests.health.conftest import environment
from tests.integrations.git_http import GitHTTPServer

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 3.0
# The dependencies the embedded stack configures; the rest are optional and not configured.
CONFIGURED = (
    "configuration",
    "temporal",
    "database",
    "kubernetes",
    "ingest_buffer",
    "argocd",
    "prometheus",
    "gitops",
)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def checks_of(settings: Settings, env: dict[str, str] | None = None) -> dict[str, Check]:
    return {c.name: c for c in await run_checks(settings, env or {}, timeout=TIMEOUT)}


def failures(checks: dict[str, Check]) -> list[str]:
    return [name for name, c in checks.items() if c.failed]


def medic_doctor(*runs: tuple[dict[str, str], list[str]]) -> list[subprocess.CompletedProcess[str]]:
    """`medic doctor` run once per (environment, arguments), the runs at the same time."""
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "cli", "doctor", *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env, args in runs
    ]
    done = []
    for process in started:
        stdout, stderr = process.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return done


def test_the_cli_knows_every_check() -> None:
    assert CHECK_NAMES == NAMES


async def test_the_embedded_stack_is_all_ok(stack: Stack) -> None:
    checks = await checks_of(stack.settings)
    assert list(checks) == list(NAMES)
    for name in CONFIGURED:
        assert checks[name].status == "ok", checks[name].line()
    assert {c.status for c in checks.values()} <= {"ok", "skipped"}, render_text(list(checks.values()))
    assert "search attributes registered" in checks["temporal"].detail
    assert "permissions medic uses are allowed" in checks["kubernetes"].detail
    assert "nothing pushed" in checks["gitops"].detail


def test_doctor_in_a_subprocess_passes_on_the_embedded_stack_and_names_a_dead_argo_cd(stack: Stack) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    healthy, broken = medic_doctor(
        (environment(stack.settings), ["--json"]), (environment(stack.settings, ARGOCD_URL=dead), [])
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    report = json.loads(healthy.stdout)
    assert report["ok"] is True
    assert report["summary"] == {"ok": 9, "warning": 0, "failure": 0, "skipped": 4}
    assert [c["name"] for c in report["checks"]] == list(NAMES)
    assert set(report["checks"][0]) == {"name", "title", "status", "detail", "target", "fix", "seconds"}

    assert broken.returncode == 1, broken.stdout + broken.stderr
    failing = [line for line in broken.stdout.splitlines() if line.startswith("FAILURE")]
    assert len(failing) == 1 and "Argo CD" in failing[0] and dead in failing[0], broken.stdout
    assert "refused the connection" in failing[0]
    assert "fix: check ARGOCD_URL" in broken.stdout
    assert broken.stdout.splitlines()[-1].startswith("medic doctor FAILED: 8 ok, 0 warnings, 1 failure,")


@pytest.mark.parametrize(
    ("broken", "update", "said"),
    [
        ("kubernetes", {"kube_api_url": "http://127.0.0.1:{port}"}, "unreachable: refused the connection"),
        ("argocd", {"argocd_url": "http://127.0.0.1:{port}"}, "unreachable: refused the connection"),
        ("argocd", {"argocd_token": "not-the-token"}, "the token is refused (HTTP 403"),
        (
            "prometheus",
            {"prometheus_url": "http://127.0.0.1:{port}"},
            "the query failed: refused the connection",
        ),
        (
            "database",
            {"database_url": "postgresql://medic:s3cret@127.0.0.1:{port}/medic"},
            "connection refused",
        ),
        ("temporal", {"temporal_address": "127.0.0.1:{port}"}, "cannot connect: connection refused"),
        (
            "temporal",
            {"temporal_namespace": "no-such-namespace"},
            "namespace no-such-namespace does not exist",
        ),
        ("configuration", {"snapshot_keys": ""}, "MEDIC_SNAPSHOT_KEYS is not set"),
    ],
)
async def test_a_broken_dependency_is_named_and_nothing_else_fails(
    stack: Stack, broken: str, update: dict[str, str], said: str
) -> None:
    port = closed_port()
    settings = stack.settings.model_copy(update={k: v.format(port=port) for k, v in update.items()})
    checks = await checks_of(settings)
    assert failures(checks) == [broken], render_text(list(checks.values()))
    assert said in checks[broken].detail, checks[broken].line()
    assert checks[broken].fix
    assert "s3cret" not in checks[broken].line()


async def test_a_database_not_migrated_says_to_upgrade(stack: Stack, tmp_path: Path) -> None:
    settings = stack.settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'new.db'}"})
    (tmp_path / "new.db").touch()
    checks = await checks_of(settings)
    assert failures(checks) == ["database"]
    assert checks["database"].fix == "run `medic db upgrade`"


async def test_a_verb_medic_needs_but_may_not_use_is_named(stack: Stack) -> None:
    denied = [("patch", "apps", "deployments"), ("get", "", "pods/log")]
    with SandboxServer(SandboxCluster.from_file(DEFAULT_SCENARIO), denied=denied) as kube:
        checks = await checks_of(stack.settings.model_copy(update={"kube_api_url": kube.url}))
    assert failures(checks) == ["kubernetes"]
    assert "not allowed: patch deployments.apps, get pods/log" in checks["kubernetes"].detail


@pytest.fixture
def read_only_remote(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real bare repository served over smart HTTP whose receive-pack is refused (403)."""
    bare = tmp_path / "gitops.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "config", "http.receivepack", "false"], check=True)
    with GitHTTPServer(tmp_path, token="") as server:
        yield f"{server.url}/gitops.git", bare


async def test_a_remote_that_refuses_pushes_is_named_without_pushing(
    stack: Stack, read_only_remote: tuple[str, Path]
) -> None:
    url, bare = read_only_remote
    checks = await checks_of(stack.settings.model_copy(update={"gitops_repo_url": url}))
    assert "a push is refused (a dry run, nothing was pushed)" in checks["gitops"].detail
    assert "write access" in checks["gitops"].fix
    # a real remote (over http) without a PR host: the local host would push to main unreviewed
    assert failures(checks) == ["gitops", "pull_requests"], checks["gitops"].line()
    assert "not a local bare repository" in checks["pull_requests"].detail
    assert checks["pull_requests"].fix == PR_HOST_FIX


async def test_a_real_remote_with_a_pr_host_configured_is_not_refused(stack: Stack) -> None:
    remote = stack.settings.gitops_repo_url
    with SandboxGitLab(remote, token="write-token") as gitlab:
        settings = stack.settings.model_copy(
            update={
                "gitops_repo_url": "https://gitlab.example/acme/gitops.git",
                "gitlab_token": "write-token",
                "gitlab_project": "acme/gitops",
                "gitlab_url": gitlab.base_url,
            }
        )
        checks = await checks_of(settings)
    assert checks["pull_requests"].status == "ok", checks["pull_requests"].line()


async def test_github_and_gitlab_both_configured_fail_naming_the_conflict(stack: Stack) -> None:
    settings = stack.settings.model_copy(
        update={
            "github_token": "t",
            "github_repository": "acme/gitops",
            "gitlab_token": "t",
            "gitlab_project": "acme/gitops",
        }
    )
    checks = await checks_of(settings)
    assert checks["pull_requests"].status == "failure"
    assert "both GitHub (acme/gitops) and GitLab (acme/gitops)" in checks["pull_requests"].detail


async def test_push_permission_is_checked_without_pushing(stack: Stack) -> None:
    remote = Path(stack.settings.gitops_repo_url)
    before = subprocess.run(["git", "-C", str(remote), "show-ref"], capture_output=True, text=True).stdout
    checks = await checks_of(stack.settings)
    assert checks["gitops"].status == "ok", checks["gitops"].line()
    after = subprocess.run(["git", "-C", str(remote), "show-ref"], capture_output=True, text=True).stdout
    assert after == before and PUSH_PROBE_BRANCH not in after
    history = subprocess.run(
        ["git", "-C", str(remote), "log", "--all", "--format=%s"], capture_output=True, text=True
    )
    assert "push probe" not in history.stdout


def anthropic_models(good_key: str, model: str) -> Any:
    """GET /v1/models/{model} as Anthropic answers it: the model for the right key (`x-api-key`, or
    a bearer token as newer SDKs send it), else 401."""

    def handle(request: Request) -> Response:
        sent = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if sent != good_key:
            body = {
                "type": "error",
                "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            }
            return Response(json.dumps(body), status=401, content_type="application/json")
        if request.path != f"/v1/models/{model}":
            body = {"type": "error", "error": {"type": "not_found_error", "message": f"model: {model}"}}
            return Response(json.dumps(body), status=404, content_type="application/json")
        found = {"type": "model", "id": model, "display_name": model, "created_at": "2025-05-14T00:00:00Z"}
        return Response(json.dumps(found), status=200, content_type="application/json")

    return handle


@pytest.mark.parametrize(
    ("key", "model", "status", "said"),
    [
        ("sk-good", "claude-test", "ok", "key accepted; model claude-test (anthropic) available"),
        ("sk-bad", "claude-test", "failure", "model claude-test (anthropic): the API key is refused"),
        ("sk-good", "claude-gone", "failure", "model claude-gone (anthropic) does not exist for this key"),
    ],
)
async def test_the_model_key_is_tried_with_a_cheap_call(
    stack: Stack, httpserver: HTTPServer, key: str, model: str, status: str, said: str
) -> None:
    httpserver.expect_request("/v1/models/claude-test").respond_with_handler(
        anthropic_models("sk-good", "claude-test")
    )
    httpserver.expect_request(f"/v1/models/{model}").respond_with_handler(
        anthropic_models("sk-good", "claude-test")
    )
    env = {
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_BASE_URL": httpserver.url_for(""),
        "MEDIC_ANTHROPIC_MODEL": model,
    }
    checks = await checks_of(stack.settings.model_copy(update={"analyzer": "anthropic"}), env)
    assert checks["model"].status == status and said in checks["model"].detail, checks["model"].line()
    assert failures(checks) == ([] if status == "ok" else ["model"])
    assert all("/messages" not in str(request.path) for request, _ in httpserver.log)
    if status == "failure" and "refused" in said:
        assert checks["model"].fix == "set ANTHROPIC_API_KEY to a valid key for this model"


@pytest.mark.parametrize(
    ("token", "status", "said"),
    [
        ("write-token", "ok", "push allowed on acme/gitops"),
        ("read-token", "failure", "may read acme/gitops but not push to it"),
        ("wrong-token", "failure", "GitHub refused the token"),
    ],
)
async def test_the_github_token_and_its_push_permission(
    stack: Stack, token: str, status: str, said: str
) -> None:
    remote = stack.settings.gitops_repo_url
    with SandboxGitHub(remote, token="write-token", read_only_tokens=("read-token",)) as github:
        settings = stack.settings.model_copy(
            update={
                "github_token": token,
                "github_repository": "acme/gitops",
                "github_api_url": github.api_url,
            }
        )
        checks = await checks_of(settings)
    assert checks["pull_requests"].status == status, checks["pull_requests"].line()
    assert said in checks["pull_requests"].detail
    assert github.count("POST") == 0 and github.count("PUT") == 0 and github.count("PATCH") == 0


@pytest.mark.parametrize(
    ("own_key", "status", "said"),
    [(True, "ok", "installation token minted"), (False, "failure", "GitHub refused GitHub App 77")],
)
async def test_a_github_app_is_checked_by_minting_a_token(
    stack: Stack, own_key: bool, status: str, said: str
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def pem(key: rsa.RSAPrivateKey) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    given = key if own_key else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    remote = stack.settings.gitops_repo_url
    with SandboxGitHub(remote, app_id="77", app_public_key=public.decode()) as github:
        settings = stack.settings.model_copy(
            update={
                "github_app_id": "77",
                "github_app_private_key": pem(given),
                "github_repository": "acme/gitops",
                "github_api_url": github.api_url,
            }
        )
        checks = await checks_of(settings)
    assert checks["pull_requests"].status == status, checks["pull_requests"].line()
    assert said in checks["pull_requests"].detail
    assert len(github.minted) == (1 if own_key else 0)


@pytest.mark.parametrize(
    ("token", "status", "said"),
    [
        ("write-token", "ok", "push and merge allowed on acme/gitops"),
        ("read-token", "failure", "may read acme/gitops but not push to it or merge"),
        ("wrong-token", "failure", "GitLab refused the token"),
    ],
)
async def test_the_gitlab_token_and_its_role(stack: Stack, token: str, status: str, said: str) -> None:
    remote = stack.settings.gitops_repo_url
    with SandboxGitLab(remote, token="write-token", read_only_tokens=("read-token",)) as gitlab:
        settings = stack.settings.model_copy(
            update={"gitlab_token": token, "gitlab_project": "acme/gitops", "gitlab_url": gitlab.base_url}
        )
        checks = await checks_of(settings)
    assert checks["pull_requests"].status == status, checks["pull_requests"].line()
    assert said in checks["pull_requests"].detail
    assert gitlab.count("POST") == 0 and gitlab.count("PUT") == 0 and gitlab.count("DELETE") == 0


async def test_notification_urls_are_reached_and_nothing_is_posted(
    stack: Stack, httpserver: HTTPServer
) -> None:
    url = httpserver.url_for("/services/T000/B000/secret-part")
    settings = stack.settings.model_copy(
        update={"slack_webhook_url": url, "notify_webhook_url": "https://no-such-host.invalid/hook"}
    )
    checks = await checks_of(settings)
    assert checks["slack"].status == "ok" and "no message was posted" in checks["slack"].detail
    assert "secret-part" not in checks["slack"].line()
    assert httpserver.log == []
    assert checks["notify_webhook"].status == "failure"
    assert "no-such-host.invalid does not resolve" in checks["notify_webhook"].detail


async def test_unconfigured_optional_dependencies_are_skipped_and_say_so() -> None:
    checks = await checks_of(Settings(temporal_address=f"127.0.0.1:{closed_port()}"), {})
    for name in (
        "argocd",
        "prometheus",
        "opencost",
        "gitops",
        "pull_requests",
        "model",
        "slack",
        "notify_webhook",
    ):
        assert checks[name].status == "skipped", checks[name].line()
    assert "not configured (optional" in checks["argocd"].detail
    assert "MEDIC_OPENCOST_URL" in checks["opencost"].fix


async def test_opencost_is_asked_for_its_prices_and_a_missing_one_is_named() -> None:
    with SandboxOpenCost() as healthy, SandboxOpenCost(omit=("node_ram_hourly_cost",)) as unpriced:
        runs = {
            "healthy": healthy.url,
            "unpriced": unpriced.url,
            "dead": f"http://127.0.0.1:{closed_port()}",
        }
        found = {
            name: (await run_checks(Settings(opencost_url=url), {}, timeout=TIMEOUT, only=["opencost"]))[0]
            for name, url in runs.items()
        }
    assert found["healthy"].status == "ok", found["healthy"].line()
    assert found["healthy"].detail == (
        "$0.021811 per core-hour, $0.002923 per GiB-hour, $0.1 per GiB-month "
        "(median of 5 nodes; storage: median of 3 volumes)"
    )
    assert found["healthy"].target == runs["healthy"]
    assert found["unpriced"].status == "failure"
    assert found["unpriced"].detail.startswith("no prices: publishes no node_ram_hourly_cost")
    assert found["dead"].status == "failure"
    assert found["dead"].detail == "no prices: refused the connection"
    assert "MEDIC_OPENCOST_URL" in found["dead"].fix


async def test_a_drift_configuration_that_does_not_load_fails_the_configuration(
    stack: Stack, tmp_path: Path
) -> None:
    bad = tmp_path / "drift.yaml"
    bad.write_text("schedules: [unclosed\n")
    checks = await checks_of(stack.settings.model_copy(update={"drift_config": str(bad)}))
    assert failures(checks) == ["configuration"]
    assert checks["configuration"].detail.startswith(f"the drift configuration {bad} is invalid")


def openai_models(good_key: str, listed: str) -> Any:
    """GET /v1/models as an OpenAI-compatible server answers it: the list for the right bearer
    token, else 401 in OpenAI's error shape."""

    def handle(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {good_key}":
            error = {
                "message": "Incorrect API key provided",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return Response(json.dumps({"error": error}), status=401, content_type="application/json")
        body = {"object": "list", "data": [{"id": listed, "object": "model", "owned_by": "vllm"}]}
        return Response(json.dumps(body), status=200, content_type="application/json")

    return handle


@pytest.mark.parametrize(
    ("key", "model", "status", "said"),
    [
        ("local-key", "qwen-test", "ok", "key accepted; model qwen-test (openai) available"),
        ("wrong-key", "qwen-test", "failure", "model qwen-test (openai): the API key is refused"),
        ("local-key", "llama-test", "warning", "the server does not list the model"),
    ],
)
async def test_an_openai_compatible_server_is_asked_for_its_models(
    stack: Stack, httpserver: HTTPServer, key: str, model: str, status: str, said: str
) -> None:
    httpserver.expect_request("/v1/models").respond_with_handler(openai_models("local-key", "qwen-test"))
    env = {
        "MEDIC_OPENAI_BASE_URL": httpserver.url_for("/v1"),
        "MEDIC_OPENAI_MODEL": model,
        "MEDIC_OPENAI_API_KEY": key,
    }
    checks = await checks_of(stack.settings.model_copy(update={"analyzer": "openai"}), env)
    assert checks["model"].status == status and said in checks["model"].detail, checks["model"].line()
    assert [str(request.path) for request, _ in httpserver.log] == ["/v1/models"]


async def test_a_dependency_that_never_answers_fails_its_check_instead_of_hanging(stack: Stack) -> None:
    # A socket that listens and never accepts: connections complete, no answer ever comes.
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)
        host, port = black_hole.getsockname()
        settings = stack.settings.model_copy(
            update={"argocd_url": f"http://{host}:{port}", "temporal_address": f"{host}:{port}"}
        )
        checks = await asyncio.wait_for(run_checks(settings, {}, timeout=1.0), 30)
    verdicts = {c.name: c for c in checks}
    assert [c.name for c in checks if c.failed] == ["temporal", "argocd"]
    assert verdicts["argocd"].detail == "unreachable: no answer in time"
    assert "no answer" in verdicts["temporal"].detail, verdicts["temporal"].line()


async def test_the_ingest_buffer_check_names_what_is_waiting_or_why_it_cannot_be_used(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(database)
    with session_factory(make_engine(database)).begin() as session:
        OutboxRepository(session).add(
            "n1", "incident-alert-x", datetime(2026, 12, 3, 10, 0, tzinfo=UTC), "{}"
        )
    dead_nats = f"nats://127.0.0.1:{closed_port()}"
    runs = {
        "store": Settings(database_url=database),
        "empty store": Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"),
        "dead nats": Settings(ingest_buffer="nats", nats_url=dead_nats),
        "off": Settings(ingest_buffer="off"),
    }
    found = {
        name: (await run_checks(settings, {}, timeout=0.5, only=["ingest_buffer"]))[0]
        for name, settings in runs.items()
    }
    assert found["store"].status == "ok"
    assert found["store"].detail == (
        "the store's ingest_outbox: 1 notification(s) waiting for Temporal since 2026-12-03 10:00:00 UTC"
    )
    # Not migrated: said once, by the database check.
    assert found["empty store"].status == "skipped" and "database check" in found["empty store"].detail
    assert found["dead nats"].status == "failure" and found["dead nats"].target == dead_nats
    assert "refused the connection" in found["dead nats"].detail
    assert found["off"].status == "skipped" and "MEDIC_INGEST_BUFFER=store" in found["off"].fix
