"""`medic incidents show / list` and `medic pr show` with an id the store does not know, or a store
that cannot be read: one line that says why and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import cli.main
import integrations.temporal.client
from store import migrate
from tests.console_fixtures import Described

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'medic.db'}"
    migrate.upgrade(url)
    monkeypatch.setenv("MEDIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.fixture
def unmigrated_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("MEDIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", url)
    return url


@pytest.mark.parametrize(
    "incident_id", ["incident-alert-nosuchgroup.0123abcd", "not an id at all", "x" * 2000]
)
def test_showing_an_unknown_incident_says_there_is_none(store: str, incident_id: str) -> None:
    result = runner.invoke(cli.main.app, ["incidents", "show", incident_id])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"no incident {incident_id}"


@pytest.mark.parametrize(
    "args",
    [
        ["incidents", "show", "incident-alert-x.0123abcd"],
        ["incidents", "list"],
        ["pr", "show", "1"],
        ["pr", "list", "--incident", "incident-alert-x.0123abcd"],
    ],
    ids=["incidents-show", "incidents-list", "pr-show", "pr-list"],
)
def test_a_store_that_cannot_be_read_is_one_line_naming_it(unmigrated_store: str, args: list[str]) -> None:
    result = runner.invoke(cli.main.app, args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"cannot read the store at {unmigrated_store}: ") and "no such table" in line


# --- the reason, first ---------------------------------------------------------------------------------

DEAD_API = (
    "observe failed: the Kubernetes API at https://10.0.0.1:6443 refused the connection "
    "(gave up after 10 attempts)"
)


def _seed(url: str) -> None:
    from store.db import make_engine, session_factory, transaction
    from store.repositories import AuditRepository, IncidentRepository

    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            incidents = IncidentRepository(session)
            incidents.upsert(
                "incident-alert-dead.0123abcd",
                title="ledger OOMKilled (payments)",
                status="failed",
                outcome="failed",
                reason=DEAD_API,
                target="payments/Deployment/ledger",
            )
            AuditRepository(session).record(
                "incident-alert-dead.0123abcd",
                1,
                "observing",
                "failed",
                detail={
                    "error": "observe: the Kubernetes API at https://10.0.0.1:6443 refused the connection"
                },
            )
            incidents.upsert("incident-alert-open.89abcdef", title="checkout 5xx", status="received")
    finally:
        engine.dispose()


def test_show_prints_the_status_and_the_reason_before_anything_else(store: str) -> None:
    _seed(store)
    result = runner.invoke(cli.main.app, ["incidents", "show", "incident-alert-dead.0123abcd"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "incident  incident-alert-dead.0123abcd",
        "status    failed",
        f"reason    {DEAD_API}",
    ]
    assert lines[3].startswith("title ")
    # The failed step says why in the audit listing too.
    (observing,) = [line for line in lines if " observing " in line]
    assert observing.endswith("observe: the Kubernetes API at https://10.0.0.1:6443 refused the connection")


def test_show_as_json_carries_the_reason(store: str) -> None:
    _seed(store)
    result = runner.invoke(cli.main.app, ["incidents", "show", "incident-alert-dead.0123abcd", "--json"])
    body = json.loads(result.stdout)
    assert body["reason"] == DEAD_API and body["retrying"] is None and body["model_unusable"] is None


def test_list_shows_a_short_reason_column(store: str) -> None:
    _seed(store)
    result = runner.invoke(cli.main.app, ["incidents", "list"])
    header, *rows = result.stdout.splitlines()
    assert header.split()[-1] == "REASON"
    (dead,) = [r for r in rows if r.startswith("incident-alert-dead.0123abcd")]
    assert dead.endswith(DEAD_API[:79] + "…")
    listed = json.loads(runner.invoke(cli.main.app, ["incidents", "list", "--json"]).stdout)
    assert {r["id"]: r["reason"] for r in listed}["incident-alert-dead.0123abcd"] == DEAD_API


def test_show_of_an_open_incident_says_what_it_is_retrying_and_why(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(store)
    asked: list[str] = []

    class Client:
        def get_workflow_handle(self, workflow_id: str) -> Any:
            asked.append(workflow_id)
            handle = type("Handle", (), {})()

            async def describe() -> Described:
                return Described(
                    "89abcdef-0000-4000-8000-000000000000",
                    "observe: the Kubernetes API at https://10.0.0.1:6443 refused the connection",
                )

            handle.describe = describe
            return handle

    async def connect(settings: Any, runtime: Any = None) -> Any:
        return Client()

    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(integrations.temporal.client, "connect", connect)
    monkeypatch.setattr(cli.main, "_exit_now", exit_now)
    result = runner.invoke(cli.main.app, ["incidents", "show", "incident-alert-open.89abcdef"])
    assert result.exit_code == 0, result.output
    assert asked == ["incident-alert-open"]
    assert result.stdout.splitlines()[:3] == [
        "incident  incident-alert-open.89abcdef",
        "status    received",
        "retrying  retrying observe_incident (attempt 4); the last attempt failed: "
        "observe: the Kubernetes API at https://10.0.0.1:6443 refused the connection",
    ]


def test_show_of_an_open_incident_with_temporal_down_says_so_in_one_line(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(store)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("MEDIC_TEMPORAL_ADDRESS", address)
    monkeypatch.setattr(cli.main, "RETRYING_LOOKUP_SECONDS", 1.0)
    monkeypatch.setattr(cli.main, "_exit_now", lambda code: (_ for _ in ()).throw(SystemExit(code)))
    result = runner.invoke(cli.main.app, ["incidents", "show", "incident-alert-open.89abcdef"])
    assert result.exit_code == 0, result.output
    retrying = result.stdout.splitlines()[2]
    assert retrying.startswith("retrying  unknown: ") and address in retrying


# --- what to do next ----------------------------------------------------------------------------------

NEXT_STEPS = [
    "Read the kubelet's message: `kubectl -n orders describe pod order-api-6b8d9c7f5d-x7k2m` (Events).",
    "Check that the object exists with the keys the pod reads: "
    "`kubectl -n orders get configmap order-api-env -o yaml`.",
]


def _seed_diagnosed(url: str, diagnosis: dict[str, Any] | None) -> None:
    from store.db import make_engine, session_factory, transaction
    from store.repositories import IncidentRepository

    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            IncidentRepository(session).upsert(
                "incident-alert-cfg.0123abcd",
                title="order-api CreateContainerConfigError (orders)",
                status="needs_review",
                outcome="needs_review",
                reason="no automatic fix for config_error: order-api's containers cannot be created",
                target="orders/Deployment/order-api",
                summary="order-api's containers cannot be created (CreateContainerConfigError).",
                diagnosis=diagnosis,
            )
    finally:
        engine.dispose()


def test_show_lists_the_next_steps_right_after_the_summary(store: str) -> None:
    _seed_diagnosed(
        store,
        {
            "root_cause": "config_error",
            "summary": "order-api's containers cannot be created",
            "explanation": 'The kubelet cannot build it: "couldn\'t find key DATABASE_POOL_SIZE"',
            "next_steps": NEXT_STEPS,
        },
    )
    result = runner.invoke(cli.main.app, ["incidents", "show", "incident-alert-cfg.0123abcd"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("summary "))
    assert lines[2].startswith("reason    no automatic fix for config_error")
    assert lines[summary + 1 : summary + 4] == [
        "next steps:",
        f"  1. {NEXT_STEPS[0]}",
        f"  2. {NEXT_STEPS[1]}",
    ]
    assert lines[summary + 4].startswith("why       The kubelet cannot build it")
    assert lines.index("audit:") > summary + 4
    body = json.loads(
        runner.invoke(cli.main.app, ["incidents", "show", "incident-alert-cfg.0123abcd", "--json"]).stdout
    )
    assert body["diagnosis"]["next_steps"] == NEXT_STEPS


@pytest.mark.parametrize(
    "diagnosis",
    [None, {"root_cause": "oom", "summary": "recorded before next steps existed"}, {"next_steps": "junk"}],
    ids=["no-diagnosis", "old-diagnosis", "malformed"],
)
def test_an_incident_without_next_steps_still_shows(store: str, diagnosis: dict[str, Any] | None) -> None:
    _seed_diagnosed(store, diagnosis)
    result = runner.invoke(cli.main.app, ["incidents", "show", "incident-alert-cfg.0123abcd"])
    assert result.exit_code == 0, result.output
    assert "next steps:" not in result.stdout and "summary   order-api" in result.stdout
