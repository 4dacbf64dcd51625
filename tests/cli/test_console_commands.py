"""`medic console hash-password / add-user`, and `medic approve / reject` through
`integrations.temporal.incidents`."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

import cli.main
import integrations.temporal.client
from cli.devserver import DevServer, free_port
from domain.policy.approval import DecisionInput
from gateway.auth import parse_users, verify_password
from tests.console_fixtures import PENDING, FakeHandle, FakeTemporal

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


# ---- an incident id the command cannot act on: one line, a non-zero exit, no traceback ----------


@pytest.fixture
def decide_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`medic approve` with the real client; its hard exit becomes a SystemExit pytest can catch."""

    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(cli.main, "_exit_now", exit_now)


def _one_line_error(result: Any) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_approving_an_unknown_workflow_says_there_is_none(
    dev_server: DevServer, decide_exits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIC_TEMPORAL_ADDRESS", dev_server.address)
    for command in ("approve", "reject"):
        result = runner.invoke(
            cli.main.app, [command, "incident-alert-nosuchgroup.0123abcd", "--as", "alice"]
        )
        assert result.exit_code == 2
        line = _one_line_error(result)
        assert line.startswith("refused: no running workflow incident-alert-nosuchgroup in namespace default")


@pytest.mark.parametrize(
    "incident_id",
    ["", "   ", " incident-alert-x", "incident\nalert", "x" * 1001],
    ids=["empty", "blank", "padded", "newline", "too-long"],
)
def test_approving_a_malformed_id_is_refused_before_temporal_is_asked(
    fake_temporal: FakeTemporal, incident_id: str
) -> None:
    result = runner.invoke(cli.main.app, ["approve", incident_id, "--as", "alice"])
    assert result.exit_code == 2
    assert _one_line_error(result).startswith("not an incident id: ")
    assert fake_temporal.workflow_ids == []


def test_approving_while_temporal_is_unreachable_says_where_it_looked(
    decide_exits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("MEDIC_TEMPORAL_ADDRESS", address)
    result = runner.invoke(cli.main.app, ["approve", PENDING, "--as", "alice"])
    assert result.exit_code == 1
    assert _one_line_error(result).startswith(f"cannot reach Temporal at {address}: ")


def test_approving_an_incident_whose_workflow_has_ended_says_so(
    fake_temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ended(self: Any, update: Any, decision: Any, **_: Any) -> Any:
        raise RPCError("workflow execution already completed", RPCStatusCode.NOT_FOUND, b"")

    monkeypatch.setattr(FakeHandle, "execute_update", ended)
    result = runner.invoke(cli.main.app, ["reject", PENDING, "--as", "alice"])
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert "refused: no running workflow" in line and "already completed" in line


def test_a_workflow_that_cannot_answer_its_status_is_a_one_line_error(
    fake_temporal: FakeTemporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: Any, query: Any, **_: Any) -> Any:
        raise WorkflowQueryFailedError("query handler failed:\nunknown query type")

    monkeypatch.setattr(FakeHandle, "query", broken)
    result = runner.invoke(cli.main.app, ["approve", PENDING, "--as", "alice"])
    assert result.exit_code == 1
    assert _one_line_error(result) == (
        f"the workflow of {PENDING} could not answer its status: query handler failed: unknown query type"
    )
