"""`medic incidents show / list` and `medic pr show` with an id the store does not know, or a store
that cannot be read: one line that says why and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.main
from store import migrate

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
