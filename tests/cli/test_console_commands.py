"""`medic console hash-password / add-user`, and `medic approve / reject` through
`integrations.temporal.incidents`."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import cli.main
import integrations.temporal.client
from domain.policy.approval import DecisionInput
from gateway.auth import parse_users, verify_password
from tests.console_fixtures import PENDING, FakeTemporal

runner = CliRunner()


def test_hash_password_reads_stdin_and_prints_a_pbkdf2_hash() -> None:
    result = runner.invoke(
        cli.main.app, ["console", "hash-password", "--iterations", "100000"], input="s3cret\n"
    )
    assert result.exit_code == 0, result.output
    encoded = result.stdout.strip()
    assert encoded.startswith("pbkdf2_sha256$100000$")
    assert verify_password("s3cret", encoded)


def test_hash_password_refuses_an_empty_password() -> None:
    result = runner.invoke(cli.main.app, ["console", "hash-password"], input="\n")
    assert result.exit_code == 2


def test_add_user_appends_then_replaces_the_users_line(tmp_path: Path) -> None:
    users = tmp_path / "console" / "users"
    args = ["console", "add-user", "alice", "--group", "sre", "--group", "oncall", "--file", str(users)]
    first = runner.invoke(cli.main.app, [*args, "--iterations", "100000"], input="pw-1\n")
    assert first.exit_code == 0, first.output
    assert f"added alice in {users}" in first.stdout
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o600
    second = runner.invoke(
        cli.main.app,
        ["console", "add-user", "alice", "--file", str(users), "--iterations", "100000"],
        input="pw-2\n",
    )
    assert "replaced alice" in second.stdout
    (alice,) = parse_users(users.read_text()).values()
    assert alice.groups == () and verify_password("pw-2", alice.password_hash)


def test_add_user_needs_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIC_CONSOLE_USERS_FILE", raising=False)
    result = runner.invoke(cli.main.app, ["console", "add-user", "alice"], input="pw\n")
    assert result.exit_code == 2 and "MEDIC_CONSOLE_USERS_FILE" in result.output


@pytest.fixture
def fake_temporal(monkeypatch: pytest.MonkeyPatch) -> FakeTemporal:
    """`medic approve` against a fake client; its hard exit becomes a SystemExit pytest can catch."""
    fake = FakeTemporal()

    async def connect(settings: Any, runtime: Any = None) -> Any:
        return fake

    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(integrations.temporal.client, "connect", connect)
    monkeypatch.setattr(cli.main, "_exit_now", exit_now)
    return fake


def test_approve_names_its_self_asserted_channel_and_binds_the_plan_it_saw(
    fake_temporal: FakeTemporal,
) -> None:
    result = runner.invoke(
        cli.main.app,
        ["approve", PENDING, "--as", "alice", "--group", "sre", "--group", "db", "--reason", "ok"],
    )
    assert result.exit_code == 0, result.output
    assert fake_temporal.decisions == [
        DecisionInput(
            approver="alice",
            reason="ok",
            decision="approve",
            groups=["sre", "db"],
            plan_hash=fake_temporal.plan_hash,
            channel="cli",  # so the workflow believes neither the name nor the groups
        )
    ]
    assert f"approve recorded for {PENDING} (plan {fake_temporal.plan_hash}); 1/1 approvals" in result.stdout


def test_reject_refused_by_the_workflow_prints_the_reason(fake_temporal: FakeTemporal) -> None:
    fake_temporal.refuse = "bob is not allowed to decide on this plan; the policy allows: group:sre"
    result = runner.invoke(cli.main.app, ["reject", PENDING, "--as", "bob"])
    assert result.exit_code == 2
    assert f"refused: {fake_temporal.refuse}" in result.output
    assert fake_temporal.decisions[0].groups == []


def test_a_decision_for_a_closed_run_is_refused(
    fake_temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_temporal.incident_id = "incident-alert-aaaaaaaaaaaaaaaaaaaa.ffffffff"
    result = runner.invoke(cli.main.app, ["approve", PENDING, "--as", "alice"])
    assert result.exit_code == 2
    assert f"refused: {PENDING} is closed; its alert group's incident now is" in result.output
    assert fake_temporal.decisions == []
